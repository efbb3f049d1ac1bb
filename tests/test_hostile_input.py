"""Issue #12's attacks, one section per item: each asserts the exact outcome (exit status, the one line) and,
for the bombs, the time and memory of a child process (tests/child.py)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace

import numpy as np
import pytest

from child import memory_bound_mib, run_cli
from conftest import FIXTURES, ROOT

sys.path.insert(0, str(ROOT / "bench"))

import attacks  # noqa: E402

from tpulint import cli  # noqa: E402
from tpulint.testing import ModelBuilder  # noqa: E402

GOOD = str(FIXTURES / "int8_cnn.tflite")
CPU_BOUND = 1.0  # seconds of CPU a bomb may take once fixed (interpreter start included)


def _write(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _bounded(run, *paths) -> None:
    assert run.cpu_seconds < CPU_BOUND, f"{run.cpu_seconds:.2f} s of CPU"
    assert run.peak_mib is not None and run.peak_mib <= memory_bound_mib(*paths), f"{run.peak_mib:.0f} MiB"


def _package_lines(path: str, problem: str) -> list[str]:
    return [f"{path}: TPU800 already compiled for the Edge TPU (compiler version unknown (no readable package)): 1 Edge "
            f"TPU subgraph(s), "
            f"0 op(s) left on the CPU; CPU ops are checked as in an uncompiled model",
            f"{path}: op 0 edgetpu-custom-op: TPU801 the Edge TPU package of this op cannot be read: {problem}",
            f"{path}: compiled: 1 Edge TPU custom op, 0 ops on the CPU (source ops per custom op: give the "
            "uncompiled model with --source)"]


# --- 1. FlexBuffer fan-out bomb ----------------------------------------------------------------------------

@pytest.mark.parametrize("levels, fan_out, key", [(16, 4, None), (15, 4, "6"), (15, 3, "1")])
def test_flexbuffer_fanout_bomb_is_bounded(tmp_path, levels, fan_out, key):
    options = attacks.fanout_bomb(levels, fan_out, key)
    path = _write(tmp_path, "bomb.tflite", attacks.compiled_model(options))
    run = run_cli(["--isolated", path])
    problem = ("custom options are not a FlexBuffer map: not written by edgetpu_compiler" if key is None else
               f"corrupt custom options (not an Edge TPU FlexBuffer map): decodes to more values than its "
               f"{len(options)} bytes can hold (shared sub-vectors)")
    assert (run.returncode, run.lines, run.stderr) == (1, _package_lines(path, problem), "")
    _bounded(run, path)


def test_flexbuffer_dag_decoding_is_bounded_by_the_buffer():
    from tpulint.flexbuffer import FlexBufferError, loads

    with pytest.raises(FlexBufferError, match=r"^corrupt FlexBuffer: decodes to more values than its \d+ bytes"):
        loads(attacks.fanout_bomb(16, 4))
    assert loads(attacks.fanout_bomb(3, 4)) == [[[7]] * 4] * 4  # a small DAG is fine: 21 values, 150 bytes


# --- 2. Edge TPU package amplification ---------------------------------------------------------------------

def test_ops_sharing_one_package_decode_it_once(tmp_path):
    pkg = attacks.package([attacks.executable()], compiler="c" * (2 << 20))
    path = _write(tmp_path, "shared.tflite", attacks.compiled_model(attacks.edgetpu_options(pkg), ops=2000))
    run = run_cli(["--isolated", "--format", "json", path])
    assert (run.returncode, run.stderr) == (0, "")
    info = json.loads(run.stdout)["models"][0]["compiled_info"]
    assert info["edgetpu_subgraphs"] == 2000 and len(info["edgetpu_ops"]) == 2000
    assert info["compiler_version"] == "c" * 1024 + f"... ({2 << 20} characters)"
    assert [e["op"] for e in info["executables"]] == [0]  # one executable, listed with the first op holding it
    assert len(run.stdout) < 2 * os.path.getsize(path)  # was 2000 x 2 MB
    _bounded(run, path)


def test_one_executable_listed_a_thousand_times(tmp_path):
    pkg = attacks.package([attacks.executable("n" * (1 << 20))], repeat=1000)
    path = _write(tmp_path, "repeat.tflite", attacks.compiled_model(attacks.edgetpu_options(pkg)))
    run = run_cli(["--isolated", "--format", "json", path])
    assert (run.returncode, run.stderr) == (0, "")
    (exe,) = json.loads(run.stdout)["models"][0]["compiled_info"]["executables"]
    assert exe["name"] == "n" * 1024 + f"... ({1 << 20} characters)"
    _bounded(run, path)


def test_key_vector_of_millions_of_references(tmp_path):
    options = attacks.edgetpu_options(attacks.package([attacks.executable()]), keys=2_000_000)
    path = _write(tmp_path, "keys.tflite", attacks.compiled_model(options))
    run = run_cli(["--isolated", path])
    assert run.returncode == 0 and run.stderr == ""
    assert run.lines[-1] == (f"{path}: compiled: 1 Edge TPU custom op, 0 ops on the CPU; needs Edge TPU runtime 14 "
                             "or newer (source ops per custom op: give the uncompiled model with --source)")
    assert "TPU801" not in run.stdout  # the package is found by binary search, the 2M keys never decoded
    _bounded(run, path)


def test_overlapping_payloads_are_not_decoded_past_the_file_size():
    from tpulint.compiled import _Decoder
    from tpulint.model import read_model_bytes

    data = attacks.compiled_model(attacks.edgetpu_options(attacks.package([attacks.executable()])), ops=2)
    op0, op1 = read_model_bytes(data).main.operators
    start, length = op0.custom_options_span
    decoder = _Decoder(data, 0, length + 10)  # room for one payload only
    first = decoder.op(0, op0)
    assert first.problem is None
    shifted = replace(op1, custom_options_span=(start + 1, length - 1))
    assert decoder.op(0, shifted).problem == (
        "the custom options overlap other edgetpu-custom-ops' (decoding them would read more than the whole file)")
    assert decoder.op(0, op1).package is first.package  # the same span: decoded once


# --- 3. Tracebacks on small valid models; one model's bug never ends the run ---------------------------------

def _reduce(opcode: str, axis: float) -> bytes:
    b = ModelBuilder()
    b.tensor("x", [1, 4, 4, 8], "int8")
    b.tensor("ax", [1], "float32", data=np.array([axis], np.float32))
    b.tensor("y", [1, 8], "int8")
    return b.op(opcode, ["x", "ax"], ["y"]).io(["x"], ["y"]).build()


def _pad_to_scalar() -> bytes:
    b = ModelBuilder()
    b.tensor("x", [1, 4], "int8")
    b.tensor("p", [2, 2], "int32", data=np.zeros((2, 2), np.int32))
    b.tensor("y", [], "int8")
    return b.op("PAD", ["x", "p"], ["y"]).io(["x"], ["y"]).build()


@pytest.mark.parametrize("build, last", [
    # an op on a rank-0 activation stays on the CPU (TPU302)
    (_pad_to_scalar, "0/1 ops on the Edge TPU, 1 on the CPU, 0 Edge TPU subgraphs; nothing maps"),
    (lambda: _reduce("MEAN", float("inf")), "0/1 ops on the Edge TPU, 1 on the CPU, 0 Edge TPU subgraphs; nothing maps"),
    (lambda: _reduce("SUM", float("nan")), "0/1 ops on the Edge TPU, 1 on the CPU, 0 Edge TPU subgraphs; nothing maps"),
    (lambda: _reduce("REDUCE_MAX", float("-inf")),
     "0/1 ops on the Edge TPU, 1 on the CPU, 0 Edge TPU subgraphs; nothing maps"),
])
def test_valid_models_that_crashed(tmp_path, capsys, build, last):
    path = _write(tmp_path, "m.tflite", build())
    status = cli.main(["--isolated", path])
    out, err = capsys.readouterr()
    assert (out.splitlines()[-1], err) == (f"{path}: {last}", "")
    assert status == (0 if "fully" in last else 1)


@pytest.fixture()
def buggy(monkeypatch):
    """analyze_model raising for models whose path ends in boom.tflite (a test double: no real model does)."""
    from tpulint import analysis

    original = analysis.analyze_model

    def analyze_model(model, config):
        if model.path.endswith("boom.tflite"):
            raise ZeroDivisionError("division by zero")
        return original(model, config)

    monkeypatch.setattr(analysis, "analyze_model", analyze_model)


INTERNAL = ("internal error: ZeroDivisionError: division by zero (a bug in tpulint: please report it with the "
            "model at https://github.com/tpulint/tpulint/issues; --debug shows the traceback)")


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("fmt", ["concise", "json", "sarif"])
def test_a_bug_in_one_model_is_that_models_error(tmp_path, capsys, buggy, jobs, fmt):
    boom = _write(tmp_path, "boom.tflite", (FIXTURES / "int8_cnn.tflite").read_bytes())
    broken = str(FIXTURES / "broken_chain.tflite")
    status = cli.main(["--isolated", "-j", jobs, "--format", fmt, GOOD, boom, broken])
    out, err = capsys.readouterr()
    assert (status, err) == (2, f"tpulint: {boom}: {INTERNAL}\n")
    if fmt == "json":
        models = json.loads(out)["models"]
        assert [m["error"] for m in models] == [None, {"message": INTERNAL}, None]
        assert models[2]["summary"]["cpu_ops"] == 3
    elif fmt == "concise":  # the last model's verdict, then the run's summary line
        assert out.splitlines()[-2].startswith(f"{broken}: 1/4 ops on the Edge TPU")
        assert out.splitlines()[-1] == ("Found 1 error in 3 models (1 not analysed); 7/10 ops on the Edge TPU, "
                                        "1 model with ops on the CPU")


def test_debug_shows_the_traceback(tmp_path, capsys, buggy):
    boom = _write(tmp_path, "boom.tflite", (FIXTURES / "int8_cnn.tflite").read_bytes())
    assert cli.main(["--isolated", "--debug", boom]) == 2
    err = capsys.readouterr()[1].splitlines()
    assert err[0] == f"tpulint: {boom}: {INTERNAL}"
    assert err[1] == "Traceback (most recent call last):" and err[-1] == "ZeroDivisionError: division by zero"


# --- 4. A file that shrinks while it is read -----------------------------------------------------------------

def _large_model() -> bytes:
    from tpulint.flatbuf import COLD_FILE_SIZE

    b = ModelBuilder()
    rows = COLD_FILE_SIZE // 1024 + 16
    b.tensor("x", [1, 1024], "int8")
    b.tensor("w", [rows, 1024], "int8", data=rows * 1024)
    b.tensor("y", [1, rows], "int8")
    return b.op("FULLY_CONNECTED", ["x", "w", None], ["y"]).build()


_SHRINK_DURING_PARSE = """
import subprocess, sys, time
import tpulint.model as m
from tpulint import cli
path = sys.argv[1]
parse = m.parse_model
def shrinking(*args):  # another process truncates the file while it is being parsed
    subprocess.Popen([sys.executable, "-c", f"import os; os.truncate({path!r}, 1000)"])
    time.sleep(0.3)
    return parse(*args)
m.parse_model = shrinking
sys.exit(cli.main(["--isolated", path]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="file leases are Linux's")
def test_large_file_truncated_during_the_parse(tmp_path):
    import subprocess

    path = _write(tmp_path, "large.tflite", _large_model())
    run = subprocess.run([sys.executable, "-c", _SHRINK_DURING_PARSE, path], capture_output=True, text=True,
                         timeout=20)
    # The lease holds the truncation back until the parse is done (it used to die of SIGBUS, exit -7/135).
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines()[-1] == f"{path}: 1/1 ops on the Edge TPU, 0 on the CPU, 1 Edge TPU subgraph; fully mapped"


def test_compiled_model_truncated_before_its_package_is_read(tmp_path):
    from tpulint.compiled import inspect
    from tpulint.model import read_model

    data = attacks.compiled_model(attacks.edgetpu_options(attacks.package([attacks.executable()])))
    path = _write(tmp_path, "c.tflite", data)
    model = read_model(path)
    os.truncate(path, len(data) // 2)
    (op,) = inspect(model).ops
    assert op.problem == "cannot reopen the model file to read the Edge TPU package: the file changed since it was read"


# --- 7. Config and baseline files: one line naming the file and the key, exit 2 -------------------------------

@pytest.mark.parametrize("toml, message", [
    ('[tool.tpulint.per-file-ignores]\n"*.tflite" = 5\n',
     'tool.tpulint.per-file-ignores."*.tflite": expected a list of strings, got int'),
    ('[tool]\ntpulint = 5\n', "tool.tpulint: expected a table, got int"),
    ('tool = "x"\n', "tool: expected a table, got str"),
    ('[tool.tpulint.per-file-ignores]\n"*.tflite" = "TPU999"\n',
     'tool.tpulint.per-file-ignores."*.tflite": expected a list of strings, got str'),
    ('[tool.tpulint]\nselect = [1, 2]\n', "tool.tpulint.select: expected a list of strings, got an item of type int"),
    ('[tool.tpulint]\nintermediate-tensors = [[1]]\n',
     "tool.tpulint.intermediate-tensors: expected a list of strings, got an item of type list"),
    ('[tool.tpulint]\nselect = ["TPU999"]\n', "tool.tpulint.select: unknown rule code 'TPU999'; did you mean TPU009, TPU509?"),
    ('[tool.tpulint]\nignore = ["TPU1", "TPO2"]\n', "tool.tpulint.ignore: unknown rule code 'TPO2'; did you mean TPU002, TPU102, TPU200?"),
    ('[tool.tpulint.per-file-ignores]\n"legacy/*" = ["TPU1OO"]\n',
     'tool.tpulint.per-file-ignores."legacy/*": unknown rule code \'TPU1OO\'; did you mean TPU100, TPU101, TPU102?'),
])
def test_bad_config_is_one_line(tmp_path, capsys, toml, message):
    (tmp_path / "pyproject.toml").write_text(toml)
    assert cli.main(["--config", str(tmp_path / "pyproject.toml"), GOOD]) == 2
    assert capsys.readouterr() == ("", f"tpulint: {tmp_path}/pyproject.toml: {message}\n")


@pytest.mark.parametrize("args, message", [
    (["--select", "TPU999"], "--select: unknown rule code 'TPU999'; did you mean TPU009, TPU509?"),
    (["--ignore", "TPU1,XYZ"], "--ignore: unknown rule code 'XYZ'; `tpulint rule --all` lists the codes"),
])
def test_unknown_codes_on_the_command_line(capsys, args, message):
    assert cli.main(["--isolated", *args, GOOD]) == 2
    assert capsys.readouterr() == ("", f"tpulint: {message}\n")


@pytest.mark.parametrize("cpu_ops, shown", [
    ('"many"', 'string "many"'), ("null", "null"), ("[1]", "array"), ("1e999", "number Infinity"), ("-1", "number -1"),
])
def test_bad_baseline_value_is_one_line(tmp_path, capsys, cpu_ops, shown):
    baseline = tmp_path / "b.json"
    baseline.write_text(f'{{"tpulint_baseline": 1, "models": {{"m.tflite": {{"cpu_ops": {cpu_ops}}}}}}}')
    assert cli.main(["--isolated", "--baseline", str(baseline), GOOD]) == 2
    out, err = capsys.readouterr()
    assert err == f'tpulint: {baseline}: models."m.tflite".cpu_ops: expected a count (an integer >= 0), got {shown}\n'


def test_deeply_nested_baseline(tmp_path):
    baseline = tmp_path / "b.json"
    baseline.write_text("[" * 100_000 + "]" * 100_000)
    run = run_cli(["--isolated", "--baseline", str(baseline), GOOD])
    assert (run.returncode, run.errors) == (2, [f"tpulint: {baseline}: baseline is not valid JSON: nested too deeply"])
    _bounded(run, baseline)


# --- 12. Python API --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_analyze_takes_the_models_bytes(kind):
    import tpulint

    report = tpulint.analyze(kind((FIXTURES / "int8_cnn.tflite").read_bytes()))
    assert (report.path, report.ops, report.tpu_ops) == ("<bytes>", 6, 6)
    with pytest.raises(tpulint.ModelError, match="^empty file$"):
        tpulint.analyze(kind(b""))


@pytest.mark.parametrize("args, options, error, message", [
    ((5,), {}, TypeError, "analyze() takes a path or the model's bytes, not int"),
    ((GOOD, {}), {}, TypeError, "config must be a tpulint.Config, not dict"),
    ((GOOD,), {"select": "TPU1"}, TypeError, "select: expected a list of strings, got str"),
    ((GOOD,), {"ignore": [1]}, TypeError, "ignore: expected a list of strings, got an item of type int"),
    ((GOOD,), {"per_file_ignores": {"*.tflite": "TPU1"}}, TypeError,
     'per_file_ignores: expected a list of strings, got str'),
    ((GOOD,), {"min_runtime": "13"}, TypeError, "min_runtime: expected int, got str"),
    ((GOOD,), {"multiple_subgraphs": 1}, TypeError, "multiple_subgraphs: expected bool, got int"),
    ((GOOD,), {"colour": True}, TypeError, "unknown option 'colour'; known: compiler, min_runtime, multiple_subgraphs, "
     "intermediate_tensors, select, ignore, per_file_ignores, fail_on, min_tpu_ops_ratio, runtime_version, source, "
     "severity, limits, exclude, extend_exclude, respect_gitignore"),
    ((GOOD,), {"compiler": "17.0"}, ValueError, "unknown compiler version '17.0'; known: 2.0, 2.1, 14.1, 15.0, 16.0"),
    ((GOOD,), {"min_runtime": 9}, ValueError, "min-runtime must be between 10 and 14, not 9"),
    ((GOOD,), {"select": ["TPU999"]}, ValueError, "select: unknown rule code 'TPU999'; did you mean TPU009, TPU509?"),
])
def test_analyze_rejects_bad_arguments(args, options, error, message):
    import tpulint

    with pytest.raises(error) as e:
        tpulint.analyze(*args, **options)
    assert str(e.value) == message


def test_analyze_takes_lists_and_tuples_of_codes():
    import tpulint

    assert tpulint.analyze(GOOD, select=["TPU1"]).config.select == ("TPU1",)
    assert tpulint.analyze(GOOD, ignore=("TPU",)).findings == ()


# --- 5. Workflow commands from file names ------------------------------------------------------------------

def _no_workflow_command(text: str, own: bool = False) -> None:
    import re

    for line in re.split(r"\r\n|\r|\n", text):
        if re.match(r"\s*(::|##\[)", line):
            assert own and line.startswith("::") and not line.startswith(("::add-mask", "::error title")), line


@pytest.mark.parametrize("fmt", ["concise", "full", "markdown", "html", "json", "sarif", "model-explorer", "github"])
def test_file_names_cannot_issue_workflow_commands(tmp_path, capsys, monkeypatch, fmt):
    for name in ("::error title=pwned::x.tflite", "::add-mask::y.tflite", "##[error]z.tflite"):
        (tmp_path / name).write_bytes((FIXTURES / "broken_chain.tflite").read_bytes())
    monkeypatch.chdir(tmp_path)
    to_folder = ["-o", "explorer"] if fmt == "model-explorer" else []  # one node-data file per model
    assert cli.main(["--isolated", "--format", fmt, *to_folder, "."]) == 1
    out, err = capsys.readouterr()
    if to_folder:
        out = "".join(p.read_text(encoding="utf-8") for p in sorted((tmp_path / "explorer").iterdir()))
        err = err.replace("tpulint: wrote 3 Model Explorer node-data file(s) to explorer\n", "")
    _no_workflow_command(out, own=fmt == "github")
    assert err == ""
    if fmt == "concise":
        cost = "; its CPU fallback cuts 2 ops off the Edge TPU segment"
        assert out.splitlines()[0] == r"\x23#[error]z.tflite: op 1 FLOOR (floor_1): TPU100 FLOOR is not supported " \
                                      "by Edge TPU compiler 16.0" + cost
        assert out.splitlines()[2] == r"\x3a:add-mask::y.tflite: op 1 FLOOR (floor_1): TPU100 FLOOR is not " \
                                      "supported by Edge TPU compiler 16.0" + cost


def test_tensor_names_cannot_issue_workflow_commands():
    from tpulint.render.escape import no_workflow_commands

    escapes = {":": "\\x3a", "#": "\\x23"}
    assert no_workflow_commands("a\n  ::error::x\r::add-mask::y\n\u2003##[group]z\nok :: fine", escapes) == (
        "a\n  \\x3a:error::x\r\\x3a:add-mask::y\n\u2003\\x23#[group]z\nok :: fine")


# --- 11. Markdown: mentions, links, long names -----------------------------------------------------------------

def test_markdown_neutralises_mentions_and_links(tmp_path, capsys):
    from tpulint.render.escape import markdown_text

    assert markdown_text("@octocat @org/team https://evil.example www.evil.com a@b.c email@ 2@") == (
        "@\u200boctocat @\u200borg/team https:\u200b//evil.example www\u200b.evil.com a@\u200bb.c email@ 2@")
    b = ModelBuilder()
    b.tensor("x", [1, 4], "int8")
    b.tensor("@octocat see https://evil.example", [1, 4], "int8")
    b.op("FLOOR", ["x"], ["@octocat see https://evil.example"])
    path = _write(tmp_path, "m.tflite", b.build())
    cli.main(["--isolated", "--format", "markdown", path])
    out = capsys.readouterr()[0]
    assert "| op 0 FLOOR (@\u200boctocat see https:\u200b//evil.example) |" in out
    assert "@octocat" not in out and "https://evil" not in out


def test_markdown_cuts_a_long_name_not_the_report(tmp_path, capsys):
    long_name = "n" * (1 << 20)
    b = ModelBuilder()
    b.tensor("x", [1, 4], "int8")
    b.tensor(long_name, [1, 4], "int8")
    b.op("FLOOR", ["x"], [long_name])
    path = _write(tmp_path, "long.tflite", b.build())
    cli.main(["--isolated", "--format", "markdown", path, str(FIXTURES / "broken_chain.tflite")])
    out = capsys.readouterr()[0]
    assert "Report truncated" not in out and len(out) < 20_000
    assert f"| 0 FLOOR | {'n' * 1000}… (1,048,576 characters) | Operation not supported | TPU100 |" in out
    assert f"## {FIXTURES / 'broken_chain.tflite'}".replace("_", "\\_") in out  # the next model is still there


# --- 8. Signals ----------------------------------------------------------------------------------------------

def _wait_for(predicate, timeout: float = 10.0) -> None:
    import time

    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("signame, status, errors", [
    ("SIGINT", 130, ["tpulint: interrupted"]), ("SIGTERM", 143, []), ("SIGHUP", 129, []),
])
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_signal_during_output_leaves_nothing_behind(tmp_path, signame, status, errors, jobs):
    import signal

    from child import finish, start_cli

    proc = start_cli(["--isolated", "-j", jobs, "--format", "json", "-o", "out.json"] + [GOOD] * 3000, cwd=tmp_path)
    _wait_for(lambda: any(tmp_path.glob(".out.json.*.tmp")))
    sig = getattr(signal, signame)
    if signame == "SIGINT":  # Ctrl-C reaches the whole process group, workers included
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    run = finish(proc)
    assert (run.returncode, run.errors, sorted(os.listdir(tmp_path))) == (status, errors, [])


def test_a_temporary_of_a_killed_run_is_not_reused(tmp_path, capsys):
    # What a run killed with SIGKILL leaves: the name the previous scheme would give this process, as a symlink.
    (tmp_path / "victim").write_text("keep")
    (tmp_path / f".out.json.{os.getpid()}.tmp").symlink_to(tmp_path / "victim")
    assert cli.main(["--isolated", "--format", "json", "-o", str(tmp_path / "out.json"), GOOD]) == 0
    assert (tmp_path / "victim").read_text() == "keep"
    assert json.loads((tmp_path / "out.json").read_text())["models"][0]["summary"]["tpu_ops"] == 6


# --- 9. -o never replaces what it should not --------------------------------------------------------------------

def test_output_never_overwrites_an_input_model(tmp_path, capsys):
    model = _write(tmp_path, "m.tflite", (FIXTURES / "int8_cnn.tflite").read_bytes())
    os.symlink(model, tmp_path / "link")
    for output in (model, str(tmp_path / "link")):
        assert cli.main(["--isolated", "-o", output, str(tmp_path)]) == 2
        assert capsys.readouterr() == ("", f"tpulint: {output}: refusing to overwrite {model}, an input model\n")
    assert cli.main(["--isolated", "--write-baseline", model, model]) == 2
    assert (tmp_path / "m.tflite").read_bytes() == (FIXTURES / "int8_cnn.tflite").read_bytes()


def test_output_writes_through_a_symlink(tmp_path, capsys):
    (tmp_path / "real.json").write_text("old")
    os.chmod(tmp_path / "real.json", 0o640)
    os.symlink("real.json", tmp_path / "out.json")
    assert cli.main(["--isolated", "--format", "json", "-o", str(tmp_path / "out.json"), GOOD]) == 0
    assert os.path.islink(tmp_path / "out.json")
    assert json.loads((tmp_path / "real.json").read_text())["models"][0]["path"] == GOOD
    assert oct(os.stat(tmp_path / "real.json").st_mode & 0o777) == "0o640"  # the file's mode is kept


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_output_writes_into_a_fifo(tmp_path):
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    run = run_cli(["--isolated", "--format", "json", "-o", str(fifo), GOOD])
    reader.join(10)
    assert (run.returncode, run.stderr) == (0, "")
    assert json.loads(got[0])["models"][0]["summary"]["tpu_ops"] == 6
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and sorted(os.listdir(tmp_path)) == ["pipe"]


# --- 6. Symlink loops in directories and globs ------------------------------------------------------------------

@pytest.fixture()
def looped(tmp_path):
    """dir/m.tflite, dir/sub/b.tflite, and dir/a, dir/b, dir/sub/up linking back up the tree."""
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "m.tflite").write_bytes((FIXTURES / "int8_cnn.tflite").read_bytes())
    (tmp_path / "dir" / "sub" / "b.tflite").write_bytes((FIXTURES / "broken_chain.tflite").read_bytes())
    for link, target in (("dir/a", "."), ("dir/b", "."), ("dir/sub/up", "../..")):
        os.symlink(target, tmp_path / link)
    return tmp_path


@pytest.mark.parametrize("arg, found", [
    ("dir", ["dir/m.tflite", "dir/sub/b.tflite"]),
    ("dir/**/*.tflite", ["dir/m.tflite", "dir/sub/b.tflite"]),
    ("**/*.tflite", ["dir/m.tflite", "dir/sub/b.tflite"]),
    ("dir/*/*.tflite", ["dir/a/m.tflite", "dir/sub/b.tflite"]),  # a bounded pattern goes through the links
])
def test_symlink_loops_visit_each_file_once(looped, arg, found):
    run = run_cli(["--isolated", "--format", "json", arg], cwd=looped)
    assert (run.returncode, run.stderr) == (1, "")
    assert [m["path"] for m in json.loads(run.stdout)["models"]] == found
    _bounded(run)


def test_the_same_file_through_links_in_one_glob(looped, capsys, monkeypatch):
    from tpulint.paths import iter_model_paths

    monkeypatch.chdir(looped)
    assert list(iter_model_paths(["dir/*"])) == [("dir/m.tflite", None), ("dir/sub/b.tflite", None)]
    assert list(iter_model_paths(["dir/a/m.tflite", "dir/m.tflite"])) == [  # named files are taken as given
        ("dir/a/m.tflite", None), ("dir/m.tflite", None)]


# --- 10. Memory (and time) on large well-formed models -----------------------------------------------------------

def test_repeated_long_name_is_not_repeated_in_memory(tmp_path):
    """One CONCATENATION reading a 64 KB-named tensor 4,000 times: 262 MB of JSON, written piece by piece."""
    name = "n" * 65536
    b = ModelBuilder()
    b.tensor(name, [1, 1, 1, 1], "int8")
    b.tensor("out", [1, 1, 1, 4000], "int8")
    path = _write(tmp_path, "concat.tflite", b.op("CONCATENATION", [name] * 4000, ["out"], axis=3).build())
    run = run_cli(["--isolated", "--format", "json", "-o", str(tmp_path / "out.json"), path], timeout=30)
    assert (run.returncode, run.stderr) == (0, "")
    assert os.path.getsize(tmp_path / "out.json") > 4000 * 65536
    assert run.peak_mib is not None and run.peak_mib <= memory_bound_mib(path), f"{run.peak_mib:.0f} MiB"


def test_full_format_of_a_long_cut_chain_is_linear(tmp_path):
    b = ModelBuilder()
    b.tensor("t0", [1, 4], "int8")
    for i in range(20_000):
        b.tensor(f"t{i + 1}", [1, 4], "int8")
        b.op("FLOOR" if i == 3 else "RELU", [f"t{i}"], [f"t{i + 1}"])
    path = _write(tmp_path, "chain.tflite", b.build())
    run = run_cli(["--isolated", "--format", "full", path], timeout=60)
    assert run.returncode == 1 and run.lines[-2] == "Verdict: 3/20000 ops on the Edge TPU, 19997 on the CPU, " \
                                                    "1 Edge TPU subgraph; partially mapped"
    assert "  op 19999 RELU                     t20000: cut off by op 3 FLOOR" in run.lines
    assert run.cpu_seconds < 10, f"{run.cpu_seconds:.1f} s of CPU (a scan per CPU op took minutes)"
