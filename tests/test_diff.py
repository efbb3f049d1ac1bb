"""`tpulint diff OLD NEW` on generated model pairs: exact reports, every format, --fail-on regression."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tpulint import cli
from tpulint._version import __version__
from tpulint.testing import ModelBuilder

Q = (0.05, 0)


def chain(ops: list[str], branch: list[str] | None = None) -> bytes:
    """input -> ops... -> out; `branch` adds a second chain from the first op's output to a second output."""
    b = ModelBuilder()
    b.tensor("input", [1, 8, 8, 4], "int8", quant=Q)
    prev = "input"
    for i, opcode in enumerate(ops):
        name = f"t{i}"
        b.tensor(name, [1, 8, 8, 4], "int8", quant=Q)
        b.op(opcode, [prev], [name])
        prev = name
    outputs = [prev]
    for i, opcode in enumerate(branch or []):
        name = f"branch{i}"
        b.tensor(name, [1, 8, 8, 4], "int8", quant=Q)
        b.op(opcode, ["t0" if i == 0 else f"branch{i - 1}"], [name])
    if branch:
        outputs.append(f"branch{len(branch) - 1}")
    return b.io(["input"], outputs).build()


def resize(out_hw: int) -> bytes:
    """RELU -> RESIZE_BILINEAR 4x4 -> out_hw x out_hw -> RELU."""
    b = ModelBuilder()
    b.tensor("input", [1, 4, 4, 4], "int8", quant=Q).tensor("relu", [1, 4, 4, 4], "int8", quant=Q)
    b.op("RELU", ["input"], ["relu"])
    b.tensor("size", [2], "int32", data=np.array([out_hw, out_hw], np.int32))
    b.tensor("resized", [1, out_hw, out_hw, 4], "int8", quant=Q)
    b.op("RESIZE_BILINEAR", ["relu", "size"], ["resized"])
    b.tensor("out", [1, out_hw, out_hw, 4], "int8", quant=Q)
    b.op("RELU", ["resized"], ["out"])
    return b.io(["input"], ["out"]).build()


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.tpulint]\n")
    files = {
        "old.tflite": chain(["RELU", "RELU", "RELU", "RELU"]),
        "floor.tflite": chain(["RELU", "FLOOR", "RELU", "RELU"]),  # op 1 made unsupported
        "branch.tflite": chain(["RELU", "RELU", "RELU", "RELU"], branch=["LOGISTIC", "RELU"]),
        "small_resize.tflite": resize(16),  # scale 4: mapped
        "big_resize.tflite": resize(64),  # scale 16: over TPU603's 8x
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def run(capsys, *args: str) -> tuple[int, str]:
    status = cli.main(["diff", *args])
    return status, capsys.readouterr().out.replace(__version__, "VERSION")


def test_op_made_unsupported(models: Path, capsys) -> None:
    status, out = run(capsys, "old.tflite", "floor.tflite", "--fail-on", "regression")
    assert status == 1
    assert out.splitlines() == [
        "old.tflite -> floor.tflite: 3 ops moved to the CPU, 0 to the Edge TPU; Edge TPU ops 4/4 -> 1/4, "
        "Edge TPU subgraphs 1 -> 1; regression: fewer ops on the Edge TPU (4 -> 1)",
        "  op 1 FLOOR (t1) -> CPU: Operation not supported (TPU100)",
        "  op 2 RELU (t2) -> CPU: cut off by op 1",
        "  op 3 RELU (t3) -> CPU: cut off by op 1",
        "  new finding: op 1 FLOOR: TPU100 FLOOR is not supported by Edge TPU compiler 16.0; its CPU fallback cuts "
        "2 ops off the Edge TPU segment",
    ]


def test_fixing_it_is_no_regression(models: Path, capsys) -> None:
    status, out = run(capsys, "floor.tflite", "old.tflite", "--fail-on", "regression")
    assert status == 0
    assert out.splitlines()[0] == (
        "floor.tflite -> old.tflite: 0 ops moved to the CPU, 3 to the Edge TPU; Edge TPU ops 1/4 -> 4/4, "
        "Edge TPU subgraphs 1 -> 1; no regression")
    assert ("  fixed finding: op 1 FLOOR: TPU100 FLOOR is not supported by Edge TPU compiler 16.0; its CPU fallback "
            "cuts 2 ops off the Edge TPU segment") in out


def test_branch_added(models: Path, capsys) -> None:
    status, out = run(capsys, "old.tflite", "branch.tflite", "--format", "full", "--fail-on", "regression")
    assert status == 0
    assert out == (
        "old.tflite -> branch.tflite: 0 ops moved to the CPU, 0 to the Edge TPU; Edge TPU ops 4/4 -> 6/6, "
        "Edge TPU subgraphs 1 -> 1; no regression\n"
        "\n"
        "                                               old           new\n"
        "Ops on the Edge TPU                              4             6\n"
        "Ops on the CPU                                   0             0\n"
        "Ops                                              4             6\n"
        "Edge TPU subgraphs                               1             1\n"
        "Compilable                                     yes           yes\n"
        "Parameters cached on chip                    0.00B       128.00B\n"
        "Parameters streamed per inference            0.00B         0.00B\n"
        "\n"
        "Ops matched: 4, added: 2, removed: 0\n"
        "  added: op 4 LOGISTIC (branch0) on the Edge TPU\n"
        "  added: op 5 RELU (branch1) on the Edge TPU\n")


def test_resize_crossing_a_threshold(models: Path, capsys, golden) -> None:
    status, out = run(capsys, "small_resize.tflite", "big_resize.tflite", "--fail-on", "regression")
    assert status == 1
    assert out.splitlines()[:3] == [
        "small_resize.tflite -> big_resize.tflite: 2 ops moved to the CPU, 0 to the Edge TPU; Edge TPU ops 3/3 -> 1/3, "
        "Edge TPU subgraphs 1 -> 1; regression: fewer ops on the Edge TPU (3 -> 1)",
        "  op 1 RESIZE_BILINEAR (resized) -> CPU: Operation is otherwise supported, but not mapped due to some "
        "unspecified limitation (TPU603)",
        "  op 2 RELU (out) -> CPU: cut off by op 1",
    ]
    for fmt, ext in (("full", "txt"), ("json", "json"), ("markdown", "md")):
        status, out = run(capsys, "small_resize.tflite", "big_resize.tflite", "--format", fmt)
        assert status == 0  # --fail-on never by default
        golden(f"diff.{fmt}.{ext}", out)
    doc = json.loads(run(capsys, "small_resize.tflite", "big_resize.tflite", "--format", "json")[1])
    assert [(op["index"], op["old_status"]) for op in doc["moved_to_cpu"]] == [
        (1, "Mapped to Edge TPU"), (2, "Mapped to Edge TPU")]


def test_ops_matched_by_structure_when_names_change(models: Path, capsys) -> None:
    renamed = chain(["RELU", "RELU", "RELU", "RELU"]).replace(b"t1", b"x1").replace(b"t2", b"x2")
    (models / "renamed.tflite").write_bytes(renamed)
    status, out = run(capsys, "old.tflite", "renamed.tflite", "--format", "json")
    doc = json.loads(out)
    assert (doc["matched_ops"], doc["added_ops"], doc["removed_ops"]) == (4, [], [])


@pytest.mark.parametrize("args, message", [
    (["old.tflite", "missing.tflite"], "tpulint: missing.tflite: no such file\n"),
    (["old.tflite", "pyproject.toml"], "tpulint: pyproject.toml: "),
])
def test_diff_bad_input(models: Path, capsys, args: list[str], message: str) -> None:
    assert cli.main(["diff", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_every_kind_of_regression() -> None:
    from tpulint.diff import regressions

    totals = {"tpu_ops": [10, 9], "tpu_subgraphs": [1, 2], "compilable": [True, False],
              "streamed_bytes": [0, 4096]}
    assert regressions(totals) == ["fewer ops on the Edge TPU (10 -> 9)", "more Edge TPU subgraphs (1 -> 2)",
                                   "no longer compilable", "more parameter bytes streamed per inference (0 -> 4,096)"]
    better = {"tpu_ops": [9, 10], "tpu_subgraphs": [2, 1], "compilable": [False, True], "streamed_bytes": [4096, None]}
    assert regressions(better) == []
