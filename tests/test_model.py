"""The reader on generated models (exact values) and on every corpus model (op lists equal truth.json)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from conftest import corpus_cases, load_truth, source_model
from tpulint.model import Quantization, read_model, read_model_bytes
from tpulint.testing import ModelBuilder, int8_cnn


def test_int8_cnn_ops_and_tensors():
    m = read_model_bytes(int8_cnn().build(), "cnn.tflite")
    sg = m.main
    assert [(o.opcode, o.version) for o in sg.operators] == [
        ("CONV_2D", 1), ("DEPTHWISE_CONV_2D", 1), ("AVERAGE_POOL_2D", 1), ("RESHAPE", 1), ("FULLY_CONNECTED", 1),
        ("SOFTMAX", 1)]
    conv = sg.operators[0]
    assert conv.inputs == (0, 1, 2) and conv.outputs == (3,)
    assert conv.options["stride_w"] == 1 and conv.options["dilation_w_factor"] == 1
    assert conv.fused_activation == "RELU6"
    assert sg.operators[3].options["new_shape"] == (1, 4)
    t = sg.tensors
    assert (t[0].name, t[0].dtype, t[0].shape, t[0].shape_signature) == ("input", "int8", (1, 8, 8, 3), None)
    assert t[0].quantization == Quantization.of((0.05,), (-128,), 0)
    assert t[0].quantization.scales == (pytest.approx(0.05),) and t[0].quantization.zero_points == (-128,)
    assert t[0].is_constant is False and t[0].data_size == 0
    assert (t[1].dtype, t[1].data_size, t[1].is_constant) == ("int8", 108, True)
    assert t[1].quantization.per_channel and len(t[1].quantization.scales) == 4
    assert t[4].quantization.axis == 3
    assert (t[2].dtype, t[2].data_size) == ("int32", 16)
    assert sg.inputs == (0,) and sg.outputs == (13,)
    assert m.schema_version == 3 and m.description == "tpulint test model"


def test_optional_input_custom_op_and_metadata():
    b = ModelBuilder()
    b.tensor("x", [1, 4], "int8")
    b.tensor("w", [4, 4], "int8", data=np.ones(16, np.int8))
    b.tensor("y", [1, 4], "int8")
    b.tensor("z", [1, 4], "float32")
    b.op("FULLY_CONNECTED", ["x", "w", None], ["y"])
    b.op("CUSTOM", ["y"], ["z"], custom_code="MyOp", custom_options=b"\x01\x02\x03")
    b.metadata("min_runtime_version", b"1.14.0\0\0\0")
    b.signature("serving_default", [("input", "x")], [("output", "z")])
    m = read_model_bytes(b.build())
    fc, custom = m.main.operators
    assert fc.inputs == (0, 1, -1)
    assert (custom.opcode, custom.custom_code, custom.name) == ("CUSTOM", "MyOp", "MyOp")
    assert custom.custom_options_span[1] == 3
    assert m.metadata == ("min_runtime_version",) and m.min_runtime_version == "1.14.0"
    sig = m.signatures[0]
    assert (sig.key, sig.subgraph, sig.inputs, sig.outputs) == ("serving_default", 0, (("input", 0),), (("output", 3),))


def test_dynamic_shape_signature():
    b = ModelBuilder()
    b.tensor("x", [1, 4], "int8", shape_signature=[-1, 4])
    b.tensor("y", [1, 4], "int8")
    b.op("RELU", ["x"], ["y"])
    t = read_model_bytes(b.build()).main.tensors[0]
    assert t.shape == (1, 4) and t.shape_signature == (-1, 4) and t.is_dynamic


def test_opcode_above_127_uses_builtin_code():
    b = ModelBuilder()
    b.tensor("x", [1, 4], "int8")
    b.tensor("y", [1, 4], "int8")
    b.op("GELU", ["x"], ["y"])
    op = read_model_bytes(b.build()).main.operators[0]
    assert op.opcode == "GELU"


@pytest.mark.parametrize("case", corpus_cases())
def test_corpus_op_lists_match_truth(case):
    truth = load_truth(case)
    model = read_model(source_model(case))
    ops = model.main.operators
    assert len(ops) == len(truth["per_op"])
    assert [o.opcode for o in ops] == [p["op"] for p in truth["per_op"]]
    customs = {p["index"]: p.get("custom_code") for p in truth["per_op"] if p["op"] == "CUSTOM"}
    assert {i: ops[i].custom_code for i in customs} == customs


def test_quantization_keeps_the_files_bytes_and_decodes_them_when_read():
    b = ModelBuilder()
    b.tensor("x", [1, 2, 2, 3], "int8", quant=((0.25, 0.5, 1.5), (0, -3, 7), 3))
    b.tensor("y", [1, 2, 2, 3], "int8", quant=(0.125, -128))
    b.op("RELU", ["x"], ["y"])
    q, r = (t.quantization for t in read_model_bytes(b.build()).main.tensors)
    assert q.scale_bytes == struct.pack("<3f", 0.25, 0.5, 1.5) and q.zero_point_bytes == struct.pack("<3q", 0, -3, 7)
    assert (q.scales, q.zero_points, q.axis, q.per_channel) == ((0.25, 0.5, 1.5), (0, -3, 7), 3, True)
    assert (r.scales, r.zero_points, r.per_channel) == ((0.125,), (-128,), False)
    assert q == Quantization.of([0.25, 0.5, 1.5], [0, -3, 7], 3) and hash(q) == hash(Quantization.of((0.25, 0.5, 1.5), (0, -3, 7), 3))
    assert q != Quantization.of((0.25, 0.5, 1.5), (0, -3, 7), 2) and r != Quantization.of((0.125,), (-127,))
