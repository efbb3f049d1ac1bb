"""Speed and memory of tpulint against its floors and its targets (issue 15), every ratio from one run.

    python bench/speed.py --repeat 5                 # everything: about 8-10 minutes on 2 shared cores
    python bench/speed.py --quick                    # no corpus, no 100k-op chain, no other tools: ~2 minutes
    python bench/speed.py --only jobs                # one part: models, formats, jobs or tools
    python bench/speed.py --readme                   # also refresh the table of README.md

Parts, in the order they run:

* models: per model (generated chains of 3k, 30k and 100k ops, 100 MB of weights, every model of
  ../shared/corpus/real) the read with tpulint's reader, the bare walk with the `tflite` accessors (opcode,
  inputs, outputs, type, shape, shape_signature and quantization of every op and tensor: what any tool built
  on `tflite` pays), tpulint's analysis in-process, the CLI wall time with `--format json` (a fresh
  interpreter) against the import floor `python -c "import tflite, flatbuffers, numpy, networkx"`, and
  peak RSS. Read, walk and analysis run interleaved, so a load spike hits all three alike.
* formats: peak RSS of the CLI in every output format on the 30k and 100k chains and on 500 small models
  analysed serially; HTML against JSON on the 30k chain; `--format full` against JSON on a 30k-op chain with
  a CPU op every 10th op (alternated runs).
* jobs: `-j 2` against serial on 500 small models, default and JSON output, next to the machine's own limit
  measured in the same rounds: two CPU-bound spins, one after the other then in two processes.
* tools: TensorFlow's `tf.lite.experimental.Analyzer` and Arm's `vela` end to end on the 3k chain and a
  corpus model, when installed for --tools-python (never tpulint dependencies: a separate venv, e.g.
  `python -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install tensorflow-cpu ethos-u-vela`).

Times are medians of --repeat runs (the machine is shared: medians, not means). Writes bench/results.md and
exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tflite  # noqa: E402

from tpulint.analysis import analyze  # noqa: E402
from tpulint.model import read_model  # noqa: E402
from tpulint.testing import ModelBuilder, int8_cnn  # noqa: E402

MIB = 1 << 20
FLOOR_IMPORT = "import tflite, flatbuffers, numpy, networkx"
ANALYSIS_ONLY = "import sys; from tpulint.analysis import analyze; analyze(sys.argv[1])"
PARTS = ("models", "formats", "jobs", "tools")

# Targets (issue 15, "Done when").
ANALYSIS_VS_WALK = 0.10  # chain3k and chain30k (the goal beyond: 0.05)
ANALYSIS_VS_WALK_CORPUS = 0.15  # each corpus model over 100 ops
CORPUS_MIN_OPS = 100
SCALING = 11.0  # analysis, 30k / 3k ops
SCALING_100K = 3.7  # analysis, 100k / 30k ops
CLI_VS_IMPORT = 1.0  # CLI json / import floor: every corpus model and chain3k
CLI_VS_IMPORT_30K = 1.5
HTML_VS_JSON = 3.0  # at 30k ops
FULL_VS_JSON = 2.0  # 30k ops with a CPU op every 10th op
RSS_LIMIT = 100 * MIB  # chain30k, every format
PARALLEL_VS_LIMIT = 1.1  # -j 2 / serial against two spins' parallel / serial
SLOW_TIMEOUT = 60.0  # seconds: a CLI run slower than this is reported as such, not waited for


# --- generated models -----------------------------------------------------------------------------

def chain(n_ops: int, channels: int = 8, cpu_every: int = 0) -> bytes:
    """A residual chain of CONV_2D -> DEPTHWISE_CONV_2D -> ADD blocks, per-channel int8 like a real CNN.

    `cpu_every`: every that many ops, a FLOOR (an op the Edge TPU never runs) in place of the block's op,
    so that the CPU ops and what they cut off are spread over the whole model."""
    b = ModelBuilder(f"bench chain of {n_ops} ops")
    act = (0.05, -3)
    per_channel = ([0.01] * channels, [0] * channels, 0)
    b.tensor("input", [1, 32, 32, channels], "int8", quant=act)
    x = block_in = "input"
    for i in range(n_ops):
        p = f"op_{i}" if cpu_every else f"block_{i // 3}"
        kind = i % 3
        if cpu_every and i % cpu_every == cpu_every - 1:
            b.tensor(f"{p}/floor", [1, 32, 32, channels], "int8", quant=act)
            b.op("FLOOR", [x], [f"{p}/floor"])
            x = f"{p}/floor"
            if kind == 0:
                block_in = x
            continue
        if kind == 0:
            block_in = x
            b.tensor(f"{p}/conv/weights", [channels, 1, 1, channels], "int8", quant=per_channel,
                     data=bytes(channels * channels))
            b.tensor(f"{p}/conv/bias", [channels], "int32", quant=per_channel, data=bytes(4 * channels))
            b.tensor(f"{p}/conv", [1, 32, 32, channels], "int8", quant=act)
            b.op("CONV_2D", [x, f"{p}/conv/weights", f"{p}/conv/bias"], [f"{p}/conv"], padding="SAME",
                 stride_w=1, stride_h=1, fused_activation_function="RELU6")
            x = f"{p}/conv"
        elif kind == 1:
            b.tensor(f"{p}/dw/weights", [1, 3, 3, channels], "int8", quant=([0.01] * channels, [0] * channels, 3),
                     data=bytes(9 * channels))
            b.tensor(f"{p}/dw/bias", [channels], "int32", quant=per_channel, data=bytes(4 * channels))
            b.tensor(f"{p}/dw", [1, 32, 32, channels], "int8", quant=act)
            b.op("DEPTHWISE_CONV_2D", [x, f"{p}/dw/weights", f"{p}/dw/bias"], [f"{p}/dw"], padding="SAME",
                 stride_w=1, stride_h=1, depth_multiplier=1)
            x = f"{p}/dw"
        else:
            b.tensor(f"{p}/add", [1, 32, 32, channels], "int8", quant=act)
            b.op("ADD", [x, block_in], [f"{p}/add"])
            x = f"{p}/add"
    return b.build()


def heavy(total_bytes: int = 100 * MIB, layers: int = 25) -> bytes:
    """FULLY_CONNECTED layers whose weights add up to `total_bytes` (the reader must not touch them)."""
    width = int((total_bytes // layers) ** 0.5)
    b = ModelBuilder("bench model with 100 MB of weights")
    q = (0.05, 0)
    b.tensor("input", [1, width], "int8", quant=q)
    x = "input"
    for i in range(layers):
        b.tensor(f"fc{i}/weights", [width, width], "int8", quant=(0.01, 0), data=width * width)
        b.tensor(f"fc{i}/bias", [width], "int32", quant=(0.0005, 0), data=4 * width)
        b.tensor(f"fc{i}", [1, width], "int8", quant=q)
        b.op("FULLY_CONNECTED", [x, f"fc{i}/weights", f"fc{i}/bias"], [f"fc{i}"])
        x = f"fc{i}"
    return b.build()


def small_models(folder: Path, count: int) -> None:
    """`count` small models for the -j measurement: 6 to 150 ops (mean 67), the size of a MobileNet-class
    Edge TPU model (the corpus's median source model has 70 ops)."""
    folder.mkdir(parents=True, exist_ok=True)
    variants = [int8_cnn().build()] + [chain(n) for n in (30, 60, 90, 150)]
    for i in range(count):
        (folder / f"model_{i:03d}.tflite").write_bytes(variants[i % len(variants)])


# --- measurements ---------------------------------------------------------------------------------

def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of fn(); the result is freed after the clock stops (freeing is not the work)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
        del result
    return statistics.median(times)


def tflite_walk(data: bytes) -> int:
    """Every operator and tensor through the `tflite` accessors; returns the number of items visited."""
    m = tflite.Model.GetRootAsModel(data, 0)
    codes = []
    for i in range(m.OperatorCodesLength()):
        c = m.OperatorCodes(i)
        codes.append(max(c.DeprecatedBuiltinCode(), c.BuiltinCode()))
    items = 0
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            codes[op.OpcodeIndex()]
            op.InputsAsNumpy()
            op.OutputsAsNumpy()
            items += 1
        for i in range(sg.TensorsLength()):
            t = sg.Tensors(i)
            t.Name()
            t.Type()
            t.Buffer()
            t.ShapeAsNumpy()
            t.ShapeSignatureAsNumpy()
            q = t.Quantization()
            if q is not None:
                q.ScaleAsNumpy()
                q.ZeroPointAsNumpy()
                q.QuantizedDimension()
            items += 1
    return items


def counts(data: bytes) -> tuple[int, int]:
    """(operators, tensors) of a model, from the `tflite` package: whatever tpulint's reader looks like."""
    m = tflite.Model.GetRootAsModel(data, 0)
    subgraphs = [m.Subgraphs(s) for s in range(m.SubgraphsLength())]
    return sum(sg.OperatorsLength() for sg in subgraphs), sum(sg.TensorsLength() for sg in subgraphs)


CHILD = str(ROOT / "bench" / "_child.py")


class TooSlow(Exception):
    pass


def run_child(args: list[str], timeout: float | None = None) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in bytes, exit status) of `python bench/_child.py ARGS`, output discarded."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its .pyc files; so does the floor
    t = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, CHILD, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TooSlow(f"{' '.join(args)}: still running after {timeout:.0f} s") from None
    wall = time.perf_counter() - t
    err = proc.stderr.decode(errors="replace")
    if proc.returncode not in (0, 1) or "PEAK_RSS_KIB" not in err:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {err}")
    return wall, int(err.rsplit("PEAK_RSS_KIB", 1)[1]) * 1024, proc.returncode


def cli(*args: str) -> list[str]:
    return ["-m", "tpulint", "--isolated", *args]


def median_pair(first: list[str], second: list[str], repeat: int,
                timeout: float | None = None) -> tuple[float, float]:
    """Median wall times of two commands run alternately, so that a change in the machine's load during the
    measurement weighs on both alike."""
    run_child(first, timeout)
    run_child(second, timeout)
    a, b = [], []
    for _ in range(repeat):
        a.append(run_child(first, timeout)[0])
        b.append(run_child(second, timeout)[0])
    return statistics.median(a), statistics.median(b)


def median_child(args: list[str], repeat: int) -> tuple[float, int]:
    run_child(args)  # warm-up: page cache, .pyc files
    runs = [run_child(args) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def breakdown(path: Path, repeat: int) -> dict[str, float] | None:
    """Median time of each stage of tpulint.analysis.analyze_model, in the order it runs; None when tpulint's
    internals no longer have these stages (the bench outlives refactorings)."""
    try:
        from tpulint import engine
        from tpulint.checks.memory import memory_view
        from tpulint.config import Config
        from tpulint.graph import Graph
        from tpulint.model import gc_paused
        from tpulint.partition import PartitionOptions, partition
    except ImportError:
        return None
    config = Config()
    times: dict[str, list[float]] = {"read": [], "graph": [], "rules": [], "partition": [], "memory": []}
    try:
        for _ in range(repeat):
            with gc_paused():
                t0 = time.perf_counter()
                model = read_model(path)
                t1 = time.perf_counter()
                graphs = [Graph.build(sg) for sg in model.subgraphs]
                t2 = time.perf_counter()
                findings = engine.check(model, graphs, config)
                t3 = time.perf_counter()
                parts = tuple(partition(g, findings, PartitionOptions()) for g in graphs)
                t4 = time.perf_counter()
                memory = memory_view(model, graphs, parts, config)
                t5 = time.perf_counter()
                del model, graphs, findings, parts, memory
            for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                times[key].append(value)
    except (AttributeError, TypeError):
        return None
    return {key: statistics.median(values) for key, values in times.items()}


@dataclass
class Row:
    name: str
    path: Path
    ops: int
    tensors: int
    size: int
    generated: bool
    read: float
    walk: float
    analysis: float
    cli: float
    floor: float  # the import floor, run alternately with this model's CLI runs
    rss: int
    analysis_rss: int

    @property
    def ratio(self) -> float:
        return self.analysis / self.walk if self.walk else 0.0

    @property
    def cli_ratio(self) -> float:
        return self.cli / self.floor


def measure(name: str, path: Path, repeat: int, generated: bool) -> Row:
    data = path.read_bytes()
    ops, tensors = counts(data)
    slow = max(3, repeat // 2) if ops > 10_000 else repeat
    # Interleaved (read, walk, analysis) rounds: a load spike from other processes hits all three alike.
    times: dict[str, list[float]] = {"read": [], "walk": [], "analysis": []}
    for _ in range(slow):
        for key, fn in (("read", lambda: read_model(path)), ("walk", lambda: tflite_walk(data)),
                        ("analysis", lambda: analyze(path))):
            times[key].append(median_time(fn, 1))
    del data
    read, walk, analysis = (statistics.median(times[k]) for k in ("read", "walk", "analysis"))
    # The CLI alternately with the import floor: the machine's load changes over a run of several minutes.
    command = cli("--format", "json", str(path))
    run_child(command)  # warm-up: page cache, .pyc files
    walls, floors, rss = [], [], 0
    for _ in range(slow):
        floors.append(run_child(["-c", FLOOR_IMPORT])[0])
        wall, peak, _ = run_child(command)
        walls.append(wall)
        rss = max(rss, peak)
    _, analysis_rss = median_child(["-c", ANALYSIS_ONLY, str(path)], 1)
    return Row(name, path, ops, tensors, path.stat().st_size, generated, read, walk, analysis,
               statistics.median(walls), statistics.median(floors), rss, analysis_rss)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}" if seconds < 10 else f"{seconds * 1e3:.0f}"


# --- the machine's two-process limit ----------------------------------------------------------------

def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


class Spins:
    """Two CPU-bound jobs, one after the other in this process, then at once in two worker processes: the
    ratio is the best any `-j 2` can do on this (shared) machine at that moment (0.5 on two idle cores)."""

    def __init__(self) -> None:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.pool = multiprocessing.get_context(method).Pool(2)
        self.pool.map(_spin, [1000, 1000])  # workers started
        t = time.perf_counter()
        _spin(200_000)
        self.per_step = (time.perf_counter() - t) / 200_000

    def measure(self, seconds: float) -> tuple[float, float]:
        """(serial, parallel) wall seconds for two spins of `seconds` each (at the calibration's speed)."""
        n = max(100_000, int(seconds / self.per_step))
        t = time.perf_counter()
        _spin(n)
        _spin(n)
        serial = time.perf_counter() - t
        t = time.perf_counter()
        self.pool.map(_spin, [n, n], chunksize=1)
        return serial, time.perf_counter() - t

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


@dataclass
class Jobs:
    """-j 2 against serial for one output format, and the spins' limit, from the same rounds."""

    fmt: str
    serial: list[float] = field(default_factory=list)
    parallel: list[float] = field(default_factory=list)
    spin_serial: list[float] = field(default_factory=list)
    spin_parallel: list[float] = field(default_factory=list)
    serial_rss: int = 0

    @property
    def ratio(self) -> float:
        return statistics.median(self.parallel) / statistics.median(self.serial)

    @property
    def limit(self) -> float:
        return statistics.median(self.spin_parallel) / statistics.median(self.spin_serial)


def measure_jobs(folder: Path, fmt: str, rounds: int, spins: Spins) -> Jobs:
    base = cli(str(folder)) if fmt == "default" else cli("--format", fmt, str(folder))
    out = Jobs(fmt)
    first, out.serial_rss, _ = run_child(base)  # warm-up; its length sets the spins' (the same work in CPU)
    run_child(base[:3] + ["-j", "2"] + base[3:])
    for _ in range(rounds):
        s, p = spins.measure(first / 2)
        out.spin_serial.append(s)
        out.spin_parallel.append(p)
        wall, rss, _ = run_child(base)
        out.serial.append(wall)
        out.serial_rss = max(out.serial_rss, rss)
        out.parallel.append(run_child(base[:3] + ["-j", "2"] + base[3:])[0])
    return out


# --- other tools ------------------------------------------------------------------------------------

TF_ANALYZER = "import sys, tensorflow as tf; tf.lite.experimental.Analyzer.analyze(model_path=sys.argv[1])"


def find_tools(python: str) -> dict[str, list[str] | str]:
    """name -> command prefix (the model path is appended), or the reason it is skipped."""
    tools: dict[str, list[str] | str] = {}
    probe = "import importlib.util as u, sys; sys.exit(u.find_spec('tensorflow') is None)"
    try:
        has_tf = subprocess.run([python, "-c", probe], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired) as e:
        has_tf = False
        python = f"{python} ({e})"
    tools["TF Analyzer"] = [python, "-c", TF_ANALYZER] if has_tf else (
        f"tensorflow is not installed for {python} (pip install tensorflow-cpu in a separate venv and give its "
        "python with --tools-python)")
    beside = Path(python).parent / "vela"
    vela = str(beside) if beside.is_file() else shutil.which("vela")
    tools["vela"] = [vela] if vela else (f"vela is not installed beside {python} nor on PATH (pip install "
                                        "ethos-u-vela in a separate venv and give its python with --tools-python)")
    return tools


def time_tool(command: list[str], model: Path, work: Path, repeat: int) -> tuple[float | None, str]:
    """Median wall time of a tool on `model` (output discarded), or None and why it failed."""
    out = work / "tool-output"
    args = command + [str(model)] + (["--output-dir", str(out)] if Path(command[0]).name == "vela" else [])
    times = []
    for _ in range(repeat + 1):  # the first run warms the page cache and the tool's .pyc files
        t = time.perf_counter()
        try:
            proc = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
        except subprocess.TimeoutExpired:
            return None, "still running after 600 s"
        times.append(time.perf_counter() - t)
        if proc.returncode != 0:
            last = (proc.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1]
            return None, f"failed ({proc.returncode}): {last[:160]}"
    shutil.rmtree(out, ignore_errors=True)
    return statistics.median(times[1:]), ""


# --- the run ----------------------------------------------------------------------------------------

@dataclass
class Check:
    text: str
    value: float
    ok: bool


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is reported (default 5)")
    p.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus" / "real"),
                   help="folder searched for *.tflite (default ../shared/corpus/real; skipped when absent)")
    p.add_argument("--no-corpus", action="store_true", help="only the generated models")
    p.add_argument("--no-100k", action="store_true", help="skip the 100,000-op chain (its build alone takes ~20 s)")
    p.add_argument("--only", action="append", choices=PARTS, help="run only this part (repeatable)")
    p.add_argument("--quick", action="store_true", help="--no-corpus --no-100k and no other tools")
    p.add_argument("--small-models", type=int, default=500, help="models in the -j measurement (default 500)")
    p.add_argument("--tools-python", default=os.environ.get("TPULINT_BENCH_TOOLS_PYTHON", sys.executable),
                   help="interpreter with tensorflow and/or ethos-u-vela installed (default: this one, or "
                        "$TPULINT_BENCH_TOOLS_PYTHON)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results.md"), help="markdown report to write")
    p.add_argument("--readme", nargs="?", const=str(ROOT / "README.md"), metavar="FILE",
                   help="also replace the targets table between <!-- speed-table --> markers of README.md")
    ns = p.parse_args(argv)
    if ns.quick:
        ns.no_corpus = ns.no_100k = True
    parts = set(ns.only or PARTS) - ({"tools"} if ns.quick and not ns.only else set())
    repeat = max(1, ns.repeat)
    work = Path(tempfile.mkdtemp(prefix="tpulint-bench-"))
    try:
        return run(ns, parts, repeat, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(ns: argparse.Namespace, parts: set[str], repeat: int, work: Path) -> int:
    lines: list[str] = []
    checks: list[Check] = []
    started = time.monotonic()

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    def check(text: str, value: float, ok: bool) -> None:
        checks.append(Check(text, value, ok))

    def generated_model(name: str, make: Callable[[], bytes]) -> Path:
        path = work / f"{name}.tflite"
        if not path.exists():
            path.write_bytes(make())
        return path

    empty, _ = median_child(["-c", "pass"], repeat)
    floor, floor_rss = median_child(["-c", FLOOR_IMPORT], repeat)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    say(f"# tpulint speed ({time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, {os.cpu_count()} "
        f"cores, load {load:.1f}; medians of {repeat} runs; parts: {', '.join(p for p in PARTS if p in parts)})")
    say()
    say(f"`python -c pass`: {ms(empty)} ms. Floor for the CLI: `python -c \"{FLOOR_IMPORT}\"` {ms(floor)} ms "
        f"({floor_rss / MIB:.0f} MiB) at the start; each model's CLI runs alternate with runs of the floor, and its "
        "CLI / import ratio is against those. Child processes run through bench/_child.py, which reports their "
        "peak RSS.")

    rows: dict[str, Row] = {}
    if "models" in parts or "tools" in parts:
        models: list[tuple[str, Callable[[], bytes] | Path]] = [
            ("chain-3k", lambda: chain(3000)), ("chain-30k", lambda: chain(30000))]
        if not ns.no_100k:
            models.append(("chain-100k", lambda: chain(100_000)))
        if "models" in parts:
            models.append(("weights-100MB", heavy))
            corpus = Path(ns.corpus)
            if not ns.no_corpus and corpus.is_dir():
                models += [(str(path.relative_to(corpus)), path) for path in sorted(corpus.rglob("*.tflite"))]
        say()
        say("| model | ops | tensors | MB | read ms | tflite walk ms | analysis ms | analysis / walk | CLI json ms "
            "| CLI / import | peak RSS MiB: analysis | CLI json |")
        say("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for name, source in models:
            if "models" not in parts and name != "chain-3k":
                continue  # the tools part needs the 3k chain's row only
            path = source if isinstance(source, Path) else generated_model(name, source)
            row = measure(name, path, repeat, not isinstance(source, Path))
            rows[name] = row
            say(f"| {name} | {row.ops} | {row.tensors} | {row.size / 1e6:.1f} | {ms(row.read)} | {ms(row.walk)} | "
                f"{ms(row.analysis)} | {row.ratio:.3f} | {ms(row.cli)} | {row.cli_ratio:.2f} | "
                f"{row.analysis_rss / MIB:.0f} | {row.rss / MIB:.0f} |")

    if "models" in parts:
        say()
        say("Where the analysis time goes (ms, medians):")
        say()
        say("| model | read | graph | rules | partition | memory estimate | other |")
        say("|---|--:|--:|--:|--:|--:|--:|")
        for name in ("chain-3k", "chain-30k"):
            stages = breakdown(rows[name].path, max(3, repeat // 2))
            if stages is None:
                say(f"| {name} | (tpulint's stages changed: no breakdown) | | | | | |")
                continue
            other = rows[name].analysis - sum(stages.values())
            say(f"| {name} | " + " | ".join(ms(v) for v in stages.values()) + f" | {ms(max(other, 0.0))} |")
        models_checks(rows, check)

    small = work / "small"
    if "formats" in parts or "jobs" in parts:
        small_models(small, ns.small_models)
    if "formats" in parts:
        measure_formats(ns, repeat, work, small, generated_model, say, check)
    if "jobs" in parts:
        spins = Spins()
        try:
            results = [measure_jobs(small, fmt, max(5, repeat), spins) for fmt in ("default", "json")]
        finally:
            spins.close()
        say()
        say(f"`-j 2` against serial on {ns.small_models} small models, next to the machine's limit in the same "
            "rounds (two CPU-bound spins as long as half the serial run: in two processes / one after the other; "
            "0.50 on two idle cores, higher when other work shares the machine):")
        say()
        say("| output | serial ms | -j 2 ms | -j 2 / serial | two-process limit | ratio / limit |")
        say("|---|--:|--:|--:|--:|--:|")
        for j in results:
            say(f"| {j.fmt} | {ms(statistics.median(j.serial))} | {ms(statistics.median(j.parallel))} | "
                f"{j.ratio:.2f} | {j.limit:.2f} | {j.ratio / j.limit:.2f} |")
            check(f"-j 2 / serial, {ns.small_models} small models, {j.fmt} output: {j.ratio:.2f} against the "
                  f"two-process limit {j.limit:.2f} (ratio / limit <= {PARALLEL_VS_LIMIT})", j.ratio / j.limit,
                  j.ratio / j.limit <= PARALLEL_VS_LIMIT)
    if "tools" in parts:
        measure_tools(ns, repeat, work, rows, generated_model, say)

    say()
    say(f"Run time: {time.monotonic() - started:.0f} s.")
    say()
    table = ["| target | measured | met |", "|---|--:|---|"]
    table += [f"| {c.text} | {c.value:.2f} | {'yes' if c.ok else '**NO**'} |" for c in checks]
    for line in table:
        say(line)
    Path(ns.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if ns.readme and (parts != set(PARTS) or ns.no_corpus or ns.no_100k):
        print("--readme: not with a partial run (--only, --quick, --no-corpus, --no-100k): the README's table stays")
    elif ns.readme:
        readme = Path(ns.readme)
        text = readme.read_text(encoding="utf-8")
        start, end = "<!-- speed-table -->\n", "<!-- /speed-table -->"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            readme.write_text(head + start + "\n".join(table) + "\n" + end + rest.split(end, 1)[1], encoding="utf-8")
            print(f"updated the table in {readme}")
    print(f"\nwrote {ns.out}")
    return 0 if all(c.ok for c in checks) else 1


def models_checks(rows: dict[str, Row], check: Callable[[str, float, bool], None]) -> None:
    k3, k30 = rows["chain-3k"], rows["chain-30k"]
    for r in (k3, k30):
        check(f"analysis / tflite walk, {r.name} (<= {ANALYSIS_VS_WALK})", r.ratio, r.ratio <= ANALYSIS_VS_WALK)
    corpus = [r for r in rows.values() if not r.generated]
    large = [r for r in corpus if r.ops > CORPUS_MIN_OPS]
    if large:
        worst = max(large, key=lambda r: r.ratio)
        bad = sum(r.ratio > ANALYSIS_VS_WALK_CORPUS for r in large)
        check(f"analysis / tflite walk, worst of {len(large)} corpus models over {CORPUS_MIN_OPS} ops ({worst.name}; "
              f"{bad} over) (<= {ANALYSIS_VS_WALK_CORPUS})", worst.ratio, worst.ratio <= ANALYSIS_VS_WALK_CORPUS)
    check(f"analysis, 30k ops / 3k ops (<= {SCALING:g})", k30.analysis / k3.analysis,
          k30.analysis / k3.analysis <= SCALING)
    if "chain-100k" in rows:
        k100 = rows["chain-100k"]
        check(f"analysis, 100k ops / 30k ops (<= {SCALING_100K:g})", k100.analysis / k30.analysis,
              k100.analysis / k30.analysis <= SCALING_100K)
    if corpus:
        worst = max(corpus, key=lambda r: r.cli_ratio)
        check(f"CLI json / import floor, worst of {len(corpus)} corpus models ({worst.name}) (<= {CLI_VS_IMPORT})",
              worst.cli_ratio, worst.cli_ratio <= CLI_VS_IMPORT)
    check(f"CLI json / import floor, chain-3k (<= {CLI_VS_IMPORT})", k3.cli_ratio, k3.cli_ratio <= CLI_VS_IMPORT)
    check(f"CLI json / import floor, chain-30k (<= {CLI_VS_IMPORT_30K})", k30.cli_ratio,
          k30.cli_ratio <= CLI_VS_IMPORT_30K)


def measure_formats(ns: argparse.Namespace, repeat: int, work: Path, small: Path,
                    generated_model: Callable[[str, Callable[[], bytes]], Path], say: Callable[..., None],
                    check: Callable[[str, float, bool], None]) -> None:
    from tpulint.render import FORMATS

    formats = list(FORMATS)
    inputs: list[tuple[str, Path, bool]] = [("chain-30k", generated_model("chain-30k", lambda: chain(30000)), True)]
    if not ns.no_100k:
        inputs.append(("chain-100k", generated_model("chain-100k", lambda: chain(100_000)), False))
    inputs.append((f"{ns.small_models} models, serially", small, False))
    say()
    say("Peak RSS of the CLI (MiB) and wall time (s) per output format:")
    say()
    say("| input | bound MiB | " + " | ".join(formats) + " |")
    say("|---|--:|" + "--:|" * len(formats))
    for name, path, fixed in inputs:
        largest = max((f.stat().st_size for f in path.glob("*.tflite")), default=0) if path.is_dir() \
            else path.stat().st_size
        bound = RSS_LIMIT if fixed else 2 * largest + 100 * MIB
        rule = f"< {bound / MIB:.0f}" if fixed else f"<= 2 x {'largest ' if path.is_dir() else ''}file + 100 = " \
            f"{bound / MIB:.0f}"
        cells, peaks, over = [], {}, []
        for fmt in formats:
            out = ["-o", str(work / f"out-{fmt}")] if fmt == "model-explorer" and path.is_dir() else []
            try:
                wall, rss, _ = run_child(cli("--format", fmt, *out, str(path)), SLOW_TIMEOUT)
            except TooSlow:
                cells.append(f"> {SLOW_TIMEOUT:.0f} s")
                over.append(f"{fmt} (slower than {SLOW_TIMEOUT:.0f} s)")
                continue
            cells.append(f"{rss / MIB:.0f} ({wall:.1f} s)")
            peaks[fmt] = rss
            if not (rss < bound if fixed else rss <= bound):
                over.append(fmt)
        say(f"| {name} | {bound / MIB:.0f} | " + " | ".join(cells) + " |")
        worst = max(peaks, key=lambda f: peaks[f]) if peaks else "?"
        check(f"peak RSS of the CLI, {name}, worst of {len(formats)} formats ({worst}; over: "
              f"{', '.join(over) or 'none'}), MiB ({rule})", peaks.get(worst, float("nan")) / MIB, not over)
    k30 = inputs[0][1]
    slow = max(3, repeat // 2)
    html, json_ = median_pair(cli("--format", "html", str(k30)), cli("--format", "json", str(k30)), slow,
                              SLOW_TIMEOUT)
    check(f"CLI --format html / --format json, chain-30k ({ms(html)} / {ms(json_)} ms) (<= {HTML_VS_JSON:g})",
          html / json_, html / json_ <= HTML_VS_JSON)
    cpu = generated_model("chain-30k-cpu-every-10th", lambda: chain(30000, cpu_every=10))
    try:
        full, json_ = median_pair(cli("--format", "full", str(cpu)), cli("--format", "json", str(cpu)), slow,
                                  SLOW_TIMEOUT)
        check(f"CLI --format full / --format json, 30k ops with a CPU op every 10th ({ms(full)} / {ms(json_)} ms) "
              f"(<= {FULL_VS_JSON:g})", full / json_, full / json_ <= FULL_VS_JSON)
    except TooSlow:
        check(f"CLI --format full / --format json, 30k ops with a CPU op every 10th: full slower than "
              f"{SLOW_TIMEOUT:.0f} s (<= {FULL_VS_JSON:g})", float("nan"), False)


def measure_tools(ns: argparse.Namespace, repeat: int, work: Path, rows: dict[str, Row],
                  generated_model: Callable[[str, Callable[[], bytes]], Path], say: Callable[..., None]) -> None:
    """Other tools end to end (a fresh process each, output discarded) against tpulint's CLI on the same model."""
    tools = find_tools(ns.tools_python)
    targets: list[tuple[str, Path]] = [("chain-3k", generated_model("chain-3k", lambda: chain(3000)))]
    corpus = Path(ns.corpus)
    typical = corpus / "td_mobilenet_v2_1.0_224_quant_c21de44" / "mobilenet_v2_1.0_224_quant.tflite"
    if not ns.no_corpus and typical.is_file():
        targets.append((str(typical.relative_to(corpus)), typical))
    say()
    say("Other tools end to end (wall ms, medians; a fresh process each), and tpulint's lead (their time / "
        "tpulint's CLI `--format json`):")
    say()
    for name, why in tools.items():
        if isinstance(why, str):
            say(f"- {name}: skipped: {why}.")
    runnable = {name: command for name, command in tools.items() if not isinstance(command, str)}
    if not runnable:
        return
    runs = min(3, repeat)
    say()
    say("| model | tpulint ms | " + " | ".join(f"{n} ms | lead" for n in runnable) + " |")
    say("|---|--:|" + "--:|--:|" * len(runnable))
    for name, path in targets:
        ours = rows[name].cli if name in rows else median_child(cli("--format", "json", str(path)), runs)[0]
        cells = []
        for tool, command in runnable.items():
            theirs, why = time_tool(command, path, work, runs)
            cells.append(f"{why} | " if theirs is None else f"{ms(theirs)} | {theirs / ours:.0f}x")
        say(f"| {name} | {ms(ours)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
