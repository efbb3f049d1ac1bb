"""TPU5xx documented per-op limitations on generated models: exact (code, op) sets with only the rule selected."""

from __future__ import annotations

import numpy as np
import pytest

from checks.rulecase import Case, Q, bad, const, conv, found, good, unary
from tpulint.analysis import analyze_model
from tpulint.config import Config
from tpulint.findings import TWO_D_OUTPUT
from tpulint.model import read_model, read_model_bytes
from tpulint.testing import ModelBuilder


def pool(act: str) -> ModelBuilder:
    return unary("MAX_POOL_2D", [1, 8, 8, 4], [1, 4, 4, 4], padding="VALID", stride_w=2, stride_h=2,
                 filter_width=2, filter_height=2, fused_activation_function=act)


def pool_relu() -> ModelBuilder:
    return pool("RELU")


def pool_plain() -> ModelBuilder:
    return pool("NONE")


def concat(n_inputs: int, constant: object | None) -> ModelBuilder:
    b = ModelBuilder()
    names = []
    for i in range(n_inputs - (constant is not None)):
        b.tensor(f"x{i}", [1, 4, 4, 2], "int8", quant=Q)
        names.append(f"x{i}")
    if constant is not None:
        b.tensor("k", [1, 4, 4, 2], "int8", quant=Q, data=np.full((1, 4, 4, 2), constant, np.int8))
        names.append("k")
    b.tensor("y", [1, 4, 4, 2 * n_inputs], "int8", quant=Q)
    b.op("CONCATENATION", names, ["y"], axis=3)
    return b.io([n for n in names if n != "k"], ["y"])


def concat3_const() -> ModelBuilder:
    return concat(3, 0)


def concat2_nonzero() -> ModelBuilder:
    return concat(2, 5)


def concat2_zero_padding() -> ModelBuilder:
    return concat(2, 0)


def concat3_activations() -> ModelBuilder:
    return concat(3, None)


def conv_dilated(kernel: tuple[int, int], dh: int, dw: int, opcode: str = "CONV_2D") -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 16, 16, 4], "int8", quant=Q)
    conv(b, "x", "y", [1, 16, 16, 4], 4, kernel, opcode, dilation_h_factor=dh, dilation_w_factor=dw)
    return b.io(["x"], ["y"])


def dilation_2_1() -> ModelBuilder:
    return conv_dilated((3, 3), 2, 1)


def dilation_2_2() -> ModelBuilder:
    return conv_dilated((3, 3), 2, 2)


def temporal_dilation() -> ModelBuilder:  # 3x1 kernel: the x dilation has no effect (corpus TCN)
    return conv_dilated((3, 1), 2, 1)


def dilated_depthwise() -> ModelBuilder:
    return conv_dilated((3, 3), 2, 2, "DEPTHWISE_CONV_2D")


def space_to_batch() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "int8", quant=Q)
    const(b, "block", [2, 2])
    const(b, "pads", [[0, 0], [0, 0]])
    b.tensor("y", [4, 4, 4, 4], "int8", quant=Q)
    b.op("SPACE_TO_BATCH_ND", ["x", "block", "pads"], ["y"])
    return b.io(["x"], ["y"])


def fc(batch: int, weights_format: int = 0) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [batch, 16], "int8", quant=Q)
    b.tensor("w", [10, 16], "int8", quant=Q, data=np.ones((10, 16), np.int8))
    b.tensor("bias", [10], "int32", data=np.zeros(10, np.int32))
    b.tensor("y", [batch, 10], "int8", quant=Q)
    b.op("FULLY_CONNECTED", ["x", "w", "bias"], ["y"], weights_format=weights_format)
    return b.io(["x"], ["y"])


def fc_2d_output() -> ModelBuilder:
    return fc(4)


def fc_shuffled() -> ModelBuilder:
    return fc(1, 1)


def fc_plain() -> ModelBuilder:
    return fc(1)


def prelu(alpha_shape: list[int]) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "int8", quant=Q)
    b.tensor("alpha", alpha_shape, "int8", quant=Q, data=np.ones(alpha_shape, np.int8))
    b.tensor("y", [1, 8, 8, 4], "int8", quant=Q)
    b.op("PRELU", ["x", "alpha"], ["y"])
    return b.io(["x"], ["y"])


def prelu_per_pixel() -> ModelBuilder:
    return prelu([8, 8, 4])


def prelu_per_channel() -> ModelBuilder:
    return prelu([1, 1, 4])


def resize_nearest() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "int8", quant=Q)
    const(b, "size", [16, 16])
    b.tensor("y", [1, 16, 16, 4], "int8", quant=Q)
    b.op("RESIZE_NEAREST_NEIGHBOR", ["x", "size"], ["y"], version=3, half_pixel_centers=True)
    return b.io(["x"], ["y"])


def reduce(opcode: str, shape: list[int], axes: list[int]) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", shape, "int8", quant=Q)
    const(b, "axes", axes)
    out = [1 if i in axes else d for i, d in enumerate(shape)]
    b.tensor("y", out, "int8", quant=Q)
    b.op(opcode, ["x", "axes"], ["y"], keep_dims=True)
    return b.io(["x"], ["y"])


def mean_over_batch() -> ModelBuilder:
    return reduce("MEAN", [1, 8, 8, 4], [0, 1, 2])


def mean_spatial() -> ModelBuilder:
    return reduce("MEAN", [1, 8, 8, 4], [1, 2])


def mean_depth_6() -> ModelBuilder:
    return reduce("MEAN", [1, 8, 8, 6], [3])


def mean_depth_8() -> ModelBuilder:
    return reduce("MEAN", [1, 8, 8, 8], [3])


def pad(paddings: list[list[int]]) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "int8", quant=Q)
    const(b, "p", paddings)
    out = [d + sum(p) for d, p in zip([1, 8, 8, 4], paddings)]
    b.tensor("y", out, "int8", quant=Q)
    b.op("PAD", ["x", "p"], ["y"])
    return b.io(["x"], ["y"])


def pad_batch() -> ModelBuilder:
    return pad([[1, 1], [0, 0], [0, 0], [0, 0]])


def pad_spatial() -> ModelBuilder:
    return pad([[0, 0], [1, 1], [1, 1], [0, 0]])


def pack(shape: list[int]) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("a", shape, "int8", quant=Q)
    b.tensor("b", shape, "int8", quant=Q)
    b.tensor("y", [2, *shape], "int8", quant=Q)
    b.op("PACK", ["a", "b"], ["y"], values_count=2, axis=0)
    return b.io(["a", "b"], ["y"])


def pack_axis0() -> ModelBuilder:  # output [2, 4, 8, 8]: the batch dimension
    return pack([4, 8, 8])


def pack_axis0_rank3() -> ModelBuilder:  # output [2, 15, 1]: maps on 16.0 (corpus ext_redax_rf_gemm_16trees_split2d)
    return pack([15, 1])


def split_rows(rows: int) -> ModelBuilder:
    """SPLIT(axis 0) of int8[rows, 14, 1] into `rows` pieces (corpus ext_redax_rf_gemm_16trees_split2d)."""
    b = ModelBuilder()
    const(b, "axis", 0)
    b.tensor("x", [rows, 14, 1], "int8", quant=Q)
    outs = [f"y{i}" for i in range(rows)]
    for name in outs:
        b.tensor(name, [1, 14, 1], "int8", quant=Q)
    b.op("SPLIT", ["axis", "x"], outs, num_splits=rows)
    return b.io(["x"], outs)


def split_16_rows() -> ModelBuilder:
    return split_rows(16)


def split_one_row() -> ModelBuilder:
    return split_rows(1)


def split(axis: int) -> ModelBuilder:
    b = ModelBuilder()
    const(b, "axis", axis)
    b.tensor("x", [2, 8, 8, 4], "int8", quant=Q)
    shape = [2, 8, 8, 4]
    shape[axis] //= 2
    b.tensor("y0", shape, "int8", quant=Q)
    b.tensor("y1", shape, "int8", quant=Q)
    b.op("SPLIT", ["axis", "x"], ["y0", "y1"], num_splits=2)
    return b.io(["x"], ["y0", "y1"])


def split_batch() -> ModelBuilder:
    return split(0)


def split_channels() -> ModelBuilder:
    return split(3)


def softmax(shape: list[int]) -> ModelBuilder:
    return unary("SOFTMAX", shape, beta=1.0)


def softmax_huge() -> ModelBuilder:
    return softmax([1, 20000])


def softmax_classes() -> ModelBuilder:
    return softmax([1, 1001])


def softmax_2d() -> ModelBuilder:
    return softmax([1076, 2])


def strided(strides: list[int], **masks: int) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "int8", quant=Q)
    const(b, "begin", [0, 0, 0, 0])
    const(b, "end", [1, 8, 8, 4])
    const(b, "strides", strides)
    b.tensor("y", [1, 8 // strides[1], 8 // strides[2], 4], "int8", quant=Q)
    b.op("STRIDED_SLICE", ["x", "begin", "end", "strides"], ["y"], **masks)
    return b.io(["x"], ["y"])


def strided_2() -> ModelBuilder:
    return strided([1, 2, 2, 1])


def strided_ellipsis() -> ModelBuilder:
    return strided([1, 1, 1, 1], ellipsis_mask=1)


def strided_1() -> ModelBuilder:
    return strided([1, 1, 1, 1], begin_mask=15, end_mask=15)


CASES = [
    bad("TPU500", pool_relu, 0),
    good("TPU500", pool_plain),
    bad("TPU501", concat3_const, 0),
    bad("TPU501", concat2_nonzero, 0),
    good("TPU501", concat2_zero_padding),
    good("TPU501", concat3_activations),
    bad("TPU502", dilation_2_1, 0),
    bad("TPU502", dilated_depthwise, 0, min_runtime=12),
    good("TPU502", dilated_depthwise),
    good("TPU502", dilation_2_2),
    good("TPU502", temporal_dilation),
    bad("TPU503", space_to_batch, 0),
    good("TPU503", pad_spatial),
    bad("TPU504", mean_over_batch, 0),
    good("TPU504", mean_spatial),
    bad("TPU505", mean_depth_6, 0),
    good("TPU505", mean_depth_8),
    good("TPU505", mean_spatial),
    bad("TPU506", pad_batch, 0),
    bad("TPU506", pack_axis0, 0),
    good("TPU506", pack_axis0_rank3),
    bad("TPU512", split_16_rows, 0),
    good("TPU512", split_one_row),
    good("TPU512", split_batch),  # 4-D: the batch-dimension rule, TPU506
    good("TPU512", split_channels),
    bad("TPU506", split_batch, 0),
    good("TPU506", pad_spatial),
    good("TPU506", split_channels),
    bad("TPU507", softmax_huge, 0),
    bad("TPU507", softmax_2d, 0, compiler="2.0"),
    good("TPU507", softmax_2d),
    good("TPU507", softmax_classes),
    bad("TPU508", strided_2, 0),
    bad("TPU508", strided_ellipsis, 0),
    good("TPU508", strided_1),
    good("TPU509", fc_2d_output),  # compiler 16.0 maps [15, 256] and [2, 1000] outputs (corpus ext_redax_*)
    bad("TPU509", fc_2d_output, 0, compiler="2.0"),
    bad("TPU509", fc_2d_output, 0, compiler="15.0"),
    bad("TPU509", fc_shuffled, 0),
    good("TPU509", fc_plain),
    bad("TPU510", prelu_per_pixel, 0),
    good("TPU510", prelu_per_channel),
    bad("TPU511", resize_nearest, 0, compiler="15.0"),
    good("TPU511", resize_nearest),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule_case(case: Case, tmp_path) -> None:
    assert found(case, tmp_path) == set(case.expected)


def test_softmax_2d_on_compiler_2_carries_the_2d_status() -> None:
    r = analyze_model(read_model_bytes(softmax_2d().build()), Config(compiler="2.0", select=("TPU507",)))
    assert [f.status for f in r.findings] == [TWO_D_OUTPUT]


def test_a_model_held_in_memory_has_its_constants_read_from_its_bytes() -> None:
    r = analyze_model(read_model_bytes(strided_2().build(), "missing.tflite"), Config(select=("TPU508",)))
    assert [(f.code, f.location.operator) for f in r.findings] == [("TPU508", 0)]


@pytest.mark.parametrize("change", ["removed", "resized", "fifo"])
def test_strides_are_not_guessed_when_the_file_changed(tmp_path, change) -> None:
    """The file is reopened for constant values only if it is still a regular file of its size (a FIFO in
    its place must not hang the run); otherwise the check stays silent rather than guess."""
    import os

    if change == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    path = tmp_path / "strided.tflite"
    data = strided_2().build()
    path.write_bytes(data)
    model = read_model(path)
    if change == "removed":
        path.unlink()
    elif change == "resized":
        path.write_bytes(data + b"\0" * 8)
    else:
        path.unlink()
        os.mkfifo(path)
    assert analyze_model(model, Config(select=("TPU508",))).findings == ()
    path.unlink(missing_ok=True)
    path.write_bytes(data)
    assert [f.code for f in analyze_model(model, Config(select=("TPU508",))).findings] == ["TPU508"]


def test_split_rule_is_heuristic_on_compilers_it_was_not_seen_on(tmp_path) -> None:
    path = tmp_path / "split.tflite"
    path.write_bytes(split_16_rows().build())
    for compiler, confidence in (("16.0", "observed"), ("15.0", "heuristic")):
        (f,) = analyze_model(read_model(path), Config(compiler=compiler, select=("TPU512",))).findings
        assert str(f.confidence) == confidence
        assert ("compiler 15.0 is unobserved" in f.message) == (compiler == "15.0")
