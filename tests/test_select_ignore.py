"""--select/--ignore and [tool.tpulint]: they filter what is reported, never what is predicted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tpulint.analysis import analyze_model
from tpulint.config import Config, load_pyproject
from tpulint.errors import RulesError
from tpulint.model import read_model_bytes
from tpulint.testing import ModelBuilder

Q = (0.1, 0)
ROOT = Path(__file__).resolve().parent.parent


def model() -> bytes:
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "float32")
    b.tensor("q", [1, 8, 8, 4], "int8", quant=Q)
    b.op("QUANTIZE", ["x"], ["q"])  # TPU201
    b.tensor("f", [1, 8, 8, 4], "int8", quant=Q)
    b.op("FLOOR", ["q"], ["f"])  # TPU100
    b.tensor("y", [1, 8, 8, 4], "int8", quant=Q)
    b.op("RELU", ["f"], ["y"])
    return b.io(["x"], ["y"]).build()


def codes(**config: object) -> list[str]:
    report = analyze_model(read_model_bytes(model(), "models/m.tflite"), Config(**config))  # type: ignore[arg-type]
    return [f.code for f in report.findings]


def test_select_and_ignore_by_code_and_prefix() -> None:
    assert codes() == ["TPU201", "TPU100"]
    assert codes(select=("TPU1",)) == ["TPU100"]
    assert codes(select=("TPU201",)) == ["TPU201"]
    assert codes(ignore=("TPU2",)) == ["TPU100"]
    assert codes(select=("TPU",), ignore=("TPU100", "TPU201")) == []
    assert codes(per_file_ignores=(("models/*.tflite", ("TPU1",)),)) == ["TPU201"]


def test_hidden_findings_still_drive_the_prediction() -> None:
    shown = analyze_model(read_model_bytes(model()), Config())
    hidden = analyze_model(read_model_bytes(model()), Config(ignore=("TPU",)))
    assert hidden.findings == ()
    assert [p.placement for p in hidden.main.placements] == [p.placement for p in shown.main.placements] == \
        ["cpu", "cpu", "cpu"]


def test_pyproject_table(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.tpulint]\ncompiler = "15.0"\nselect = ["TPU1"]\nignore = ["TPU101"]\n'
                         '[tool.tpulint.per-file-ignores]\n"legacy/*.tflite" = ["TPU2"]\n')
    cfg = load_pyproject(pyproject)
    assert (cfg.compiler, cfg.select, cfg.ignore) == ("15.0", ("TPU1",), ("TPU101",))
    assert cfg.enabled("TPU100") and not cfg.enabled("TPU101") and not cfg.enabled("TPU200")
    assert not Config(per_file_ignores=cfg.per_file_ignores).enabled("TPU200", "legacy/a.tflite")
    pyproject.write_text('[tool.tpulint]\nselct = ["TPU1"]\n')
    with pytest.raises(RulesError, match=r"pyproject.toml: tool.tpulint.selct: unknown key"):
        load_pyproject(pyproject)


def test_cli_select_and_pyproject(tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(model())

    def run(*args: str) -> list[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-m", "tpulint", "--format", "json", *args, str(path)],
                             capture_output=True, text=True, cwd=tmp_path, env=env)
        return [f["code"] for f in json.loads(out.stdout)["models"][0]["findings"]]

    assert run("--isolated") == ["TPU201", "TPU100"]
    assert run("--isolated", "--select", "TPU2") == ["TPU201"]
    assert run("--isolated", "--ignore", "TPU201,TPU1") == []
    (tmp_path / "pyproject.toml").write_text('[tool.tpulint]\nignore = ["TPU100"]\n')
    assert run() == ["TPU201"]
