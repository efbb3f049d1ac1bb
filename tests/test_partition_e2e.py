"""Partition behaviour through the whole pipeline (reader, rules, partition) on generated models."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from tpulint.analysis import analyze_model
from tpulint.config import Config
from tpulint.findings import MAPPED, MORE_THAN_ONE_SUBGRAPH, NOT_SUPPORTED, UNSPECIFIED_LIMITATION
from tpulint.findings import UNSUPPORTED_DATA_TYPE
from tpulint.model import read_model_bytes
from tpulint.testing import ModelBuilder

Q = (0.1, 0)


def run(b: ModelBuilder, **config: object):
    return analyze_model(read_model_bytes(b.build(), "model.tflite"), Config(**config))  # type: ignore[arg-type]


def placements(report) -> list[tuple[str, str]]:
    return [(p.placement, p.status) for p in report.main.placements]


def chain(opcodes: list[str]) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("input", [1, 8, 8, 4], "int8", quant=Q)
    prev = "input"
    for i, opcode in enumerate(opcodes):
        b.tensor(f"t{i}", [1, 8, 8, 4], "int8", quant=Q)
        b.op(opcode, [prev], [f"t{i}"])
        prev = f"t{i}"
    return b


def test_chain_broken_in_the_middle():
    r = run(chain(["RELU", "RELU", "FLOOR", "RELU", "RELU"]))
    assert placements(r) == [("tpu", MAPPED), ("tpu", MAPPED), ("cpu", NOT_SUPPORTED),
                             ("cpu", MORE_THAN_ONE_SUBGRAPH), ("cpu", MORE_THAN_ONE_SUBGRAPH)]
    assert [p.blocked_by for p in r.main.placements] == [None, None, None, 2, 2]
    assert (r.tpu_ops, r.cpu_ops, r.tpu_subgraphs, r.compilable) == (2, 3, 1, True)


def test_side_branch_after_the_break_maps():
    b = chain(["RELU", "FLOOR", "RELU"])
    b.tensor("side", [1, 8, 8, 4], "int8", quant=Q)
    b.op("RELU", ["input"], ["side"])
    r = run(b)
    assert [p.placement for p in r.main.placements] == ["tpu", "cpu", "cpu", "tpu"]


def test_leading_float_quantize_does_not_block():
    b = ModelBuilder()
    b.tensor("image", [1, 8, 8, 4], "float32")
    b.tensor("q", [1, 8, 8, 4], "int8", quant=Q)
    b.op("QUANTIZE", ["image"], ["q"])
    b.tensor("r", [1, 8, 8, 4], "int8", quant=Q)
    b.op("RELU", ["q"], ["r"])
    r = run(b)
    assert placements(r) == [("cpu", UNSPECIFIED_LIMITATION), ("tpu", MAPPED)]
    assert r.tpu_subgraphs == 1


def test_custom_op_at_the_end():
    b = chain(["RELU", "RELU"])
    b.tensor("boxes", [1, 10], "float32")
    b.op("CUSTOM", ["t1"], ["boxes"], custom_code="TFLite_Detection_PostProcess")
    r = run(b)
    assert placements(r) == [("tpu", MAPPED), ("tpu", MAPPED), ("cpu", UNSUPPORTED_DATA_TYPE)]
    assert r.main.blockers == ()


def test_multiple_subgraphs_give_several_segments():
    r = run(chain(["RELU", "FLOOR", "RELU", "FLOOR", "RELU"]), multiple_subgraphs=True)
    assert [p.placement for p in r.main.placements] == ["tpu", "cpu", "tpu", "cpu", "tpu"]
    assert r.tpu_subgraphs == 3


def test_intermediate_tensor_cuts_the_segment():
    r = run(chain(["RELU", "RELU", "RELU", "RELU"]), intermediate_tensors=("t1",))
    assert [p.placement for p in r.main.placements] == ["tpu", "tpu", "cpu", "cpu"]
    assert r.main.segments[0].outputs == (2,)


def test_min_runtime_12_drops_a_runtime_13_op():
    b = ModelBuilder()
    b.tensor("a", [1, 4], "int8", quant=Q)
    b.tensor("b", [1, 4], "int8", quant=Q)
    b.tensor("packed", [1, 4, 2], "int8", quant=Q)
    b.op("PACK", ["a", "b"], ["packed"], values_count=2, axis=2)  # innermost axis: fine on runtime 13+
    b.tensor("out", [1, 4, 2], "int8", quant=Q)
    b.op("RELU", ["packed"], ["out"])
    assert [p.placement for p in run(b).main.placements] == ["tpu", "tpu"]
    dropped = run(b, min_runtime=12)
    assert [p.placement for p in dropped.main.placements] == ["cpu", "cpu"]
    assert dropped.main.placements[1].status == MORE_THAN_ONE_SUBGRAPH


def test_cli_options_reach_the_partition(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(chain(["RELU", "FLOOR", "RELU"]).build())
    out = subprocess.run([sys.executable, "-m", "tpulint", "--format", "json", "-a", str(path)],
                         capture_output=True, text=True)
    doc = json.loads(out.stdout)
    assert doc["target"]["multiple_subgraphs"] is True
    m = doc["models"][0]
    assert [o["placement"] for o in m["ops"]] == ["tpu", "cpu", "tpu"]
    assert m["summary"] == {"ops": 3, "tpu_ops": 2, "cpu_ops": 1, "tpu_subgraphs": 2}
    out = subprocess.run([sys.executable, "-m", "tpulint", "--format", "json", "-i", "t0", str(path)],
                         capture_output=True, text=True)
    m = json.loads(out.stdout)["models"][0]
    assert [o["placement"] for o in m["ops"]] == ["tpu", "cpu", "cpu"]
    assert m["segments"][0]["outputs"] == ["t0"]


def test_blocker_ranking_and_compiler_command(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(chain(["RELU", "FLOOR", "RELU", "RELU"]).build())
    out = subprocess.run([sys.executable, "-m", "tpulint", "--format", "json", str(path)],
                         capture_output=True, text=True)
    m = json.loads(out.stdout)["models"][0]
    assert m["blockers"] == [{"subgraph": 0, "op": 1, "opcode": "FLOOR", "regained": 3, "cut_tensors": ["t0"],
                              "compiler_command": f"edgetpu_compiler -i t0 {path}"}]
    assert [o["blocked_by"] for o in m["ops"]] == [None, None, 1, 1]


def test_prediction_ignores_the_file_name(tmp_path):
    data = chain(["RELU", "FLOOR", "RELU"]).build()
    a = analyze_model(read_model_bytes(data, "yolov8n_full_integer_quant.tflite"), Config())
    b = analyze_model(read_model_bytes(data, str(tmp_path / "x.tflite")), Config())
    assert placements(a) == placements(b)
    assert [(f.code, f.message) for f in a.findings] == [(f.code, f.message) for f in b.findings]


def test_constant_weights_count(tmp_path):
    b = ModelBuilder()
    b.tensor("x", [1, 16], "int8", quant=Q)
    b.tensor("w", [8, 16], "int8", quant=Q, data=np.ones(128, np.int8))
    b.tensor("bias", [8], "int32", quant=(0.01, 0), data=np.zeros(8, np.int32))
    b.tensor("y", [1, 8], "int8", quant=Q)
    b.op("FULLY_CONNECTED", ["x", "w", "bias"], ["y"])
    assert placements(run(b)) == [("tpu", MAPPED)]
