"""TPU1xx operator support on generated models: exact (code, op) sets with only the rule selected."""

from __future__ import annotations

import pytest

from checks.rulecase import Case, Q, bad, found, good, unary
from tpulint.testing import ModelBuilder


def floor_between_relus() -> ModelBuilder:
    b = unary("RELU", [1, 8, 8, 4])
    b.tensor("f", [1, 8, 8, 4], "int8", quant=Q)
    b.op("FLOOR", ["y"], ["f"])
    b.tensor("z", [1, 8, 8, 4], "int8", quant=Q)
    b.op("RELU", ["f"], ["z"])
    return b.io(["x"], ["z"])


def relu() -> ModelBuilder:
    return unary("RELU", [1, 8, 8, 4])


def transpose() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 4, 8], "int8", quant=Q)
    b.tensor("perm", [3], "int32", data=bytes(12))
    b.tensor("y", [1, 8, 4], "int8", quant=Q)
    b.op("TRANSPOSE", ["x", "perm"], ["y"])
    return b.io(["x"], ["y"])


def pack() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("a", [1, 4], "int8", quant=Q)
    b.tensor("b", [1, 4], "int8", quant=Q)
    b.tensor("y", [1, 4, 2], "int8", quant=Q)
    b.op("PACK", ["a", "b"], ["y"], values_count=2, axis=2)
    return b.io(["a", "b"], ["y"])


def postprocess() -> ModelBuilder:
    b = unary("RELU", [1, 10, 4])
    b.tensor("boxes", [1, 10, 4], "float32")
    b.op("CUSTOM", ["y"], ["boxes"], custom_code="TFLite_Detection_PostProcess")
    return b.io(["x"], ["boxes"])


def tile() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 1, 1, 8], "uint8", quant=Q)
    b.tensor("multiples", [4], "int32", data=bytes(16))
    b.tensor("y", [1, 4, 4, 8], "uint8", quant=Q)
    b.op("TILE", ["x", "multiples"], ["y"])
    return b.io(["x"], ["y"])


def dequantize() -> ModelBuilder:
    return unary("DEQUANTIZE", [1, 10], out_dtype="float32")


def add(version: int, dtype: str = "int8") -> ModelBuilder:
    b = ModelBuilder()
    q = Q if dtype in ("int8", "uint8") else None
    for name in ("a", "b", "y"):
        b.tensor(name, [1, 8, 8, 4], dtype, quant=q)
    b.op("ADD", ["a", "b"], ["y"], version=version)
    return b.io(["a", "b"], ["y"])


def add_v4() -> ModelBuilder:  # never mapped: corpus ext_edward_yolov10n_192_attention
    return add(4)


def add_v2() -> ModelBuilder:  # mapped: ext_edward_yolov8n_224_int8
    return add(2)


def add_v4_int64() -> ModelBuilder:  # the data type is the reason (TPU200): ext_redax_rf_treetraversal_gather_19seg
    return add(4, "int64")


def bidirectional_lstm() -> ModelBuilder:
    return unary("BIDIRECTIONAL_SEQUENCE_LSTM", [1, 8, 4])


CASES = [
    bad("TPU100", floor_between_relus, 1),
    bad("TPU100", transpose, 0, compiler="15.0"),
    good("TPU100", transpose),
    good("TPU100", tile),  # absorbed: TPU103, not TPU100
    good("TPU100", dequantize),  # its own rule (TPU202)
    good("TPU100", relu),
    bad("TPU101", pack, 0, min_runtime=12),
    bad("TPU101", transpose, 0, min_runtime=13),
    good("TPU101", pack),
    bad("TPU102", postprocess, 1),
    good("TPU102", relu),
    bad("TPU103", tile, 0),
    good("TPU103", relu),
    bad("TPU105", add_v4, 0),
    good("TPU105", add_v2),
    good("TPU105", add_v4_int64),
    bad("TPU104", bidirectional_lstm, 0),
    good("TPU104", relu),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule_case(case: Case, tmp_path) -> None:
    assert found(case, tmp_path) == set(case.expected)


def test_fix_hints_are_concrete() -> None:
    from tpulint.analysis import analyze_model
    from tpulint.config import Config
    from tpulint.model import read_model_bytes

    (f,) = analyze_model(read_model_bytes(transpose().build()), Config(compiler="15.0", select=("TPU100",))).findings
    assert (f.message, f.fix) == ("TRANSPOSE is not supported by Edge TPU compiler 15.0; "
                                  "no op of the model maps to the Edge TPU",
                                  "compile with compiler 16.0 (--compiler 16.0), which maps TRANSPOSE")
    leaky = unary("LEAKY_RELU", [1, 8, 8, 4], alpha=0.1)
    (f,) = analyze_model(read_model_bytes(leaky.build()), Config(select=("TPU100",))).findings
    assert f.fix == "use PRELU with a constant alpha, or MAXIMUM(x, alpha * x)"
    assert (f.location.operator, f.location.op_type, f.location.tensor, f.location.tensor_name) == \
        (0, "LEAKY_RELU", 1, "y")
