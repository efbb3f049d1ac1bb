"""Every output format streams (issue #15, #12 item 10): on a large model its peak RSS is that of the analysis plus
a few MiB, and a batch costs about what one of its models costs (each model is written, then released)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from child import ROOT, finish, memory_bound_mib, run_cli

from tpulint.render import FORMATS
from tpulint.testing import ModelBuilder

ANALYSIS = "import sys; from tpulint.analysis import analyze; analyze(sys.argv[1])"
OUTPUT_MIB = 10  # what a format may add to the analysis' peak (the old full/Markdown added 20 MiB here, HTML 80)
BATCH_MIB = 5  # what 50 models may add to one model's peak (SARIF added 13 MiB, HTML 150, full 27)


def _chain(n_ops: int, cpu: "set[int]") -> bytes:
    """An int8 RELU chain whose ops in `cpu` are FLOORs (on the CPU, cutting off what follows)."""
    b = ModelBuilder()
    b.tensor("t0", [1, 4], "int8", quant=(0.05, 0))
    for i in range(n_ops):
        b.tensor(f"t{i + 1}", [1, 4], "int8", quant=(0.05, 0))
        b.op("FLOOR" if i in cpu else "RELU", [f"t{i}"], [f"t{i + 1}"])
    return b.build()


def _peak(args: list[str]) -> float:
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_child.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    run = finish(proc, timeout=60)
    assert run.returncode == 0 and run.peak_mib is not None, run.stderr
    return run.peak_mib


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> tuple[str, float]:
    """A 20,000-op chain cut near its end (CPU rows, a finding, a segment), and the peak RSS of its analysis."""
    path = tmp_path_factory.mktemp("large") / "chain.tflite"
    path.write_bytes(_chain(20_000, {19_990}))
    return str(path), _peak(["-c", ANALYSIS, str(path)])


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_large_model_costs_its_analysis(large, tmp_path, fmt):
    path, analysis = large
    run = run_cli(["--isolated", "--format", fmt, "-o", str(tmp_path / "out"), path], timeout=60)
    assert (run.returncode, run.stderr) == (1, "")  # the FLOOR's error finding
    assert run.peak_mib is not None and run.peak_mib <= memory_bound_mib(path), f"{run.peak_mib:.0f} MiB"
    assert run.peak_mib <= analysis + OUTPUT_MIB, f"{fmt}: {run.peak_mib:.0f} MiB, the analysis {analysis:.0f}"


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> tuple[str, str]:
    """One 300-op model with a FLOOR every 7th op (42 findings), and a folder of 50 copies of it."""
    folder = tmp_path_factory.mktemp("batch")
    (folder / "many").mkdir()
    one = folder / "one.tflite"
    one.write_bytes(_chain(300, set(range(6, 300, 7))))
    for i in range(50):
        shutil.copy(one, folder / "many" / f"m{i:03d}.tflite")
    return str(one), str(folder / "many")


@pytest.mark.parametrize("fmt", ["concise", "full", "json", "sarif", "html", "markdown", "github", "model-explorer"])
def test_a_batch_holds_one_model_at_a_time(batch, tmp_path, fmt):
    one, many = batch
    peaks = []
    for n, path in enumerate((one, many)):
        run = run_cli(["--isolated", "--format", fmt, "-q", "-o", str(tmp_path / f"out{n}"), path], timeout=60)
        assert (run.returncode, run.stderr) == (1, ""), run.stderr
        assert run.peak_mib is not None
        peaks.append(run.peak_mib)
    # Markdown holds its text up to GitHub's 1 MiB limit, and a few copies of that when it cuts the report there
    # (the batch's report is cut, the one model's is not): bounded by the limit, not by the batch.
    allowed = BATCH_MIB + (4 if fmt == "markdown" else 0)
    assert peaks[1] <= peaks[0] + allowed, f"{fmt}: one model {peaks[0]:.0f} MiB, 50 models {peaks[1]:.0f} MiB"
