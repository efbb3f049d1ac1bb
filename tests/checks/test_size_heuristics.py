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


def rows(height: int, width: int) -> ModelBuilder:
    return unary("LOGISTIC", [1, height, width])


def ssd_classes() -> ModelBuilder:  # SSD's [1, 1917, 91] (174,447) maps: ext_ssd_mnv1_detect_nipitpol
    return rows(1917, 91)


def yolov5_head_row() -> ModelBuilder:  # [1, 4800, 85] (408,000) refused: ext_yolov5n_sandhya
    return rows(4800, 85)


def feature_map() -> ModelBuilder:  # many elements but short rows: maps
    return unary("LOGISTIC", [1, 80, 80, 144])


def transpose(hw: int, channels: int = 144) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, hw, hw, channels], "int8", quant=Q)
    const(b, "perm", [0, 3, 1, 2])
    b.tensor("y", [1, channels, hw, hw], "int8", quant=Q)
    b.op("TRANSPOSE", ["x", "perm"], ["y"])
    return b.io(["x"], ["y"])


def transpose_40() -> ModelBuilder:
    return transpose(40)


def transpose_20() -> ModelBuilder:
    return transpose(20)


def transpose_22() -> ModelBuilder:  # 69,696 elements map: ext_edward_yolov5nu_352_int8
    return transpose(22)


def transpose_40_65() -> ModelBuilder:  # 104,000 elements refused: ext_yolov8_best_ddu
    return transpose(40, 65)


def resize_nearest(src: int, depth: int) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, src, src, depth], "int8", quant=Q)
    const(b, "size", [2 * src, 2 * src])
    b.tensor("y", [1, 2 * src, 2 * src, depth], "int8", quant=Q)
    b.op("RESIZE_NEAREST_NEIGHBOR", ["x", "size"], ["y"])
    return b.io(["x"], ["y"])


def resize_nearest_to_128() -> ModelBuilder:  # 1x128x128x128 maps: ext_mistake_adain_decoder_resize256_cpu
    return resize_nearest(64, 128)


def resize_nearest_to_256() -> ModelBuilder:  # 1x256x256x64 refused, same model
    return resize_nearest(128, 64)


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
    good("TPU600", ssd_classes),
    bad("TPU600", yolov5_head_row, 0),
    bad("TPU601", transpose_40, 0),
    good("TPU601", transpose_20),
    good("TPU601", transpose_22),
    bad("TPU601", transpose_40_65, 0),
    good("TPU606", resize_nearest_to_128),
    bad("TPU606", resize_nearest_to_256, 0),
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
