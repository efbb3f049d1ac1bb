"""Severity by cost and exit statuses: a CPU op that cuts ops off fails the run, one that costs a CPU pass does not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tpulint import cli
from tpulint.analysis import analyze_model
from tpulint.config import Config
from tpulint.findings import MODEL_REJECTED, Severity
from tpulint.model import read_model_bytes
from tpulint.testing import ModelBuilder, int8_cnn

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
Q = (0.05, 0)


def relu(b: ModelBuilder, src: str, out: str, shape: list[int]) -> None:
    b.tensor(out, shape, "int8", quant=Q)
    b.op("RELU", [src], [out])


def edge_wrappers() -> ModelBuilder:
    """Float input and output: QUANTIZE and DEQUANTIZE at the edges stay on the CPU, the rest maps."""
    b = ModelBuilder()
    b.tensor("image", [1, 8, 8, 3], "float32")
    b.tensor("q", [1, 8, 8, 3], "int8", quant=Q)
    b.op("QUANTIZE", ["image"], ["q"])
    relu(b, "q", "r", [1, 8, 8, 3])
    b.tensor("out", [1, 8, 8, 3], "float32")
    b.op("DEQUANTIZE", ["r"], ["out"])
    return b.io(["image"], ["out"])


def large_transpose(followed: bool) -> ModelBuilder:
    """A 40x40x144 TRANSPOSE (heuristic TPU601); `followed`: a RELU after it, which the fallback cuts off."""
    b = ModelBuilder()
    b.tensor("x", [1, 40, 40, 144], "int8", quant=Q)
    relu(b, "x", "r", [1, 40, 40, 144])
    b.tensor("perm", [4], "int32", data=np.array([0, 3, 1, 2], np.int32))
    b.tensor("t", [1, 144, 40, 40], "int8", quant=Q)
    b.op("TRANSPOSE", ["r", "perm"], ["t"])
    if not followed:
        return b.io(["x"], ["t"])
    relu(b, "t", "after", [1, 144, 40, 40])
    return b.io(["x"], ["after"])


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.tflite").read_bytes()


# What the exit status must be with default options, by what the CPU ops cost (the corpus classes).
MODELS = {
    "fully_mapped": (lambda: int8_cnn().build(), 0),
    "float_io_wrappers": (lambda: edge_wrappers().build(), 0),
    "final_postprocessing_custom_op": (lambda: fixture("custom_op"), 0),
    "size_threshold_at_the_end": (lambda: large_transpose(False).build(), 0),
    "size_threshold_cuts_ops_off": (lambda: large_transpose(True).build(), 1),
    "unsupported_op_cuts_ops_off": (lambda: fixture("broken_chain"), 1),
    "will_not_compile": (lambda: fixture("dynamic_reshape"), 1),
    "nothing_maps": (lambda: fixture("float_model"), 1),
}


def run(tmp_path: Path, name: str, *args: str) -> tuple[int, dict]:
    path = tmp_path / f"{name}.tflite"
    if not path.exists():
        path.write_bytes(MODELS[name][0]())
    out = tmp_path / f"{name}.json"
    code = cli.main(["--isolated", *args, "--format", "json", "-o", str(out), str(path)])
    return code, json.loads(out.read_text())["models"][0]


@pytest.mark.parametrize("name", MODELS)
def test_exit_status_follows_the_cost(tmp_path: Path, name: str) -> None:
    code, _ = run(tmp_path, name)
    assert code == MODELS[name][1]


# --fail-on level -> exit status for a model with only edge wrappers / with ops cut off / fully mapped.
FAIL_ON = {
    "error": (0, 1, 0),
    "warning": (1, 1, 0),
    "cpu-op": (1, 1, 0),
    "never": (0, 0, 0),
}


@pytest.mark.parametrize("level", FAIL_ON)
def test_fail_on_levels_mean_what_they_say(tmp_path: Path, level: str) -> None:
    got = tuple(run(tmp_path, name, "--fail-on", level)[0]
                for name in ("float_io_wrappers", "unsupported_op_cuts_ops_off", "fully_mapped"))
    assert got == FAIL_ON[level]


def test_cost_is_in_the_message_and_the_severity(tmp_path: Path) -> None:
    _, m = run(tmp_path, "unsupported_op_cuts_ops_off")
    assert [(f["code"], f["severity"], f["confidence"], f["message"]) for f in m["findings"]] == [
        ("TPU100", "error", "documented",
         "FLOOR is not supported by Edge TPU compiler 16.0; its CPU fallback cuts 2 ops off the Edge TPU segment")]
    _, m = run(tmp_path, "float_io_wrappers")
    assert [(f["code"], f["severity"], f["message"].split("; ", 1)[1]) for f in m["findings"]] == [
        ("TPU201", "warning", "it costs one more CPU pass per inference but cuts no op off the Edge TPU segment"),
        ("TPU202", "warning", "it costs one more CPU pass per inference but cuts no op off the Edge TPU segment")]


def test_a_heuristic_cause_of_a_real_cut_is_an_error_with_heuristic_confidence(tmp_path: Path) -> None:
    _, m = run(tmp_path, "size_threshold_cuts_ops_off")
    assert [(f["code"], f["severity"], f["confidence"]) for f in m["findings"]] == [("TPU601", "error", "heuristic")]
    _, m = run(tmp_path, "size_threshold_at_the_end")
    assert [(f["code"], f["severity"], f["confidence"]) for f in m["findings"]] == [
        ("TPU601", "warning", "heuristic")]


def test_with_multiple_subgraphs_nothing_is_cut_off(tmp_path: Path) -> None:
    code, m = run(tmp_path, "unsupported_op_cuts_ops_off", "-a")
    assert code == 0 and [f["severity"] for f in m["findings"]] == ["warning"]


def test_severity_overrides_in_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.tpulint.severity]\nTPU2 = "error"\nTPU202 = "info"\n'
                                             'TPU100 = "info"\n')
    config = ["--config", str(tmp_path / "pyproject.toml")]
    wrappers = tmp_path / "w.tflite"
    wrappers.write_bytes(edge_wrappers().build())
    out = tmp_path / "o.json"
    assert cli.main([*config, "--format", "json", "-o", str(out), str(wrappers)]) == 1
    found = json.loads(out.read_text())["models"][0]["findings"]
    assert [(f["code"], f["severity"]) for f in found] == [("TPU201", "error"), ("TPU202", "info")]
    chain = tmp_path / "c.tflite"
    chain.write_bytes(fixture("broken_chain"))
    assert cli.main([*config, str(chain)]) == 0


@pytest.mark.parametrize("table, problem", [
    ('TPU201 = "fatal"', "severity.TPU201: must be one of error, warning, info, not 'fatal'"),
    ('"*.tflite" = "info"', "severity.*.tflite: not a rule code or prefix (e.g. TPU201 or TPU2)"),
    ("TPU201 = 3", "severity.TPU201: must be one of error, warning, info, not '3'"),
])
def test_bad_severity_override_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str,
                                                 problem: str) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f"[tool.tpulint.severity]\n{table}\n")
    model = tmp_path / "m.tflite"
    model.write_bytes(fixture("int8_cnn"))
    assert cli.main(["--config", str(pyproject), str(model)]) == 2
    assert capsys.readouterr().err == f"tpulint: {pyproject}: tool.tpulint: {problem}\n"


def test_model_that_will_not_compile(tmp_path: Path) -> None:
    code, m = run(tmp_path, "will_not_compile")
    assert code == 1 and not m["compilable"] and m["memory"] is None
    assert {(op["placement"], op["status"], tuple(op["codes"])) for op in m["ops"]} == {
        ("cpu", MODEL_REJECTED, ("TPU002",))}
    gate = [f for f in m["findings"] if f["code"] == "TPU002"]
    assert [(f["severity"], f["message"]) for f in gate] == [
        ("error", "RESHAPE takes its shape from 'new_shape', which is computed at run time: its output 'flat' is "
                  "dynamic-sized; compiler 16.0 rejects the whole model, so no op maps (--compiler predicts another "
                  "version)")]
    from tpulint.render import RenderOptions, render

    full = render({"models": [m]}, RenderOptions(format="full"))
    assert "  op    4 RESHAPE                  flat: Model could not be compiled (TPU002)\n" in full
    assert "memory" not in full.lower()


def test_rejecting_op_lists_its_own_gate_first() -> None:
    b = int8_cnn()
    b.tensor("fc2/weights", [10, 10], "int8", quant=(0.02, 0), data=np.ones(100, np.int8))
    b.tensor("fc2/bias", [10], "int8", quant=(0.001, 0), data=np.zeros(10, np.int8))  # not int32: TPU004
    b.tensor("fc2", [1, 10], "int8", quant=Q)
    b.op("FULLY_CONNECTED", ["probs", "fc2/weights", "fc2/bias"], ["fc2"])
    report = analyze_model(read_model_bytes(b.build()), Config())
    assert not report.compilable
    codes = {p.index: p.codes for p in report.main.placements}
    gates = {f.location.operator for f in report.findings if f.code == "TPU004"}
    assert gates and all(codes[i][0] == "TPU004" for i in gates)
    assert {p.status for p in report.main.placements} == {MODEL_REJECTED}
    assert all(f.severity is Severity.ERROR for f in report.findings if f.effect.value == "model")


def floor_then_relus(n_relus: int, branch: bool = False) -> ModelBuilder:
    """FLOOR (never on the Edge TPU) feeding a chain of RELUs, all cut off; `branch`: a second FLOOR reading
    the first one's output and joined back by an ADD after the first RELU, so two paths reach the same ops."""
    b = ModelBuilder()
    b.tensor("x", [1, 4, 4, 8], "int8", quant=Q)
    b.tensor("f", [1, 4, 4, 8], "int8", quant=Q)
    b.op("FLOOR", ["x"], ["f"])
    src = "f"
    if branch:
        b.tensor("g", [1, 4, 4, 8], "int8", quant=Q)
        b.op("FLOOR", ["f"], ["g"])
        relu(b, "f", "r", [1, 4, 4, 8])
        b.tensor("joined", [1, 4, 4, 8], "int8", quant=Q)
        b.op("ADD", ["r", "g"], ["joined"])
        src = "joined"
    for i in range(n_relus):
        relu(b, src, f"relu{i}", [1, 4, 4, 8])
        src = f"relu{i}"
    return b.io(["x"], [src])


def test_cut_off_counts_are_exact_where_paths_join():
    from tpulint.cost import cut_off_counts

    report = analyze_model(read_model_bytes(floor_then_relus(2, branch=True).build()), Config())
    # ops: 0 FLOOR, 1 FLOOR, 2 RELU, 3 ADD, 4 RELU, 5 RELU; the second FLOOR is a root cause, not cut off
    assert [p.placement for p in report.main.placements] == ["cpu"] * 6
    assert cut_off_counts(report.graphs[0], report.main) == [4, 3, 3, 2, 1, 0]


def test_cut_off_counts_hold_one_set_at_a_time_on_a_long_cut_chain():
    """A set per op would cost n^2/16 bytes more (6.2 MB at 10,000 cut-off ops, 150 MiB at 30,000)."""
    import tracemalloc

    from tpulint.cost import cut_off_counts

    report = analyze_model(read_model_bytes(floor_then_relus(10_000).build()), Config())
    tracemalloc.start()
    try:
        counts = cut_off_counts(report.graphs[0], report.main)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert counts[:2] == [10_000, 9_999] and counts[-1] == 0
    assert peak < 2_500_000  # ~170 bytes per op of lists and dicts, one 1,250-byte set and its temporaries


def test_graded_finding_is_the_dataclass_replace() -> None:
    from dataclasses import replace

    from tpulint.cost import _graded
    from tpulint.findings import Confidence, Effect, Finding, Location

    f = Finding("TPU100", "unsupported-op", Severity.INFO, Confidence.OBSERVED, Effect.CPU, "msg",
                Location(0, 3, "FLOOR", 7, "t"), "status", "fix", "m.tflite", (5, 4, 2))
    g = _graded(f, Severity.ERROR, "msg; cost")
    assert type(g) is Finding and g == replace(f, severity=Severity.ERROR, message="msg; cost")
    assert (g.fix, g.threshold, g.path) == ("fix", (5, 4, 2), "m.tflite")
