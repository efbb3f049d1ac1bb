"""The pre-commit hook, tried for real: `pre-commit try-repo` this project in a throwaway repo of models."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from render_support import FIXTURES, ROOT


def test_hook_definition() -> None:
    yaml = pytest.importorskip("yaml")
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hooks == [{
        "id": "tpulint", "name": "tpulint (Edge TPU compiler prediction)", "entry": "tpulint", "language": "python",
        "types": ["file"], "files": r"\.tflite$",
        "description": hooks[0]["description"],
    }]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_pre_commit_try_repo_fails_the_bad_model_and_passes_the_good(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        pytest.skip("pre-commit is not installed (pip install -e '.[test]')")
    repo = tmp_path / "models"
    repo.mkdir()
    _git(repo, "init", "-q")
    shutil.copy(FIXTURES / "int8_cnn.tflite", repo / "good.tflite")
    shutil.copy(FIXTURES / "broken_chain.tflite", repo / "bad.tflite")
    (repo / "notes.txt").write_text("not a model\n")
    _git(repo, "add", "-A")
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "cache"), PIP_DISABLE_PIP_VERSION_CHECK="1",
               GIT_CONFIG_GLOBAL=os.devnull)
    env.pop("PYTHONPATH", None)

    def try_repo(*files: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "tpulint", "--verbose", "--files", *files]
        return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600, check=False)

    good = try_repo("good.tflite", "notes.txt")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout and "good.tflite: 6/6 ops on the Edge TPU, 0 on the CPU, 1 Edge TPU subgraph; fully mapped" in good.stdout
    bad = try_repo("bad.tflite", "good.tflite")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "Failed" in bad.stdout and "- exit code: 1" in bad.stdout
    assert "bad.tflite: op 1 FLOOR (floor_1): TPU" in bad.stdout
