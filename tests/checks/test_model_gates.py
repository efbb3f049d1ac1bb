"""TPU0xx whole-model gates on generated models: exact (code, op) sets with only the rule selected."""

from __future__ import annotations

import numpy as np
import pytest

from checks.rulecase import Case, Q, bad, conv, found, good, unary
from tpulint.analysis import analyze_model
from tpulint.config import Config
from tpulint.findings import Effect
from tpulint.model import read_model_bytes
from tpulint.testing import ModelBuilder, int8_cnn


def conv_version(version: int) -> ModelBuilder:
    b = int8_cnn()
    b.current.ops[0].version = version
    return b.io(["input"], ["probs"])


def conv_v6_model() -> ModelBuilder:
    return conv_version(6)


def conv_v3_model() -> ModelBuilder:
    return conv_version(3)


def batch_signature() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "int8", quant=Q, shape_signature=[-1, 8, 8, 4])
    b.tensor("y", [1, 8, 8, 4], "int8", quant=Q, shape_signature=[-1, 8, 8, 4])
    b.op("RELU", ["x"], ["y"])
    return b.io(["x"], ["y"])


def computed_reshape() -> ModelBuilder:
    """RESHAPE whose shape is SHAPE(x) -> STRIDED_SLICE -> PACK: the reshape output is dynamic-sized (op 3)."""
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "int8", quant=Q)
    b.tensor("shape", [4], "int32")
    b.op("SHAPE", ["x"], ["shape"], out_type=2)  # TensorType INT32
    for name, values in (("begin", [0]), ("end", [1]), ("strides", [1])):
        b.tensor(name, [1], "int32", data=np.array(values, "int32"))
    b.tensor("batch", [], "int32")
    b.op("STRIDED_SLICE", ["shape", "begin", "end", "strides"], ["batch"], shrink_axis_mask=1)
    b.tensor("rest", [], "int32", data=np.array(256, "int32"))
    b.tensor("new_shape", [2], "int32")
    b.op("PACK", ["batch", "rest"], ["new_shape"], values_count=2, axis=0)
    b.tensor("y", [1, 256], "int8", quant=Q)
    b.op("RESHAPE", ["x", "new_shape"], ["y"])
    return b.io(["x"], ["y"])


def constant_reshape() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "int8", quant=Q)
    b.tensor("new_shape", [2], "int32", data=np.array([1, 256], "int32"))
    b.tensor("y", [1, 256], "int8", quant=Q)
    b.op("RESHAPE", ["x", "new_shape"], ["y"])
    return b.io(["x"], ["y"])


def computed_resize_size() -> ModelBuilder:
    """RESIZE_NEAREST_NEIGHBOR whose size operand is a graph input (op 0)."""
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "int8", quant=Q)
    b.tensor("size", [2], "int32")
    b.tensor("y", [1, 16, 16, 4], "int8", quant=Q)
    b.op("RESIZE_NEAREST_NEIGHBOR", ["x", "size"], ["y"])
    return b.io(["x", "size"], ["y"])


def stored_dynamic_shape() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [-1, 8, 8, 4], "int8", quant=Q)
    b.tensor("y", [-1, 8, 8, 4], "int8", quant=Q)
    b.op("RELU", ["x"], ["y"])
    return b.io(["x"], ["y"])


def static_model() -> ModelBuilder:
    return unary("RELU", [1, 8, 8, 4])


def float_mlp() -> ModelBuilder:
    return unary("RELU", [1, 16], dtype="float32")


def compiled_float_io() -> ModelBuilder:  # QUANTIZE, edgetpu-custom-op, DEQUANTIZE: not a float model
    b = unary("QUANTIZE", [1, 8], dtype="float32", out_dtype="uint8")
    b.tensor("z", [1, 8], "uint8", quant=Q)
    b.op("CUSTOM", ["y"], ["z"], custom_code="edgetpu-custom-op")
    b.tensor("out", [1, 8], "float32")
    b.op("DEQUANTIZE", ["z"], ["out"])
    return b.io(["x"], ["out"])


def int8_bias() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "int8", quant=Q)
    conv(b, "x", "y", [1, 8, 8, 4], 4, bias_dtype="int8")
    return b.io(["x"], ["y"])


def int32_bias() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "int8", quant=Q)
    conv(b, "x", "y", [1, 8, 8, 4], 4)
    return b.io(["x"], ["y"])


def while_loop() -> ModelBuilder:
    b = unary("RELU", [1, 4])
    b.tensor("z", [1, 4], "int8", quant=Q)
    b.op("WHILE", ["y"], ["z"], cond_subgraph_index=1, body_subgraph_index=2)
    b.io(["x"], ["z"])
    for _ in range(2):
        b.new_subgraph()
        unary("RELU", [1, 4], b=b)
    return b


def two_subgraphs() -> ModelBuilder:
    b = unary("RELU", [1, 4])
    b.new_subgraph()
    return unary("RELU", [1, 4], b=b)


def no_operators() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 4], "int8", quant=Q)
    return b.io(["x"], ["x"])


def strided_slice(version: int) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "int8", quant=Q)
    for name, values in (("begin", [0, 0, 0, 0]), ("end", [1, 4, 8, 4]), ("strides", [1, 1, 1, 1])):
        b.tensor(name, [4], "int32", data=np.array(values, "int32"))
    b.tensor("y", [1, 4, 8, 4], "int8", quant=Q)
    b.op("STRIDED_SLICE", ["x", "begin", "end", "strides"], ["y"], version=version)
    return b.io(["x"], ["y"])


def slice_v6() -> ModelBuilder:
    return strided_slice(6)


def slice_v2() -> ModelBuilder:
    return strided_slice(2)


def reads_unwritten() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 4], "int8", quant=Q)
    b.tensor("y", [1, 4], "int8", quant=Q)
    b.tensor("orphan", [1, 4], "int8", quant=Q)
    b.tensor("z", [1, 4], "int8", quant=Q)
    b.op("RELU", ["x"], ["y"])
    b.op("ADD", ["y", "orphan"], ["z"])  # op 1 reads "orphan": no producer, not an input
    return b.io(["x"], ["z"])


def reads_input_and_constant() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 4], "int8", quant=Q)
    b.tensor("c", [1, 4], "int8", quant=Q, data=np.ones(4, np.int8))
    b.tensor("z", [1, 4], "int8", quant=Q)
    b.op("ADD", ["x", "c"], ["z"])
    return b.io(["x"], ["z"])


def add_v4() -> ModelBuilder:
    b = ModelBuilder()
    for name in ("a", "b", "y"):
        b.tensor(name, [1, 4], "int8", quant=Q)
    b.op("ADD", ["a", "b"], ["y"], version=4)
    return b.io(["a", "b"], ["y"])


CASES = [
    bad("TPU001", conv_v6_model, 0),  # reported once per opcode and version, at its first op
    good("TPU001", conv_v3_model),
    # A -1 only in shape_signature compiles on every compiler (16.0 and 15.0 logs in the corpus): TPU010 notes it.
    good("TPU002", batch_signature),
    good("TPU002", batch_signature, compiler="15.0"),
    good("TPU002", static_model),
    good("TPU002", constant_reshape),
    bad("TPU002", computed_reshape, 3),
    bad("TPU002", computed_resize_size, 0),
    bad("TPU002", stored_dynamic_shape, None),
    bad("TPU010", batch_signature, None),
    good("TPU010", static_model),
    good("TPU010", stored_dynamic_shape),
    bad("TPU003", float_mlp, None, compiler="15.0"),
    good("TPU003", static_model),
    good("TPU003", compiled_float_io, compiler="15.0"),
    bad("TPU004", int8_bias, 0),
    good("TPU004", int32_bias),
    bad("TPU005", while_loop, 1),
    bad("TPU005", two_subgraphs, None),
    good("TPU005", static_model),
    bad("TPU006", no_operators, None),
    good("TPU006", static_model),
    bad("TPU007", slice_v6, 0),
    good("TPU007", add_v4),  # TF 2.6, but seen parsing on 16.0 (parser.parsed)
    bad("TPU001", add_v4, 0, compiler="15.0"),  # TF 2.6 >= 15.0's rejects_tf (2.5)
    good("TPU007", slice_v2),
    bad("TPU008", reads_unwritten, 1),
    good("TPU008", reads_input_and_constant),
    bad("TPU009", reads_input_and_constant, None, intermediate_tensors=("nope",)),
    good("TPU009", reads_input_and_constant, intermediate_tensors=("x",)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule_case(case: Case, tmp_path) -> None:
    assert found(case, tmp_path) == set(case.expected)


def test_op_version_finding_points_at_the_op(tmp_path) -> None:
    r = analyze_model(read_model_bytes(conv_v6_model().build()), Config(select=("TPU001",)))
    (f,) = r.findings
    assert (f.location.operator, f.location.op_type, f.effect, r.compilable) == (0, "CONV_2D", Effect.MODEL, False)
    assert "version '6'" in f.message


def test_float_model_compiles_to_nothing_on_16() -> None:
    r = analyze_model(read_model_bytes(float_mlp().build()), Config())
    assert r.compilable and r.tpu_ops == 0
    gate = [f for f in r.findings if f.code == "TPU003"]
    assert [f.effect for f in gate] == [Effect.NONE]
    rejected = analyze_model(read_model_bytes(float_mlp().build()), Config(compiler="15.0"))
    assert not rejected.compilable


def test_while_loop_points_at_the_control_flow_op() -> None:
    r = analyze_model(read_model_bytes(while_loop().build()), Config(select=("TPU005",)))
    assert [(f.location.subgraph, f.location.operator) for f in r.findings] == [(0, 1)]


def test_unknown_intermediate_tensor_message(tmp_path) -> None:
    r = analyze_model(read_model_bytes(reads_input_and_constant().build()),
                      Config(select=("TPU009",), intermediate_tensors=("x", "nope")))
    assert [(f.code, f.message, f.location.operator) for f in r.findings] == [
        ("TPU009", "-i names tensor 'nope', which this model does not have; nothing is cut there", None)]
