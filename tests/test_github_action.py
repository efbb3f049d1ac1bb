"""The GitHub Action's script, run as action.yml runs it, with fake GITHUB_STEP_SUMMARY and GITHUB_OUTPUT files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from render_support import ROOT, copy_fixtures

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
    assert set(action["outputs"]) == {"exit-code", "tpu-ops", "cpu-ops", "sarif", "regressions"}
    step = action["runs"]["steps"][1]
    assert step["id"] == "tpulint" and step["run"].endswith("-m tpulint.github_action")
    # every input reaches the script as the INPUT_* variable it reads
    assert step["env"] == {f"INPUT_{k.upper().replace('-', '_')}": f"${{{{ inputs.{k} }}}}" for k in action["inputs"]}


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
