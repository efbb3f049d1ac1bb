"""The CLI's output options and exit status: --format, -o, --statistics, --fail-on, --min-tpu-ops-ratio,
--exit-zero, --baseline and --write-baseline, exercised as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from render_support import copy_fixtures

from tpulint import cli


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    copy_fixtures(tmp_path, ("broken_chain.tflite", "int8_cnn.tflite", "float_model.tflite"))
    return tmp_path


@pytest.mark.parametrize(("args", "status"), [
    (["int8_cnn.tflite"], 0),
    (["broken_chain.tflite"], 1),
    (["broken_chain.tflite", "--exit-zero"], 0),
    (["broken_chain.tflite", "--fail-on", "never"], 0),
    (["broken_chain.tflite", "--fail-on", "warning"], 1),
    (["broken_chain.tflite", "--fail-on", "cpu-op", "--ignore", "TPU100"], 1),  # the op is on the CPU all the same
    (["broken_chain.tflite", "--ignore", "TPU100"], 0),
    (["int8_cnn.tflite", "--fail-on", "cpu-op"], 0),
    (["broken_chain.tflite", "--fail-on", "never", "--min-tpu-ops-ratio", "0.25"], 0),  # 1/4 ops map
    (["broken_chain.tflite", "--fail-on", "never", "--min-tpu-ops-ratio", "0.26"], 1),
    (["broken_chain.tflite", "--fail-on", "never", "--min-tpu-ops-ratio", "0.9", "--exit-zero"], 0),
    (["int8_cnn.tflite", "missing.tflite", "--exit-zero"], 2),  # unreadable input is never excused
])
def test_exit_status(models, capsys, args, status) -> None:
    assert cli.main(args) == status


@pytest.mark.parametrize("fmt", ["json", "sarif", "html", "github", "markdown", "model-explorer", "full", "concise"])
def test_every_format_writes_with_dash_o(models, capsys, fmt) -> None:
    assert cli.main(["--format", fmt, "-o", "out", "broken_chain.tflite"]) == 1
    assert capsys.readouterr().out == ""
    assert Path("out").read_text(encoding="utf-8").strip()


def test_unknown_format_is_a_usage_error(models, capsys) -> None:
    assert cli.main(["--format", "xml", "int8_cnn.tflite"]) == 2
    assert capsys.readouterr().err.startswith("tpulint: unknown format 'xml'; choose from concise, full, json, html")


def test_statistics_counts_per_rule(models, capsys) -> None:
    assert cli.main(["--format", "json", "broken_chain.tflite", "float_model.tflite"]) == 1
    doc = json.loads(capsys.readouterr().out)
    counts: dict[tuple[str, str, str], int] = {}
    for m in doc["models"]:
        for f in m["findings"]:
            counts[f["code"], f["name"], f["severity"]] = counts.get((f["code"], f["name"], f["severity"]), 0) + 1
    expected = [f"{n:>5}  {code}  {name} ({sev})"
                for (code, name, sev), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))]
    assert cli.main(["--statistics", "broken_chain.tflite", "float_model.tflite"]) == 1
    assert capsys.readouterr().out == "\n".join(expected) + (
        "\n\n"
        "broken_chain.tflite: 1/4 ops on the Edge TPU, 3 on the CPU, 1 Edge TPU subgraph; partially mapped\n"
        "float_model.tflite: 0/2 ops on the Edge TPU, 2 on the CPU, 0 Edge TPU subgraphs; nothing maps\n")


def test_statistics_rendering_is_exact() -> None:
    from render_support import finding

    from tpulint.render import RenderOptions, render

    doc = {"models": [{"path": "m.tflite", "error": None, "compilable": True, "baseline": None,
                       "summary": {"ops": 2, "tpu_ops": 2, "cpu_ops": 0, "tpu_subgraphs": 1},
                       "findings": [finding(), finding(code="TPU300", severity="warning"), finding()]}]}
    assert render(doc, RenderOptions(statistics=True)) == (
        "    2  TPU100  unsupported-op (error)\n"
        "    1  TPU300  unsupported-op (warning)\n"
        "\n"
        "m.tflite: 2/2 ops on the Edge TPU, 0 on the CPU, 1 Edge TPU subgraph; fully mapped\n")


def test_github_paths_are_relative_to_the_workspace(models, capsys, monkeypatch) -> None:
    (models / "sub").mkdir()
    monkeypatch.chdir(models / "sub")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(models))
    assert cli.main(["--format", "github", "../broken_chain.tflite"]) == 1
    assert capsys.readouterr().out.startswith("::error file=broken_chain.tflite,title=tpulint%3A 1 error in ")


def test_sarif_paths_are_relative_to_the_git_checkout(models, capsys, monkeypatch) -> None:
    (models / ".git").mkdir()
    sub = models / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    assert cli.main(["--format", "sarif", "../broken_chain.tflite"]) == 1
    log = json.loads(capsys.readouterr().out)
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "broken_chain.tflite"


def test_baseline_fails_only_on_new_findings(models, capsys, monkeypatch) -> None:
    assert cli.main(["--format", "json", "broken_chain.tflite", "float_model.tflite"]) == 1
    total = sum(len(m["findings"]) for m in json.loads(capsys.readouterr().out)["models"])
    assert cli.main(["--write-baseline", "tpulint-baseline.json", "broken_chain.tflite", "float_model.tflite"]) == 0
    assert capsys.readouterr().err == f"tpulint: wrote {total} finding(s) of 2 model(s) to tpulint-baseline.json\n"
    baseline = json.loads(Path("tpulint-baseline.json").read_text())
    assert sorted(baseline["models"]) == ["broken_chain.tflite", "float_model.tflite"]
    assert cli.main(["--baseline", "tpulint-baseline.json", "broken_chain.tflite", "float_model.tflite"]) == 0
    out = capsys.readouterr().out
    assert out.count(": TPU") == 0 and "(1 baselined finding hidden)" in out
    # the same baseline from another folder: keys are relative to the baseline file
    Path("elsewhere").mkdir()
    monkeypatch.chdir("elsewhere")
    assert cli.main(["--baseline", "../tpulint-baseline.json", "--fail-on", "cpu-op", "../broken_chain.tflite"]) == 0
    monkeypatch.chdir(models)
    capsys.readouterr()
    # a model that gets worse: its new findings fail, and are the only ones shown
    assert cli.main(["--format", "json", "float_model.tflite"]) == 1
    worse = json.loads(capsys.readouterr().out)["models"][0]["findings"]
    shutil.copy("float_model.tflite", "broken_chain.tflite")
    assert cli.main(["--baseline", "tpulint-baseline.json", "--format", "json", "broken_chain.tflite"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["models"][0]["findings"] == worse and doc["models"][0]["baseline"] == {"suppressed": 0, "cpu_ops": 3}
    # a model the baseline does not know is judged in full
    assert cli.main(["--baseline", "tpulint-baseline.json", "int8_cnn.tflite"]) == 0


def test_baseline_counts_repeated_fingerprints(models, capsys) -> None:
    from tpulint import baseline as bl

    doc = {"models": [{"path": "m.tflite", "error": None, "summary": {"cpu_ops": 2},
                       "findings": [{"fingerprint": "a"}, {"fingerprint": "a"}, {"fingerprint": "b"}]}]}
    accepted = {"tpulint_baseline": 1, "models": {"m.tflite": {"cpu_ops": 2, "findings": {"a": 1}}}}
    out = bl.apply(doc, accepted, "baseline.json")
    assert out["models"][0]["findings"] == [{"fingerprint": "a"}, {"fingerprint": "b"}]
    assert out["models"][0]["baseline"] == {"suppressed": 1, "cpu_ops": 2}
    assert len(doc["models"][0]["findings"]) == 3  # the input document is untouched


@pytest.mark.parametrize(("content", "message"), [
    (None, "tpulint: nope.json: cannot read baseline: No such file or directory\n"),
    ("{", "tpulint: nope.json: baseline is not valid JSON: Expecting property name enclosed in double quotes: "
          "line 1 column 2 (char 1)\n"),
    ('{"models": {}}', 'tpulint: nope.json: not a tpulint baseline (expected "tpulint_baseline": 1)\n'),
    ('{"tpulint_baseline": 1, "models": {"m": {"findings": {"a": "x"}}}}',
     'tpulint: nope.json: models."m".findings.a: expected a count (an integer >= 0), got string "x"\n'),
])
def test_bad_baseline_is_a_usage_error(models, capsys, content, message) -> None:
    if content is not None:
        Path("nope.json").write_text(content)
    assert cli.main(["--baseline", "nope.json", "int8_cnn.tflite"]) == 2
    assert capsys.readouterr().err == message
