"""The GitHub Action's script, run as action.yml runs it, with fake GITHUB_STEP_SUMMARY and GITHUB_OUTPUT files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import shutil

import pytest
from render_support import FIXTURES, ROOT, copy_fixtures

from tpulint import github_action


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    copy_fixtures(tmp_path / "models", ("broken_chain.tflite", "int8_cnn.tflite"))
    (tmp_path / "summary.md").write_text("previous step\n")
    (tmp_path / "output.txt").write_text("")
    return {"GITHUB_WORKSPACE": str(tmp_path), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "GITHUB_OUTPUT": str(tmp_path / "output.txt"), "INPUT_PATHS": "models/int8_cnn.tflite\nmodels/broken_chain.tflite",
            "INPUT_COMPILER": "16.0", "INPUT_FAIL_ON": "error", "INPUT_SARIF": "tpulint.sarif", "INPUT_ARGS": ""}


def test_action_writes_annotations_summary_sarif_and_outputs(workspace, tmp_path: Path) -> None:
    out = io.StringIO()
    assert github_action.run(workspace, out) == 1
    lines = out.getvalue().splitlines()
    assert len(lines) == 1  # int8_cnn maps completely: no annotation
    assert lines[0].startswith("::error file=models/broken_chain.tflite,title=tpulint%3A 1 error in "
                               "models/broken_chain.tflite::op 1 FLOOR (floor_1): TPU100 ")
    assert lines[0].endswith("%0A1/4 ops on the Edge TPU, 3 on the CPU, 1 Edge TPU subgraph; partially mapped")
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("previous step\n# tpulint: Edge TPU placement\n")  # appended, not overwritten
    assert "## models/broken\\_chain.tflite" in summary
    assert (tmp_path / "output.txt").read_text() == (
        "exit-code=1\nmodels=2\ntpu-ops=7\ncpu-ops=3\nfindings=1\nsarif=tpulint.sarif\nregressions=0\n")
    sarif = json.loads((tmp_path / "tpulint.sarif").read_text())
    uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "models/broken_chain.tflite"


def test_action_passes_when_nothing_fails(workspace, tmp_path: Path) -> None:
    env = dict(workspace, INPUT_PATHS="models", INPUT_FAIL_ON="never", INPUT_SARIF="")
    assert github_action.run(env, io.StringIO()) == 0
    assert "exit-code=0\n" in (tmp_path / "output.txt").read_text()
    assert not (tmp_path / "tpulint.sarif").exists()


def test_action_usage_error_fails_without_writing(workspace, tmp_path: Path, capsys) -> None:
    env = dict(workspace, INPUT_FAIL_ON="sometimes")
    with pytest.raises(SystemExit) as exc:
        github_action.run(env, io.StringIO())
    assert exc.value.code == 2
    assert (tmp_path / "summary.md").read_text() == "previous step\n"


def test_action_arguments() -> None:
    env = {"INPUT_PATHS": "a.tflite 'b c.tflite'\n models/", "INPUT_COMPILER": "", "INPUT_FAIL_ON": "cpu-op",
           "INPUT_BASELINE": "base.json", "INPUT_ARGS": "--ignore TPU100"}
    assert github_action.arguments(env, "r.json") == [
        "--format", "json", "-o", "r.json", "--fail-on", "cpu-op", "--baseline", "base.json", "--ignore", "TPU100",
        "a.tflite", "b c.tflite", "models/"]


def test_action_module_runs_as_action_yml_invokes_it(workspace, tmp_path: Path) -> None:
    env = dict(os.environ, **workspace, PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-m", "tpulint.github_action"], env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 1 and run.stdout.startswith("::error file=models/broken_chain.tflite,")
    yaml = pytest.importorskip("yaml")
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == {"paths", "compiler", "fail-on", "baseline", "sarif", "compare-ref", "args"}
    # every output the script writes is declared, and each declared one is written
    written = {line.split("=", 1)[0] for line in (tmp_path / "output.txt").read_text().splitlines()}
    assert set(action["outputs"]) == written == {"exit-code", "models", "tpu-ops", "cpu-ops", "findings", "sarif",
                                                     "regressions"}
    assert all(o["value"] == f"${{{{ steps.tpulint.outputs.{k} }}}}" for k, o in action["outputs"].items())
    script = (ROOT / "tpulint" / "github_action.py").read_text()
    assert all(f'"INPUT_{k.upper().replace("-", "_")}"' in script for k in action["inputs"])  # every input is read
    step = action["runs"]["steps"][1]
    assert step["id"] == "tpulint" and step["run"].endswith("-m tpulint.github_action")
    # every input reaches the script as the INPUT_* variable it reads
    assert step["env"] == {f"INPUT_{k.upper().replace('-', '_')}": f"${{{{ inputs.{k} }}}}" for k in action["inputs"]}


def test_annotations_are_capped_at_ten_per_type_keeping_the_worst(workspace, tmp_path: Path) -> None:
    models = tmp_path / "models"
    for i in range(13):
        shutil.copy(FIXTURES / "broken_chain.tflite", models / f"chain_{i:02}.tflite")
    shutil.copy(FIXTURES / "dynamic_reshape.tflite", models / "zz_dynamic.tflite")  # will not compile: kept
    env = dict(workspace, INPUT_PATHS="models/missing.tflite\nmodels", INPUT_SARIF="")
    out = io.StringIO()
    assert github_action.run(env, out) == 2
    everything = out.getvalue().splitlines()
    lines = [line for line in everything if line.startswith("::error file=")]
    # the model that will not compile also has warnings (its other ops' CPU work): one warning annotation
    assert len(lines) == 10 and [line.split(" ", 1)[0] for line in everything if line not in lines] == [
        "::warning"]
    kept = [line.split(",", 1)[0].removeprefix("::error file=") for line in lines]
    assert kept[0] == "models/missing.tflite" and "models/zz_dynamic.tflite" in kept
    assert "models/int8_cnn.tflite" not in kept  # nothing to say about it
    assert lines[-1].endswith("%0A(+6 more error annotations not shown: GitHub shows 10 per step; see the job summary)")
    assert sum("more error annotations" in line for line in lines) == 1
    summary = (tmp_path / "summary.md").read_text()
    assert ("> GitHub shows 10 annotations of each type per step: 6 error annotation(s) were left out. Every finding "
            "is listed below.") in summary
    assert "exit-code=2\nmodels=17\n" in (tmp_path / "output.txt").read_text()


def test_warning_and_notice_annotations_are_capped_too() -> None:
    from render_support import finding

    from tpulint.render.github import annotation_lines

    models = [{"path": f"m{i}.tflite", "error": None, "compilable": True,
               "summary": {"ops": 2, "tpu_ops": 2 - i % 2, "cpu_ops": i % 2, "tpu_subgraphs": 1},
               "findings": [finding(severity="warning"), finding(severity="info")]} for i in range(12)]
    lines, dropped = annotation_lines({"models": models}, None)
    assert dropped == {"warning": 2, "notice": 2}
    # the models with an op on the CPU (odd) come first, then the others in order; written in model order
    kept = [0, 1, 2, 3, 4, 5, 6, 7, 9, 11]
    assert [line.split(",", 1)[0] for line in lines] == [
        f"::{kind} file=m{i}.tflite" for i in kept for kind in ("warning", "notice")]
    assert [n for n, line in enumerate(lines) if "annotations not shown" in line] == [18, 19]
    assert lines[18].endswith("%0A(+2 more warning annotations not shown: GitHub shows 10 per step; see the job summary)")
    assert lines[19].endswith("%0A(+2 more notice annotations not shown: GitHub shows 10 per step; see the job summary)")


def test_summary_names_the_models_that_fail_the_step(workspace, tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "float_model.tflite", tmp_path / "models" / "float_model.tflite")
    env = dict(workspace, INPUT_PATHS="models", INPUT_ARGS="--min-tpu-ops-ratio 0.5", INPUT_SARIF="")
    assert github_action.run(env, io.StringIO()) == 1
    summary = (tmp_path / "summary.md").read_text()
    assert ("**tpulint fails this step** (exit status 1): 2 models\n\n"
            "- models/broken\\_chain.tflite: 1 error; 1 of 4 ops \\(25%\\) on the Edge TPU, "
            "below min-tpu-ops-ratio 0.5\n"
            "- models/float\\_model.tflite: 3 errors; 0 of 2 ops \\(0%\\) on the Edge TPU, "
            "below min-tpu-ops-ratio 0.5\n") in summary
    assert "int8" not in summary.split("| Model |")[0]
    env = dict(env, INPUT_FAIL_ON="never", INPUT_ARGS="")
    assert github_action.run(env, io.StringIO()) == 0
    assert summary.count("fails this step") == (tmp_path / "summary.md").read_text().count("fails this step")


@pytest.mark.parametrize("fmt", ["json", "sarif", "html", "github", "markdown", "model-explorer", "full", "concise"])
def test_args_may_ask_for_another_report(workspace, tmp_path: Path, capsys, fmt) -> None:
    env = dict(workspace, INPUT_ARGS=f"--format {fmt} -o extra.out", INPUT_SARIF="")
    out = io.StringIO()
    assert github_action.run(env, out) == 1
    assert out.getvalue().startswith("::error file=models/broken_chain.tflite,")  # the annotations all the same
    assert "exit-code=1\n" in (tmp_path / "output.txt").read_text()
    capsys.readouterr()
    from tpulint import cli

    cli.main(["--format", fmt, "-o", "direct.out", "models/int8_cnn.tflite", "models/broken_chain.tflite"])
    extra, direct = tmp_path / "extra.out", tmp_path / "direct.out"
    if fmt == "model-explorer":  # two models: a folder of node-data files
        assert sorted(p.name for p in extra.iterdir()) == ["broken_chain.node-data.json", "int8_cnn.node-data.json"]
        assert [p.read_text() for p in sorted(extra.iterdir())] == [p.read_text() for p in sorted(direct.iterdir())]
    elif fmt == "sarif":
        assert json.loads(extra.read_text())["runs"][0]["results"] == json.loads(direct.read_text())["runs"][0]["results"]
    else:
        assert extra.read_text() == direct.read_text()


def test_args_report_without_output_goes_to_the_log_with_commands_stopped(workspace) -> None:
    out = io.StringIO()
    assert github_action.run(dict(workspace, INPUT_ARGS="--format=concise", INPUT_SARIF=""), out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("::error file=") and lines[1].startswith("::stop-commands::")
    token = lines[1].removeprefix("::stop-commands::")
    assert len(token) == 32 and lines[-1] == f"::{token}::"
    assert lines[2] == "models/int8_cnn.tflite: 6/6 ops on the Edge TPU, 0 on the CPU, 1 Edge TPU subgraph; fully mapped"


@pytest.mark.parametrize(("args", "message"), [
    ("--format xml -o x", "tpulint: args: unknown format 'xml'; choose from concise, full, json, html"),
    ("--format model-explorer", "tpulint: args: --format model-explorer needs -o DIR (one node-data file per model)"),
])
def test_args_asking_for_an_impossible_report_fail_before_running(workspace, tmp_path: Path, capsys, args,
                                                                  message) -> None:
    assert github_action.run(dict(workspace, INPUT_ARGS=args), io.StringIO()) == 2
    assert capsys.readouterr().err.startswith(message)
    assert (tmp_path / "summary.md").read_text() == "previous step\n" and (tmp_path / "output.txt").read_text() == ""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
                            GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com"))


@pytest.mark.parametrize("fail_on, status", [("regression", 1), ("never", 0)])
def test_action_compare_ref_diffs_each_changed_model(workspace, tmp_path: Path, fail_on: str, status: int) -> None:
    # A throwaway repository: int8_cnn unchanged, a chain whose op 1 becomes FLOOR, and a model added since.
    models = tmp_path / "models"
    (models / "broken_chain.tflite").unlink()
    from test_diff import chain

    (models / "chain.tflite").write_bytes(chain(["RELU", "RELU", "RELU", "RELU"]))
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", "models")
    _git(tmp_path, "commit", "-q", "-m", "models")
    (models / "chain.tflite").write_bytes(chain(["RELU", "FLOOR", "RELU", "RELU"]))
    (models / "new.tflite").write_bytes(chain(["RELU"]))
    env = dict(workspace, INPUT_PATHS="models", INPUT_FAIL_ON=fail_on, INPUT_SARIF="", INPUT_COMPARE_REF="main")
    assert github_action.run(env, io.StringIO()) == status
    summary = (tmp_path / "summary.md").read_text()
    diffs = summary.split("### tpulint diff: ")[1:]
    assert len(diffs) == 1  # the unchanged model and the new one are not diffed
    assert diffs[0].splitlines()[:3] == [
        "models/chain.tflite@\u200bmain → models/chain.tflite", "",  # no @-mention
        "❌ 3 ops moved to the CPU, 0 to the Edge TPU; Edge TPU ops 4/4 -&gt; 1/4, Edge TPU subgraphs 1 -&gt; 1; "
        "regression: fewer ops on the Edge TPU \\(4 -&gt; 1\\)"]
    assert "regressions=1\n" in (tmp_path / "output.txt").read_text()


def test_action_compare_ref_that_does_not_exist(workspace, tmp_path: Path, capsys) -> None:
    _git(tmp_path, "init", "-q", "-b", "main")
    env = dict(workspace, INPUT_COMPARE_REF="no-such-ref", INPUT_SARIF="")
    assert github_action.run(env, io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.startswith("tpulint: compare-ref no-such-ref: git diff failed: fatal: ") and err.count("\n") == 1
