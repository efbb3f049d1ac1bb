"""Compiled models in their own terms: custom ops mapped back to the source model's ops, never counted as one op."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import corpus_cases, load_truth
from edgetpu_package import compiled_model, custom_options, standard_package

from tpulint import cli
from tpulint.analysis import analyze
from tpulint.render import RenderOptions, render
from tpulint.report import document
from tpulint.testing import ModelBuilder

Q = (0.05, -128)


def source_model() -> bytes:
    """What compiled_model() was compiled from: RELU, RELU (mapped), then a DEQUANTIZE left on the CPU."""
    b = ModelBuilder()
    b.tensor("input", [1, 8, 8, 3], "int8", quant=Q)
    b.tensor("mid", [1, 8, 8, 3], "int8", quant=Q)
    b.op("RELU", ["input"], ["mid"])
    b.tensor("logits", [1, 8, 8, 3], "int8", quant=(0.25, 3))
    b.op("RELU", ["mid"], ["logits"])
    b.tensor("probs", [1, 8, 8, 3], "float32")
    b.op("DEQUANTIZE", ["logits"], ["probs"])
    return b.io(["input"], ["probs"]).build()


@pytest.fixture
def compiled(tmp_path: Path) -> Path:
    path = tmp_path / "m_edgetpu.tflite"
    path.write_bytes(compiled_model(custom_options(standard_package())))
    return path


def concise(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = cli.main(["--isolated", *args])
    return code, capsys.readouterr().out.splitlines()[-1]


def test_sibling_source_gives_source_op_counts(compiled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (compiled.parent / "m.tflite").write_bytes(source_model())
    code, line = concise(capsys, str(compiled))
    assert (code, line) == (0, f"{compiled}: compiled: 1 Edge TPU custom op holding 2 of the source model's 3 ops, "
                               "1 op on the CPU; needs Edge TPU runtime 14 or newer")
    report = analyze(compiled)
    assert report.source.to_dict() == {"path": str(compiled.parent / "m.tflite"), "ops": 3, "tpu_ops": 2,
                                       "cpu_ops": 1, "per_edgetpu_op": [2], "method": "boundary tensor names"}
    doc = document([report], report.config)
    full = render(doc, RenderOptions(format="full"))
    assert ("Number of Edge TPU subgraphs: 1\nTotal number of operations: 3 (of the source model)\n"
            "Number of operations that will run on Edge TPU: 2\nNumber of operations that will run on CPU: 1\n") in full
    assert "  Edge TPU custom op 1: op 0: 2 executables (EXECUTION_ONLY, PARAMETER_CACHING), 2 source ops\n" in full
    assert "  Package generation: runtime 14, as written by compiler 16.0 (its default -m 14)\n" in full
    assert "  Compiler version: changelist 123\n" in full
    assert "2/3 ops on the Edge TPU." in render(doc, RenderOptions(format="markdown"))
    assert 'title="2 of 3 source ops on the Edge TPU"' in render(doc, RenderOptions(format="html"))


def test_without_source_no_op_ratio(compiled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, line = concise(capsys, str(compiled))
    assert (code, line) == (0, f"{compiled}: compiled: 1 Edge TPU custom op, 1 op on the CPU; needs Edge TPU runtime "
                               "14 or newer (source ops per custom op: give the uncompiled model with --source)")
    report = analyze(compiled)
    doc = document([report], report.config)
    full = render(doc, RenderOptions(format="full"))
    assert "Number of operations left on the CPU: 1\n" in full and "Total number of operations" not in full
    assert "0/0 ops on the Edge TPU (not counting 1 compiled model without its source)." in render(
        doc, RenderOptions(format="markdown"))
    html = render(doc, RenderOptions(format="html"))
    assert 'class="bar"' not in html


def test_explicit_source_and_its_errors(compiled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "elsewhere.tflite"
    other.write_bytes(source_model())
    code, line = concise(capsys, "--source", str(other), str(compiled))
    assert code == 0 and "holding 2 of the source model's 3 ops" in line
    assert cli.main(["--isolated", "--source", str(tmp_path / "nope.tflite"), str(compiled)]) == 2
    assert capsys.readouterr().err == f"tpulint: {compiled}: --source {tmp_path / 'nope.tflite'}: no such file\n"
    assert cli.main(["--isolated", "--source", str(compiled), str(compiled)]) == 2
    assert "is itself a compiled model" in capsys.readouterr().err


def test_min_tpu_ops_ratio_counts_source_ops(compiled: Path) -> None:
    (compiled.parent / "m.tflite").write_bytes(source_model())
    assert cli.main(["--isolated", "--min-tpu-ops-ratio", "0.6", str(compiled)]) == 0  # 2/3, not 1/2
    assert cli.main(["--isolated", "--min-tpu-ops-ratio", "0.7", str(compiled)]) == 1


def test_action_counts_source_ops(compiled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from tpulint import github_action

    (compiled.parent / "m.tflite").write_bytes(source_model())
    out = tmp_path / "outputs"
    env = {"INPUT_PATHS": str(compiled), "GITHUB_OUTPUT": str(out), "INPUT_FAIL_ON": "error"}
    monkeypatch.chdir(tmp_path)
    github_action.run(env, io.StringIO())
    assert "tpu-ops=2\ncpu-ops=1\n" in out.read_text()


@pytest.mark.parametrize("case", corpus_cases())
def test_corpus_custom_ops_map_back_to_the_source_ops_the_compiler_mapped(case: Path) -> None:
    truth = load_truth(case)
    if not truth.get("files", {}).get("compiled"):
        pytest.skip("no compiled model")
    report = analyze(case / truth["files"]["compiled"], source=str(case / truth["files"]["source"]))
    assert report.source.tpu_ops == sum(1 for p in truth["per_op"] if p["on"] == "tpu")
    json.dumps(document([report], report.config)["models"][0]["compiled_info"]["source"])
