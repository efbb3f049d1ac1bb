"""The on-chip memory estimate: per-layer layout, budget filling, co-compilation, and calibration on the corpus."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import CORPUS, ROOT
from tpulint import analyze
from tpulint.checks.memory import apply_co_compile
from tpulint.graph import Graph
from tpulint.memory import (MIB, MemoryEstimate, co_compile, estimate, layer_params, relayout_params,
                            transposed_output_params)
from tpulint.model import read_model_bytes
from tpulint.testing import ModelBuilder, int8_cnn


def fc_model(rows: int, cols: int, layers: int = 1) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x0", [1, cols], "int8", quant=(0.5, 0))
    for i in range(layers):
        b.tensor(f"w{i}", [rows, cols], "int8", quant=(0.01, 0), data=rows * cols)
        b.tensor(f"b{i}", [rows], "int32", quant=(0.005, 0), data=4 * rows)
        b.tensor(f"x{i + 1}", [1, rows], "int8", quant=(0.5, 0))
        b.op("FULLY_CONNECTED", [f"x{i}", f"w{i}", f"b{i}"], [f"x{i + 1}"])
        cols = rows
    return b


def test_layer_layout_of_the_int8_cnn():
    sg = read_model_bytes(int8_cnn().build()).main
    # CONV 4x3x3x3: 16 padded channels x (3*3*16 padded depth + 24) = 2688 -> 2688 (128-aligned)
    # DEPTHWISE 1x3x3x4: 16 x (9 + 24) = 528 -> 640; AVERAGE_POOL: 16 x 4 -> 128; RESHAPE: none
    # FULLY_CONNECTED 10x4: 16 x (16 + 8) = 384; SOFTMAX: 16 x 4 -> 128
    assert [(p.opcode, p.bytes, p.row_bytes) if p else None for p in (layer_params(sg, i) for i in range(6))] == [
        ("CONV_2D", 2688, 144), ("DEPTHWISE_CONV_2D", 640, 9), ("AVERAGE_POOL_2D", 128, 0), None,
        ("FULLY_CONNECTED", 384, 16), ("SOFTMAX", 128, 0)]


def test_estimate_of_the_int8_cnn_through_analyze(tmp_path):
    path = tmp_path / "cnn.tflite"
    path.write_bytes(int8_cnn().build())
    m = analyze(path).memory.to_dict()
    assert (m["parameter_bytes"], m["cached_bytes"], m["streamed_bytes"]) == (3968, 3968, 0)
    assert m["on_chip_budget_bytes"] == int(6.89 * MIB) and m["uncertainty_pct"] == 10
    assert m["largest_activation"] == {"name": "conv", "bytes": 256} and m["source"] == "estimate"
    assert m["streamed_layers"] == [] and m["co_compile"] is None


def test_a_one_output_fully_connected_layer_is_padded_to_16_channels_and_streamed():
    # The corpus' TCN: FULLY_CONNECTED 1x94400 is stored as 16 x 94400 + 16 x 4 bytes and streamed.
    model = read_model_bytes(fc_model(1, 94400).build())
    m = estimate(model, [Graph.build(model.main)], [[0]])
    assert (m.parameter_bytes, m.cached_bytes, m.streamed_bytes) == (1510528, 0, 1510528)
    assert m.to_dict()["streamed_layers"] == [{"subgraph": 0, "op": 0, "opcode": "FULLY_CONNECTED",
                                               "bytes": 1510528, "reason": "weight rows too long to cache"}]


def test_layers_that_do_not_fit_the_budget_are_streamed_in_execution_order():
    model = read_model_bytes(fc_model(1024, 1024, layers=3).build())
    m = estimate(model, [Graph.build(model.main)], [[0, 1, 2]], budget=2 * MIB + 100_000)
    layer = 1024 * (1024 + 8)
    assert (m.parameter_bytes, m.cached_bytes, m.streamed_bytes) == (3 * layer, 2 * layer, layer)
    assert [x.op for x in m.streamed_layers] == [2]


@pytest.mark.parametrize("row, streamed", [
    (4608, False),  # ext_mistake_adain_decoder_resize256_cpu: a 3x3 conv over 512 channels, cached
    (8192, False),  # ROW_LIMIT itself
    (8208, True),   # the next row length the 16-lane padding allows
    (11520, True),  # ext_coraldemo_mnv2_classifier_rt12_stream: a 3x3 conv over 1280 channels, streamed
])
def test_long_weight_rows_are_streamed_even_when_they_fit(row, streamed):
    model = read_model_bytes(fc_model(32, row).build())
    m = estimate(model, [Graph.build(model.main)], [[0]])
    layer = 32 * (row + 8)
    assert (m.parameter_bytes, m.cached_bytes, m.streamed_bytes) == (
        (layer, 0, layer) if streamed else (layer, layer, 0))


def test_streamed_estimate_gives_a_warning(tmp_path):
    path = tmp_path / "tcn.tflite"
    path.write_bytes(fc_model(1, 94400).build())
    (f,) = [f for f in analyze(path).findings if f.code == "TPU810"]
    assert f.message == ("1.44MiB of 1.44MiB parameters are streamed from the host on every inference; 0.00B cached on "
                         "chip (estimated, ±10%); 1 layer(s) with weight rows over 8192 bytes are always streamed")
    assert str(f.severity) == "warning"


def test_near_the_budget_warns_that_parameters_may_be_streamed(tmp_path):
    path = tmp_path / "big.tflite"
    path.write_bytes(fc_model(2600, 2600).build())  # 2608 channels x (2608 + 8) bytes = 6.51 MiB
    report = analyze(path)
    assert report.memory.streamed_bytes == 0 and report.memory.cached_bytes == 2608 * (2608 + 8)
    (f,) = [f for f in report.findings if f.code == "TPU810"]
    assert f.message == ("about 6.51MiB of parameters (±10%) is close to the 6.89MiB the compiler caches on chip: "
                         "part of it may be streamed on every inference")


def test_over_the_budget_the_last_layers_are_streamed(tmp_path):
    path = tmp_path / "bigger.tflite"
    path.write_bytes(fc_model(1024, 1024, layers=7).build())  # 7 x 1024 x 1032 bytes = 7.06 MiB
    m = analyze(path).memory
    assert (m.cached_bytes, m.streamed_bytes) == (6 * 1024 * 1032, 1024 * 1032)
    assert [x.op for x in m.streamed_layers] == [6]


def estimate_of(total: int) -> MemoryEstimate:
    return MemoryEstimate(total, total, 0, int(7.98 * MIB), None, 15, "test")


def test_co_compile_fills_the_cache_in_the_order_given():
    shares = co_compile([("a.tflite", estimate_of(5 * MIB)), ("b.tflite", estimate_of(2 * MIB)),
                         ("c.tflite", estimate_of(3 * MIB))], budget=8 * MIB)
    assert [(s.co_compile.cached_bytes, s.co_compile.streamed_bytes, s.co_compile.remaining_before)
            for s in shares] == [(5 * MIB, 0, 8 * MIB), (2 * MIB, 0, 3 * MIB), (1 * MIB, 2 * MIB, 1 * MIB)]
    assert shares[2].co_compile.to_dict() == {"position": 2, "models": ["a.tflite", "b.tflite", "c.tflite"],
                                              "cached_bytes": MIB, "streamed_bytes": 2 * MIB,
                                              "remaining_before_bytes": MIB}


def test_co_compile_findings_name_the_models_before(tmp_path):
    paths = []
    for name in ("first.tflite", "second.tflite"):
        p = tmp_path / name
        p.write_bytes(int8_cnn().build())
        paths.append(str(p))
    reports = apply_co_compile([analyze(p) for p in paths], budget=5000)
    assert [r.memory.co_compile.cached_bytes for r in reports] == [3968, 1032]
    assert [f.code for f in reports[0].findings if f.code == "TPU810"] == []
    (f,) = [f for f in reports[1].findings if f.code == "TPU810"]
    assert f.message == ("co-compiled as model 2 of 2 (after first.tflite), 2.87KiB of its parameters are streamed "
                         "and 1.01KiB cached; 1.01KiB of the cache was left")


def test_cli_co_compile_adds_shares_to_the_json(tmp_path, capsys):
    from tpulint.cli import main

    paths = []
    for name in ("a.tflite", "b.tflite"):
        p = tmp_path / name
        p.write_bytes(int8_cnn().build())
        paths.append(str(p))
    assert main(["--isolated", "--co-compile", "--format", "json", *paths]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [m["memory"]["co_compile"]["position"] for m in doc["models"]] == [0, 1]
    assert [m["memory"]["co_compile"]["streamed_bytes"] for m in doc["models"]] == [0, 0]


def _bench(*args: str) -> tuple[int, int, int, str]:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "memory.py"), str(CORPUS), *args],
                         capture_output=True, text=True, check=True).stdout
    last = out.strip().splitlines()[-1]
    close, cases = last.split("16 KiB ")[1].split(",")[0].split("/")
    streamed = last.split("right ")[1].split("/")[0]
    return int(close), int(streamed), int(cases), out


def test_bench_meets_the_calibration_target():
    """The issue's bar is 57/59 for both; the misses left are listed in the README (Memory estimate)."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus/real is absent")
    close, streamed, cases, out = _bench()  # from tpulint's own partition
    assert (close, streamed, cases) == (57, 58, 59), out
    close, streamed, cases, out = _bench("--truth-placement")  # the layout model alone
    assert (close, streamed, cases) == (57, 58, 59), out
    assert "franco_mnist_dense" in out


def test_a_channel_pad_costs_a_1x1_convolution():
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 24], "int8", quant=(0.5, 0))
    b.tensor("pads", [4, 2], "int32", data=np.array([0, 0, 0, 0, 0, 0, 0, 4], np.int32))
    b.tensor("y", [1, 8, 8, 28], "int8", quant=(0.5, 0))
    b.op("PAD", ["x", "pads"], ["y"])
    b.tensor("spads", [4, 2], "int32", data=np.array([0, 0, 1, 1, 1, 1, 0, 0], np.int32))
    b.tensor("z", [1, 10, 10, 28], "int8", quant=(0.5, 0))
    b.op("PAD", ["y", "spads"], ["z"])
    sg = read_model_bytes(b.build()).main
    # 28 -> 32 channels x (24 -> 32 inputs + 24) = 1792; a spatial pad only requantizes: 32 x 4 -> 128
    assert [layer_params(sg, i).bytes for i in (0, 1)] == [1792, 128]


def test_constant_operands_of_elementwise_ops_are_streamed():
    b = ModelBuilder()
    b.tensor("x", [1, 400, 3, 2], "int8", quant=(0.5, 0))
    b.tensor("grid", [1, 400, 1, 2], "int8", quant=(0.5, 0), data=800)  # broadcast: materialized as 2400
    b.tensor("y", [1, 400, 3, 2], "int8", quant=(0.5, 0))
    b.op("ADD", ["x", "grid"], ["y"])
    b.tensor("alpha", [1, 1, 2], "int8", quant=(0.5, 0), data=2)  # per channel: 16 padded channels x 16
    b.tensor("z", [1, 400, 3, 2], "int8", quant=(0.5, 0))
    b.op("MUL", ["y", "alpha"], ["z"])
    b.tensor("two", [], "int8", quant=(0.5, 0), data=1)  # a scalar folds into the requantization
    b.tensor("w", [1, 400, 3, 2], "int8", quant=(0.5, 0))
    b.op("MUL", ["z", "two"], ["w"])
    model = read_model_bytes(b.build())
    m = estimate(model, [Graph.build(model.main)], [[0, 1, 2]])
    assert [(x.op, x.bytes) for x in m.streamed_layers] == [(0, 2400), (1, 256)]
    assert (m.cached_bytes, m.streamed_bytes) == (3 * 128, 2656)
    assert m.to_dict()["streamed_layers"][0]["reason"] == "constant operand of an elementwise op"


def test_fully_connected_with_activation_weights_lays_out_its_constant_operand():
    """GEMM forests (corpus ext_redax_*): the constant [rows, cols] is cached as weights, unless the weights operand
    is the model input itself: then it is streamed with the instructions (64-byte blocks)."""
    b = ModelBuilder()
    q = (0.1, 0)
    b.tensor("x", [1, 8], "int8", quant=q)
    b.tensor("a", [1, 8], "int8", quant=q, data=np.ones((1, 8), np.int8))
    b.tensor("y", [1, 1], "int8", quant=q)
    b.op("FULLY_CONNECTED", ["a", "x", -1], ["y"])
    b.tensor("c", [2, 15], "int8", quant=q, data=np.ones((2, 15), np.int8))
    b.tensor("w", [1, 15], "int8", quant=q)
    b.tensor("x2", [1, 15], "int8", quant=q)
    b.op("RELU", ["x2"], ["w"])
    b.tensor("z", [2, 1], "int8", quant=q)
    b.op("FULLY_CONNECTED", ["c", "w", -1], ["z"])
    b.io(["x", "x2"], ["y", "z"])
    sg = read_model_bytes(b.build()).main
    first, second = layer_params(sg, 0), layer_params(sg, 2)
    assert (first.bytes, first.always_streamed) == (64, "multiplied with a model input as the weights operand")
    assert (second.bytes, second.always_streamed) == (16 * (16 + 4), None)


def flatten_model(shape: list[int], *, relu_first: bool = True) -> tuple[ModelBuilder, list[int]]:
    """RELU on `shape` (on chip), then a RESHAPE merging its trailing dimensions into the last; the ops to map."""
    b = ModelBuilder()
    q = (0.5, 0)
    merged = int(np.prod(shape[1:]))
    b.tensor("x", shape, "int8", quant=q)
    b.tensor("r", shape, "int8", quant=q)
    b.op("RELU", ["x"], ["r"])
    b.tensor("shape", [2], "int32", data=np.array([1, merged], np.int32))
    b.tensor("flat", [1, merged], "int8", quant=q)
    b.op("RESHAPE", ["r" if relu_first else "x", "shape"], ["flat"], new_shape=[1, merged])
    b.io(["x"], ["flat", "r"])
    return b, [0, 1] if relu_first else [1]


@pytest.mark.parametrize("shape, matrix", [
    ([1, 3, 3, 30], 320 * (9 * 32 + 4)),  # LeNet's flatten to 270 (corpus: exactly 93,440 bytes)
    ([1, 7, 7], 64 * (7 * 8 + 4)),        # YOLOv8n's [1,144,7,7] -> [1,144,49] head: 3,840
    ([1, 11, 11], 128 * (11 * 12 + 4)),   # YOLOv5nu's 11x11 -> 121: 17,408
    ([1, 20, 20], None),                  # 400 lanes, a multiple of 16: free (four YOLOv8 models)
    ([1, 118, 100, 8], None),             # the TCN's 94,400: free although 8 channels are not
    ([1, 6, 1], None),                    # a single channel merged: free (the forests' [4,1] -> [1,4])
])
def test_a_flatten_into_a_lane_count_that_is_not_a_multiple_of_16_costs_a_relayout_matrix(shape, matrix):
    b, ops = flatten_model(shape)
    model = read_model_bytes(b.build())
    g = Graph.build(model.main)
    p = relayout_params(model.main, 1, frozenset(ops), g.producer)
    assert (p.bytes if p else None) == matrix
    assert layer_params(model.main, 0) is None  # RELU carries no parameters: all the estimate has is the matrix
    assert estimate(model, [g], [ops]).cached_bytes == (matrix or 0)


def test_a_flatten_of_a_segment_input_is_free():
    # The host writes a segment's input in the reshaped layout (the forests' input layers carry the new dims).
    b, ops = flatten_model([1, 3, 3, 30], relu_first=False)
    model = read_model_bytes(b.build())
    assert estimate(model, [Graph.build(model.main)], [ops]).parameter_bytes == 0


def forest_stage(batch: int, rows: int = 2, reader: str = "cpu") -> tuple[ModelBuilder, list[int]]:
    """RELU on [batch, 1] (on chip), then an FC with the constant [rows, 1] as input and the RELU's result as
    weights (a GEMM forest's tf.matmul(const, x)), whose [rows, batch] result a `reader` op reads."""
    b = ModelBuilder()
    q = (0.1, 0)
    b.tensor("x", [batch, 1], "int8", quant=q)
    b.tensor("w", [batch, 1], "int8", quant=q)
    b.op("RELU", ["x"], ["w"])
    b.tensor("c", [rows, 1], "int8", quant=q, data=np.ones((rows, 1), np.int8))
    b.tensor("z", [rows, batch], "int8", quant=q)
    b.op("FULLY_CONNECTED", ["c", "w", -1], ["z"])
    if reader == "output":
        b.io(["x"], ["z"])
        return b, [0, 1]
    if reader == "transpose":
        b.tensor("perm", [2], "int32", data=np.array([1, 0], np.int32))
        b.tensor("t", [batch, rows], "int8", quant=q)
        b.op("TRANSPOSE", ["z", "perm"], ["t"])
        b.io(["x"], ["t"])
        return b, [0, 1, 2]
    b.tensor("f", [rows, batch], "float32")
    b.op("DEQUANTIZE", ["z"], ["f"])  # not in the mapped ops: the CPU reads the result
    b.io(["x"], ["f"])
    return b, [0, 1]


@pytest.mark.parametrize("batch, rows, reader, matrix", [
    (300, 2, "cpu", 320 * (320 + 4)),     # the batch-300 forest's middle segment: 103,680 B of a 109,504 B cache
    (300, 2, "output", 320 * (320 + 4)),  # a result the host reads
    (40, 3, "cpu", 64 * (64 + 4)),        # one tile
    (256, 2, "cpu", None),                # B a multiple of 16: free (the batch-256 forest)
    (300, 1, "cpu", None),                # [1, B] is [B, 1] in memory: nothing to move
    (1000, 2, "transpose", None),         # an on-chip TRANSPOSE reads it (the batch-1000 forest: 256 B cached)
])
def test_an_activation_weights_fc_result_leaving_the_chip_transposed_costs_a_matrix(batch, rows, reader, matrix):
    b, ops = forest_stage(batch, rows, reader)
    model = read_model_bytes(b.build())
    g = Graph.build(model.main)
    p = transposed_output_params(model.main, 1, frozenset(ops), g.consumers, frozenset(model.main.outputs))
    assert (p.bytes if p else None) == matrix
    constant = layer_params(model.main, 1).bytes  # the [rows, 1] constant laid out like weights
    assert estimate(model, [g], [ops]).cached_bytes == constant + (matrix or 0)


def test_a_fully_connected_with_constant_weights_computes_its_result_untransposed():
    b = fc_model(300, 8)  # op 0: [1, 8] x constant [300, 8]; op 1 below: the same weights for a batch of 2
    b.tensor("x2", [2, 8], "int8", quant=(0.5, 0))
    b.tensor("y2", [2, 300], "int8", quant=(0.5, 0))
    b.op("FULLY_CONNECTED", ["x2", "w0", "b0"], ["y2"])
    b.io(["x0", "x2"], ["x1", "y2"])
    model = read_model_bytes(b.build())
    g = Graph.build(model.main)
    assert transposed_output_params(model.main, 1, frozenset({0, 1}), g.consumers, frozenset(model.main.outputs)) \
        is None
