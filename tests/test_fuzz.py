"""Seeded mutation fuzzing (bench/fuzz.py): every mutated model ends in a report or a ModelError, fast and small."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections import Counter

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import fuzz  # noqa: E402

from tpulint import cli  # noqa: E402

CASES = 3000  # the long run: python bench/fuzz.py --cases 20000


def test_fuzz_cases_report_or_model_error():
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    failures, counts, _ = fuzz.run(range(CASES), timeout=5.0, max_mib=64.0, memory_every=25, slow_every=10)
    rss_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert not failures, "\n\n".join(f"case {f.case} ({f.seed}: {f.how}; replay with "
                                     f"python bench/fuzz.py --replay {f.case}):\n{f.error}" for f in failures[:5])
    # The run is not vacuous: both outcomes occur in numbers.
    assert counts["report"] >= CASES // 25 and counts["model-error"] >= CASES // 2, counts
    assert rss_growth_mib < 100, f"peak RSS grew by {rss_growth_mib:.0f} MiB during the fuzz run"


def test_every_mutation_kind_is_exercised():
    corpus = fuzz.seeds()
    kinds = Counter()
    for case in range(400):
        _, data, how = fuzz.case_input(case, corpus)
        for step in how.split("; "):
            kinds[step.split()[0]] += 1
    for kind in ("truncate", "flip", "overwrite", "zero", "copy", "insert", "shuffle", "generated",
                 "flexbuffer_dag:", "shared_package:", "hostile_constant:", "scalar_model:"):
        assert kinds[kind] >= 10, kinds
    assert any(k.isdigit() for k in kinds), "random-bytes mutation never ran"


def test_cases_are_deterministic():
    corpus = fuzz.seeds()
    assert [fuzz.case_input(c, corpus) for c in (0, 3, 17, 1234)] == [
        fuzz.case_input(c, fuzz.seeds()) for c in (0, 3, 17, 1234)]


def test_the_fuzzer_catches_an_unchecked_index(monkeypatch):
    """A reader that forgets a bounds check must make the fuzz run fail (else the fuzz test proves nothing)."""
    from tpulint import graph

    original = graph.Graph.build

    def careless(sg):  # pretends a tensor index past the end is fine, as an unchecked reader would
        g = original(sg)
        for op in sg.operators:
            for t in op.inputs:
                sg.tensors[t + len(sg.tensors) if t >= 0 else t]  # IndexError on every op with an input
        return g

    monkeypatch.setattr(graph.Graph, "build", staticmethod(careless))
    failures, _, _ = fuzz.run(range(200), memory_every=0)
    assert failures and "IndexError" in failures[0].error


# --- through the command line -----------------------------------------------------------------------

CLI_CASES = 240


def _mutated_files(tmp_path, n):
    corpus = fuzz.seeds()
    paths = []
    for case in range(100_000, 100_000 + n):
        _, data, _ = fuzz.case_input(case, corpus)
        path = tmp_path / f"case_{case}.tflite"
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_cli_on_mutated_models_exit_status_and_one_line(tmp_path, capsys):
    outcomes = Counter()
    for path in _mutated_files(tmp_path, CLI_CASES):
        status = cli.main(["--isolated", "--format", "json", str(path)])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        if status in (0, 1):
            assert err == ""
            assert json.loads(out)["models"][0]["error"] is None
        else:
            assert status == 2, (path, status, err)
            lines = err.splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"tpulint: {path}: "), err
            assert json.loads(out)["models"][0]["error"]["message"] == lines[0][len(f"tpulint: {path}: "):]
        outcomes[status] += 1
    assert outcomes[2] > CLI_CASES // 2 and outcomes[0] + outcomes[1] > 5, outcomes


def test_cli_subprocess_many_bad_files_one_line_each(tmp_path):
    """One real process over 240 mutated files: every bad file gets its line, the others are still reported."""
    paths = _mutated_files(tmp_path, CLI_CASES)
    proc = subprocess.run([sys.executable, "-m", "tpulint", "--isolated", "--format", "json", *map(str, paths)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    assert [m["path"] for m in doc["models"]] == [str(p) for p in paths]
    bad = [m for m in doc["models"] if m["error"] is not None]
    assert proc.stderr.splitlines() == [f"tpulint: {m['path']}: {m['error']['message']}" for m in bad]


@pytest.mark.parametrize("jobs, fmt", [("2", "json"), ("0", "json"), ("2", "sarif")])
def test_jobs_give_the_serial_output_in_input_order(tmp_path, jobs, fmt):
    paths = [str(p) for p in _mutated_files(tmp_path, 60)] + [str(ROOT / "fixtures")]
    serial = subprocess.run([sys.executable, "-m", "tpulint", "--isolated", "--format", fmt, *paths],
                            capture_output=True, text=True, cwd=ROOT)
    parallel = subprocess.run([sys.executable, "-m", "tpulint", "--isolated", "--format", fmt, "-j", jobs, *paths],
                              capture_output=True, text=True, cwd=ROOT)
    assert (parallel.returncode, parallel.stdout, parallel.stderr) == (serial.returncode, serial.stdout,
                                                                       serial.stderr)
    assert serial.returncode == 2 and len(serial.stderr.splitlines()) > 30
    if fmt == "json":
        assert len(json.loads(serial.stdout)["models"]) == 60 + len(list((ROOT / "fixtures").glob("*.tflite")))


# --- progress: on a terminal only ---------------------------------------------------------------------------

class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.text = ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass


def _drive(stream, monkeypatch, env_ci=None):
    from tpulint import runner

    if env_ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", env_ci)
    monkeypatch.setenv("TERM", "xterm")
    clock = iter([0.0, 0.2, 0.6, 0.65, 0.8, 0.9])
    monkeypatch.setattr(runner.time, "monotonic", lambda: next(clock))
    p = runner.Progress(500, stream=stream, delay=0.5)
    for done, path in ((1, "a.tflite"), (2, "b\x1b[2J.tflite"), (3, "c.tflite"), (4, "d.tflite")):
        p.update(done, path)
    p.clear()


def test_progress_on_a_terminal_after_the_delay(monkeypatch):
    stream = _Stream(tty=True)
    _drive(stream, monkeypatch)
    # t=0.2: too early; t=0.6: shown (escaped); t=0.65: throttled; t=0.8: shown; then erased
    assert stream.text == "\r\x1b[K[2/500] b\\x1b[2J.tflite" + "\r\x1b[K[4/500] d.tflite" + "\r\x1b[K"


@pytest.mark.parametrize("tty, ci", [(False, None), (True, "true")])
def test_no_progress_in_pipes_or_ci(monkeypatch, tty, ci):
    stream = _Stream(tty=tty)
    _drive(stream, monkeypatch, env_ci=ci)
    assert stream.text == ""


def test_jobs_must_not_be_negative(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["-j", "-1", "x.tflite"])
    assert e.value.code == 2
    assert "-j/--jobs: must be 0 (one per core) or more" in capsys.readouterr()[1]
