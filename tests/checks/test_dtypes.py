"""TPU2xx data types and quantization on generated models: exact (code, op) sets with only the rule selected."""

from __future__ import annotations

import numpy as np
import pytest

from checks.rulecase import Case, Q, bad, found, good, unary
from tpulint.testing import ModelBuilder, int8_cnn


def float_relu() -> ModelBuilder:
    return unary("RELU", [1, 8, 8, 4], dtype="float32")


def int32_mul() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("a", [1, 17], "int32")
    b.tensor("c", [1], "int32", data=np.array([3], np.int32))
    b.tensor("y", [1, 17], "int32")
    b.op("MUL", ["a", "c"], ["y"])
    return b.io(["a"], ["y"])


def cnn() -> ModelBuilder:  # per-channel int8 weights, int32 biases, constant int32 shape: all fine
    return int8_cnn().io(["input"], ["probs"])


def lstm(cell_dtype: str = "int16", variable: bool = True) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 28, 28], "int8", quant=Q)
    names: list[str | None] = ["x"]
    for gate in range(4):
        b.tensor(f"wi{gate}", [20, 28], "int8", quant=Q, data=np.ones((20, 28), np.int8))
        names.append(f"wi{gate}")
    for gate in range(4):
        b.tensor(f"wr{gate}", [20, 20], "int8", quant=Q, data=np.ones((20, 20), np.int8))
        names.append(f"wr{gate}")
    names += [None, None, None]
    for gate in range(4):
        b.tensor(f"b{gate}", [20], "int32", data=np.zeros(20, np.int32))
        names.append(f"b{gate}")
    names += [None, None]
    b.tensor("h", [1, 20], "int8", quant=Q, is_variable=variable)
    b.tensor("c", [1, 20], cell_dtype, quant=(0.001, 0), is_variable=variable)
    names += ["h", "c", None, None, None, None]
    b.tensor("y", [1, 28, 20], "int8", quant=Q)
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", names, ["y"], time_major=False)
    return b.io(["x"], ["y"])


def int8_lstm() -> ModelBuilder:
    return lstm()


def int16_relu() -> ModelBuilder:
    return unary("RELU", [1, 8, 8, 4], dtype="int16")


def float_quantize() -> ModelBuilder:
    return unary("QUANTIZE", [1, 8, 8, 3], dtype="float32", out_dtype="int8")


def requantize() -> ModelBuilder:
    return unary("QUANTIZE", [1, 8, 8, 3], dtype="uint8", out_dtype="int8")


def dequantize() -> ModelBuilder:
    return unary("DEQUANTIZE", [1, 10], out_dtype="float32")


CASES = [
    bad("TPU200", float_relu, 0),
    bad("TPU200", int32_mul, 0),
    good("TPU200", cnn),
    good("TPU200", int8_lstm),
    good("TPU200", float_quantize),  # its own status (TPU201)
    good("TPU200", dequantize),  # its own rule (TPU202)
    bad("TPU201", float_quantize, 0),
    good("TPU201", requantize),
    bad("TPU202", dequantize, 0),
    good("TPU202", requantize),
    bad("TPU203", int16_relu, 0),
    good("TPU203", int8_lstm),  # the int16 LSTM cell state is allowed
    good("TPU203", cnn),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule_case(case: Case, tmp_path) -> None:
    assert found(case, tmp_path) == set(case.expected)
