"""TPU6xx size heuristics on generated models at the corpus thresholds: exact (code, op) sets."""

from __future__ import annotations

import numpy as np
import pytest

from checks.rulecase import Case, Q, bad, const, found, good, unary
from tpulint.testing import ModelBuilder


def concat_head(width: int) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("a", [1, 144, width], "int8", quant=Q)
    b.tensor("b", [1, 144, 100], "int8", quant=Q)
    b.tensor("y", [1, 144, width + 100], "int8", quant=Q)
    b.op("CONCATENATION", ["a", "b"], ["y"], axis=2)
    return b.io(["a", "b"], ["y"])


def head_8400() -> ModelBuilder:  # YOLOv8n@640 row 144 x 8400
    return concat_head(8300)


def head_1200() -> ModelBuilder:  # rows of 172,800 map (SSD's [1, 1917, 91] is 174,447)
    return concat_head(1100)


def feature_map() -> ModelBuilder:  # many elements but short rows: maps
    return unary("LOGISTIC", [1, 80, 80, 144])


def transpose(hw: int) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, hw, hw, 144], "int8", quant=Q)
    const(b, "perm", [0, 3, 1, 2])
    b.tensor("y", [1, 144, hw, hw], "int8", quant=Q)
    b.op("TRANSPOSE", ["x", "perm"], ["y"])
    return b.io(["x"], ["y"])


def transpose_40() -> ModelBuilder:
    return transpose(40)


def transpose_20() -> ModelBuilder:
    return transpose(20)


def reshape(hw: int) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, hw, hw, 255], "int8", quant=Q)
    const(b, "shape", [1, hw * hw, 3, 85])
    b.tensor("y", [1, hw * hw, 3, 85], "int8", quant=Q)
    b.op("RESHAPE", ["x", "shape"], ["y"], new_shape=[1, hw * hw, 3, 85])
    return b.io(["x"], ["y"])


def reshape_80() -> ModelBuilder:
    return reshape(80)


def reshape_40() -> ModelBuilder:
    return reshape(40)


def resize(src: int, dst: int, depth: int = 8) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, src, src, depth], "uint8", quant=Q)
    const(b, "size", [dst, dst])
    b.tensor("y", [1, dst, dst, depth], "uint8", quant=Q)
    b.op("RESIZE_BILINEAR", ["x", "size"], ["y"], align_corners=True)
    return b.io(["x"], ["y"])


def resize_1_to_33() -> ModelBuilder:
    return resize(1, 33)


def resize_512_to_1024() -> ModelBuilder:
    return resize(512, 1024, 3)


def resize_2x() -> ModelBuilder:
    return resize(24, 48)


def mean(h: int) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, h, 128, 3], "int8", quant=Q)
    const(b, "axes", [1, 2])
    b.tensor("y", [1, 3], "int8", quant=Q)
    b.op("MEAN", ["x", "axes"], ["y"], keep_dims=False)
    return b.io(["x"], ["y"])


def mean_256() -> ModelBuilder:
    return mean(256)


def mean_64() -> ModelBuilder:
    return mean(64)


def fc(units: int) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 2], "int8", quant=Q)
    b.tensor("w", [units, 2], "int8", quant=Q, data=np.zeros((units, 2), np.int8))
    b.tensor("bias", [units], "int32", data=np.zeros(units, np.int32))
    b.tensor("y", [1, units], "int8", quant=Q)
    b.op("FULLY_CONNECTED", ["x", "w", "bias"], ["y"])
    return b.io(["x"], ["y"])


def fc_100k() -> ModelBuilder:
    return fc(100_000)


def fc_1k() -> ModelBuilder:
    return fc(1000)


CASES = [
    bad("TPU600", head_8400, 0),
    good("TPU600", head_1200),
    good("TPU600", feature_map),
    bad("TPU601", transpose_40, 0),
    good("TPU601", transpose_20),
    bad("TPU602", reshape_80, 0),
    good("TPU602", reshape_40),
    bad("TPU603", resize_1_to_33, 0),
    bad("TPU603", resize_512_to_1024, 0),
    good("TPU603", resize_2x),
    bad("TPU604", mean_256, 0),
    good("TPU604", mean_64),
    bad("TPU605", fc_100k, 0),
    good("TPU605", fc_1k),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule_case(case: Case, tmp_path) -> None:
    assert found(case, tmp_path) == set(case.expected)
