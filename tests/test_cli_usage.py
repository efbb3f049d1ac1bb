"""The CLI as people run it: non-UTF-8 consoles, pipes closed early, stdin, --quiet, the run summary line,
--statistics and why --min-tpu-ops-ratio failed the run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from render_support import FIXTURES, ROOT
from test_cli_output import models  # noqa: F401 - the same folder of fixtures

from tpulint import cli


def run_cli(*args: str, cwd: Path, stdin: bytes | None = None, **env: str) -> subprocess.CompletedProcess[bytes]:
    environ = {k: v for k, v in os.environ.items() if k not in ("GITHUB_WORKSPACE", "PYTHONIOENCODING")}
    return subprocess.run([sys.executable, "-m", "tpulint", *args], capture_output=True, cwd=cwd, input=stdin,
                          env={**environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT), **env}, check=False)


# "→" (full), "≥" (markdown), "·" and "“" (html) and "…" in rule docs cannot be written in cp1252 or ASCII.
@pytest.mark.parametrize("fmt", ["concise", "full", "github", "markdown", "html", "json", "sarif", "model-explorer"])
@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_a_console_that_cannot_encode_the_report_gets_it_escaped(models, fmt, encoding) -> None:
    Path("ünïcode→.tflite").write_bytes((FIXTURES / "broken_chain.tflite").read_bytes())
    paths = ["ünïcode→.tflite"] if fmt == "model-explorer" else ["broken_chain.tflite", "ünïcode→.tflite"]
    run = run_cli("--format", fmt, *paths, cwd=models, PYTHONIOENCODING=encoding)
    assert run.returncode == 1, run.stderr.decode(errors="replace")
    assert run.stderr == b""
    expected = run_cli("--format", fmt, *paths, cwd=models, PYTHONIOENCODING="utf-8").stdout.decode("utf-8")
    out = run.stdout.decode(encoding)
    if fmt == "html":  # still valid UTF-8 as the page declares, the characters as references
        assert run.stdout.isascii() and "&#8594;" in out and "&#8805;" in out
        import html

        assert html.unescape(out) == html.unescape(expected)
    elif fmt in ("json", "sarif", "model-explorer"):  # JSON is UTF-8 (or ASCII) whatever the console
        assert json.loads(run.stdout) == json.loads(expected)
    else:
        assert out == expected.encode(encoding, "backslashreplace").decode(encoding)
        assert "\\u2192" in out


@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_rule_docs_on_a_console_that_cannot_encode_them(models, encoding) -> None:
    run = run_cli("rule", "--all", cwd=models, PYTHONIOENCODING=encoding)
    assert run.returncode == 0 and run.stderr == b""
    expected = run_cli("rule", "--all", cwd=models, PYTHONIOENCODING="utf-8").stdout.decode("utf-8")
    assert run.stdout.decode(encoding) == expected.encode(encoding, "backslashreplace").decode(encoding)


@pytest.mark.parametrize("fmt", ["json", "concise", "full"])
def test_a_pipe_closed_early_ends_the_run_quietly(models, fmt) -> None:
    # `tpulint --format json . | head -1`: far more output than the pipe holds, its reader gone after a line
    proc = subprocess.Popen([sys.executable, "-m", "tpulint", "--format", fmt, "--exit-zero",
                             *["broken_chain.tflite"] * (2000 if fmt == "concise" else 400)], cwd=models, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0
    assert err == b""


def test_stdin_is_read_for_a_dash(models) -> None:
    data = (FIXTURES / "broken_chain.tflite").read_bytes()
    run = run_cli("-", cwd=models, stdin=data)
    assert run.returncode == 1
    assert run.stdout.decode().splitlines()[-1] == (
        "-: 1/4 ops on the Edge TPU, 3 on the CPU, 1 Edge TPU subgraph; partially mapped")
    assert run.stdout.decode().startswith("-: op 1 FLOOR (floor_1): TPU100 ")
    # --stdin-filename names it in the reports (and chooses its configuration, as for ruff)
    run = run_cli("--format", "json", "--stdin-filename", "models/m.tflite", "-", "int8_cnn.tflite", "-j", "2",
                  cwd=models, stdin=data)
    doc = json.loads(run.stdout)
    assert [(m["path"], m["summary"]["cpu_ops"]) for m in doc["models"]] == [("models/m.tflite", 3),
                                                                             ("int8_cnn.tflite", 0)]
    assert run.returncode == 1


def test_empty_or_bad_stdin_is_an_error_naming_it(models) -> None:
    run = run_cli("-", "int8_cnn.tflite", cwd=models, stdin=b"")
    assert run.returncode == 2
    assert run.stderr.decode() == "tpulint: -: empty file\n"
    assert run.stdout.decode() == ("int8_cnn.tflite: 6/6 ops on the Edge TPU, 0 on the CPU, 1 Edge TPU subgraph; "
                                   "fully mapped\nNo findings in 2 models (1 not analysed); 6/6 ops on the Edge TPU\n")
    run = run_cli("-", "-", cwd=models, stdin=b"")
    assert run.returncode == 2 and run.stderr.decode() == "tpulint: `-` (stdin) can be given only once\n"


def test_summary_line_for_several_models(models, capsys) -> None:
    assert cli.main(["broken_chain.tflite", "int8_cnn.tflite", "missing.tflite"]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == ("Found 1 error in 3 models (1 not analysed); 7/10 ops on the Edge TPU, "
                       "1 model with ops on the CPU")
    assert cli.main(["int8_cnn.tflite", "int8_cnn.tflite"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "No findings in 2 models; 12/12 ops on the Edge TPU"
    assert cli.main(["int8_cnn.tflite"]) == 0  # one model: its verdict line says it all
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_quiet_prints_only_the_findings(models, capsys) -> None:
    assert cli.main(["-q", "broken_chain.tflite", "int8_cnn.tflite"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("broken_chain.tflite: op 1 FLOOR (floor_1): TPU100 ") and out.count("\n") == 1
    assert cli.main(["--quiet", "int8_cnn.tflite", "int8_cnn.tflite"]) == 0
    assert capsys.readouterr().out == ""


def test_statistics_replace_the_per_model_lines(models, capsys) -> None:
    assert cli.main(["--statistics", "broken_chain.tflite", "float_model.tflite", "int8_cnn.tflite"]) == 1
    assert capsys.readouterr().out == (
        "    2  TPU200  unsupported-dtype (error)\n"
        "    1  TPU003  model-not-quantized (error)\n"
        "    1  TPU100  unsupported-op (error)\n"
        "\n"
        "Found 4 errors in 3 models; 7/12 ops on the Edge TPU, 2 models with ops on the CPU\n")


def test_a_failed_ops_ratio_says_why(models, capsys) -> None:
    assert cli.main(["--fail-on", "never", "--min-tpu-ops-ratio", "0.5", "broken_chain.tflite", "int8_cnn.tflite"]) == 1
    assert capsys.readouterr().err == (
        "tpulint: broken_chain.tflite: 1 of 4 ops (25%) on the Edge TPU, below min-tpu-ops-ratio 0.5\n")
    assert cli.main(["--fail-on", "never", "--min-tpu-ops-ratio", "0.5", "--format", "json", "int8_cnn.tflite"]) == 0
    assert capsys.readouterr().err == ""


def test_model_explorer_writes_one_node_data_file_per_model(models, capsys) -> None:
    Path("sub").mkdir()
    shutil.copy("int8_cnn.tflite", "sub/int8_cnn.tflite")
    args = ["--format", "model-explorer", "broken_chain.tflite", "int8_cnn.tflite", "sub/int8_cnn.tflite"]
    assert cli.main(args) == 2  # Model Explorer overlays one model at a time: nothing is dropped silently
    out = capsys.readouterr()
    assert out.out == "" and out.err == (
        "tpulint: --format model-explorer: 3 models, and Model Explorer overlays one at a time: give -o DIR for "
        "one node-data file per model\n")
    assert cli.main([*args, "-o", "overlays"]) == 1
    assert capsys.readouterr().err == "tpulint: wrote 3 Model Explorer node-data file(s) to overlays\n"
    written = {p.name: json.loads(p.read_text()) for p in Path("overlays").iterdir()}
    assert sorted(written) == ["broken_chain.node-data.json", "int8_cnn.node-data.json", "sub__int8_cnn.node-data.json"]
    for name, model in [("broken_chain", "broken_chain.tflite"), ("int8_cnn", "int8_cnn.tflite")]:
        assert cli.main(["--format", "model-explorer", model]) in (0, 1)
        assert written[f"{name}.node-data.json"] == json.loads(capsys.readouterr().out)
    assert written["broken_chain.node-data.json"]["results"]["floor_1"] == {"value": 0, "bgColor": "#e8590c"}
    # one model into an existing folder: a file in it
    assert cli.main(["--format", "model-explorer", "-o", "overlays", "-q", "sub/int8_cnn.tflite"]) == 0
    assert capsys.readouterr().err == ""
