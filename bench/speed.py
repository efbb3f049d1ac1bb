"""Speed and memory of tpulint against the floor: read, tflite walk, analysis, full CLI, peak RSS, -j scaling.

    python bench/speed.py                    # generated models + every model in ../shared/corpus/real
    python bench/speed.py --repeat 7 --out bench/results.md

For each model, in one run: reading the file with tpulint's reader; a bare walk with the `tflite` accessors
over every operator and tensor (opcode, inputs, outputs, type, shape, shape_signature, quantization arrays)
-- the cost no implementation built on the `tflite` package can avoid --; tpulint's in-process analysis
(`tpulint.analysis.analyze`: read + rules + partition); the full CLI wall time (`tpulint --format json`, a
fresh interpreter); and the CLI's peak RSS. Times are medians of --repeat runs (the machine is shared:
medians, not means). Writes a markdown table (bench/results.md) that the README quotes, and exits 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tflite  # noqa: E402

from tpulint.analysis import analyze  # noqa: E402
from tpulint.model import read_model  # noqa: E402
from tpulint.testing import ModelBuilder, int8_cnn  # noqa: E402

MIB = 1 << 20
FLOOR_IMPORT = "import tflite, flatbuffers, numpy, networkx"
ANALYSIS_ONLY = "import sys; from tpulint.analysis import analyze; analyze(sys.argv[1])"

# Targets (issue 7).
ANALYSIS_VS_WALK = 0.25  # 3,000- and 30,000-op models
SCALING = 11.0  # 30,000-op time / 3,000-op time
CLI_VS_IMPORT = 1.0  # typical model (< 300 ops), JSON
RSS_LIMIT = 100 * MIB
PARALLEL = 0.6  # -j 2 on 500 small models / serial


# --- generated models -----------------------------------------------------------------------------

def chain(n_ops: int, channels: int = 8) -> bytes:
    """A residual chain of CONV_2D -> DEPTHWISE_CONV_2D -> ADD blocks, per-channel int8 like a real CNN."""
    b = ModelBuilder(f"bench chain of {n_ops} ops")
    act = (0.05, -3)
    per_channel = ([0.01] * channels, [0] * channels, 0)
    b.tensor("input", [1, 32, 32, channels], "int8", quant=act)
    x = "input"
    for block in range(n_ops // 3):
        p = f"block_{block}"
        b.tensor(f"{p}/conv/weights", [channels, 1, 1, channels], "int8", quant=per_channel,
                 data=bytes(channels * channels))
        b.tensor(f"{p}/conv/bias", [channels], "int32", quant=per_channel, data=bytes(4 * channels))
        b.tensor(f"{p}/conv", [1, 32, 32, channels], "int8", quant=act)
        b.op("CONV_2D", [x, f"{p}/conv/weights", f"{p}/conv/bias"], [f"{p}/conv"], padding="SAME", stride_w=1,
             stride_h=1, fused_activation_function="RELU6")
        b.tensor(f"{p}/dw/weights", [1, 3, 3, channels], "int8", quant=([0.01] * channels, [0] * channels, 3),
                 data=bytes(9 * channels))
        b.tensor(f"{p}/dw/bias", [channels], "int32", quant=per_channel, data=bytes(4 * channels))
        b.tensor(f"{p}/dw", [1, 32, 32, channels], "int8", quant=act)
        b.op("DEPTHWISE_CONV_2D", [f"{p}/conv", f"{p}/dw/weights", f"{p}/dw/bias"], [f"{p}/dw"], padding="SAME",
             stride_w=1, stride_h=1, depth_multiplier=1)
        b.tensor(f"{p}/add", [1, 32, 32, channels], "int8", quant=act)
        b.op("ADD", [f"{p}/dw", x], [f"{p}/add"])
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


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def parallel_capacity(n: int = 3_000_000) -> float:
    """Wall-time ratio of two CPU-bound jobs in 2 processes vs one after the other, right now: the best any
    `-j 2` can do on this (shared) machine. 0.5 on two idle cores."""
    import multiprocessing

    t = time.perf_counter()
    _spin(n)
    _spin(n)
    serial = time.perf_counter() - t
    with multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn").Pool(2) as pool:
        pool.map(_spin, [1000, 1000])  # workers started
        t = time.perf_counter()
        pool.map(_spin, [n, n], chunksize=1)
        parallel = time.perf_counter() - t
    return parallel / serial


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


CHILD = str(ROOT / "bench" / "_child.py")


def run_child(args: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in bytes, exit status) of `python bench/_child.py ARGS`, output discarded."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its .pyc files; so does the floor
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, CHILD, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env=env)
    wall = time.perf_counter() - t
    err = proc.stderr.decode(errors="replace")
    if proc.returncode not in (0, 1) or "PEAK_RSS_KIB" not in err:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {err}")
    return wall, int(err.rsplit("PEAK_RSS_KIB", 1)[1]) * 1024, proc.returncode


def cli(*args: str) -> list[str]:
    return ["-m", "tpulint", "--isolated", *args]


def median_pair(first: list[str], second: list[str], repeat: int) -> tuple[float, float]:
    """Median wall times of two commands run alternately, so that a change in the machine's load during the
    measurement weighs on both alike."""
    run_child(first)
    run_child(second)
    a, b = [], []
    for _ in range(repeat):
        a.append(run_child(first)[0])
        b.append(run_child(second)[0])
    return statistics.median(a), statistics.median(b)


def median_child(args: list[str], repeat: int) -> tuple[float, int]:
    run_child(args)  # warm-up: page cache, .pyc files
    runs = [run_child(args) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def breakdown(path: Path, repeat: int) -> dict[str, float]:
    """Median time of each stage of tpulint.analysis.analyze_model, in the order it runs."""
    from tpulint import engine
    from tpulint.config import Config
    from tpulint.graph import Graph
    from tpulint.model import gc_paused
    from tpulint.partition import PartitionOptions, partition

    try:
        from tpulint.checks.memory import memory_view
    except ImportError:  # pragma: no cover - before the memory estimate existed
        memory_view = None

    config = Config()
    times: dict[str, list[float]] = {"read": [], "graph": [], "rules": [], "partition": [], "memory": []}
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
            memory = memory_view(model, graphs, parts, config) if memory_view else None
            t5 = time.perf_counter()
            del model, graphs, findings, parts, memory
        for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            times[key].append(value)
    return {key: statistics.median(values) for key, values in times.items()}


@dataclass
class Row:
    name: str
    ops: int
    tensors: int
    size: int
    read: float
    walk: float
    analysis: float
    cli: float
    rss: int
    analysis_rss: int

    @property
    def ratio(self) -> float:
        return self.analysis / self.walk if self.walk else 0.0


def measure(name: str, path: Path, repeat: int) -> Row:
    data = path.read_bytes()
    model = read_model(path)
    ops = sum(len(sg.operators) for sg in model.subgraphs)
    tensors = sum(len(sg.tensors) for sg in model.subgraphs)
    del model
    slow = max(3, repeat // 2) if ops > 10_000 else repeat
    # Interleaved (read, walk, analysis) rounds: a load spike from other processes hits all three alike.
    times: dict[str, list[float]] = {"read": [], "walk": [], "analysis": []}
    for _ in range(slow):
        for key, fn in (("read", lambda: read_model(path)), ("walk", lambda: tflite_walk(data)),
                        ("analysis", lambda: analyze(path))):
            times[key].append(median_time(fn, 1))
    read, walk, analysis = (statistics.median(times[k]) for k in ("read", "walk", "analysis"))
    wall, rss = median_child(cli("--format", "json", str(path)), slow)
    _, analysis_rss = median_child(["-c", ANALYSIS_ONLY, str(path)], 1)
    return Row(name, ops, tensors, path.stat().st_size, read, walk, analysis, wall, rss, analysis_rss)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}" if seconds < 10 else f"{seconds * 1e3:.0f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is reported (default 5)")
    p.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus" / "real"),
                   help="folder searched for *.tflite (default ../shared/corpus/real; skipped when absent)")
    p.add_argument("--no-corpus", action="store_true", help="only the generated models")
    p.add_argument("--small-models", type=int, default=500, help="models in the -j measurement (default 500)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results.md"), help="markdown table to write")
    p.add_argument("--readme", nargs="?", const=str(ROOT / "README.md"), metavar="FILE",
                   help="also replace the targets table between <!-- speed-table --> markers of README.md")
    ns = p.parse_args(argv)
    repeat = max(1, ns.repeat)
    work = Path(tempfile.mkdtemp(prefix="tpulint-bench-"))
    try:
        return run(ns, repeat, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(ns: argparse.Namespace, repeat: int, work: Path) -> int:
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    generated = {
        "chain-3k": lambda: chain(3000),
        "chain-30k": lambda: chain(30000),
        "weights-100MB": heavy,
    }
    models: list[tuple[str, Path]] = []
    for name, make in generated.items():
        path = work / f"{name}.tflite"
        path.write_bytes(make())
        models.append((name, path))
    corpus = Path(ns.corpus)
    if not ns.no_corpus and corpus.is_dir():
        for path in sorted(corpus.rglob("*.tflite")):
            models.append((str(path.relative_to(corpus)), path))

    empty, _ = median_child(["-c", "pass"], repeat)
    floor, floor_rss = median_child(["-c", FLOOR_IMPORT], repeat)
    cpus = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    say(f"# tpulint speed ({time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, {cpus} cores, "
        f"load {load:.1f}; medians of {repeat} runs)")
    say()
    say(f"`python -c pass`: {ms(empty)} ms. Floor for the CLI: `python -c \"{FLOOR_IMPORT}\"` {ms(floor)} ms "
        f"({floor_rss / MIB:.0f} MiB). Child processes run through bench/_child.py, which reports their peak RSS.")
    say()
    say("| model | ops | tensors | MB | read ms | tflite walk ms | analysis ms | analysis / walk | CLI json ms "
        "| CLI / import | peak RSS MiB: analysis | CLI json |")
    say("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    rows = []
    for name, path in models:
        row = measure(name, path, repeat)
        rows.append(row)
        say(f"| {name} | {row.ops} | {row.tensors} | {row.size / 1e6:.1f} | {ms(row.read)} | {ms(row.walk)} | "
            f"{ms(row.analysis)} | {row.ratio:.3f} | {ms(row.cli)} | {row.cli / floor:.2f} | "
            f"{row.analysis_rss / MIB:.0f} | {row.rss / MIB:.0f} |")

    say()
    say("Where the analysis time goes (ms, medians):")
    say()
    say("| model | read | graph | rules | partition | memory estimate | other |")
    say("|---|--:|--:|--:|--:|--:|--:|")
    for name, path in models[:2]:
        parts = breakdown(path, max(3, repeat // 2))
        row = next(r for r in rows if r.name == name)
        other = row.analysis - sum(parts.values())
        say(f"| {name} | " + " | ".join(ms(v) for v in parts.values()) + f" | {ms(max(other, 0.0))} |")

    small = work / "small"
    small_models(small, ns.small_models)
    capacity = statistics.median(parallel_capacity() for _ in range(3))
    serial, parallel = median_pair(cli(str(small)), cli("-j", "2", str(small)), max(5, repeat))
    serial_json, parallel_json = median_pair(cli("--format", "json", str(small)),
                                             cli("--format", "json", "-j", "2", str(small)), max(5, repeat))

    by_name = {r.name: r for r in rows}
    k3, k30 = by_name["chain-3k"], by_name["chain-30k"]
    typical = [r for r in rows if r.ops < 300 and r.name not in generated]
    checks = [
        (f"analysis / tflite walk, 3,000 ops (<= {ANALYSIS_VS_WALK})", k3.ratio, k3.ratio <= ANALYSIS_VS_WALK),
        (f"analysis / tflite walk, 30,000 ops (<= {ANALYSIS_VS_WALK})", k30.ratio, k30.ratio <= ANALYSIS_VS_WALK),
        (f"analysis 30,000 ops / 3,000 ops (<= {SCALING:g})", k30.analysis / k3.analysis,
         k30.analysis / k3.analysis <= SCALING),
    ]
    if typical:
        worst = max(typical, key=lambda r: r.cli)
        checks.append((f"CLI json / import floor, worst of {len(typical)} corpus models under 300 ops "
                       f"({worst.name}) (<= {CLI_VS_IMPORT})", worst.cli / floor, worst.cli / floor <= CLI_VS_IMPORT))
        med = statistics.median(r.cli for r in typical)
        checks.append((f"CLI json / import floor, median corpus model under 300 ops (<= {CLI_VS_IMPORT})",
                       med / floor, med / floor <= CLI_VS_IMPORT))
    else:
        small_cli, _ = median_child(cli("--format", "json", str(small / "model_000.tflite")), repeat)
        checks.append((f"CLI json / import floor, 6-op model (<= {CLI_VS_IMPORT})", small_cli / floor,
                       small_cli / floor <= CLI_VS_IMPORT))
    biggest = max(rows, key=lambda r: r.analysis_rss)
    checks.append((f"peak RSS of the analysis, worst model ({biggest.name}), MiB (< {RSS_LIMIT // MIB})",
                   biggest.analysis_rss / MIB, biggest.analysis_rss < RSS_LIMIT))
    worst_cli = max(rows, key=lambda r: r.rss)
    for r in rows:
        if r.rss >= RSS_LIMIT or r.name == "weights-100MB" or r is worst_cli:
            checks.append((f"peak RSS of the CLI (json), {r.name}, MiB (< {RSS_LIMIT // MIB})", r.rss / MIB,
                           r.rss < RSS_LIMIT))
    checks.append((f"-j 2 / serial on {ns.small_models} small models, default output ({ms(parallel)} / "
                   f"{ms(serial)} ms) (<= {PARALLEL})", parallel / serial, parallel / serial <= PARALLEL))
    checks.append((f"-j 2 / serial on {ns.small_models} small models, --format json ({ms(parallel_json)} / "
                   f"{ms(serial_json)} ms) (<= {PARALLEL})", parallel_json / serial_json,
                   parallel_json / serial_json <= PARALLEL))
    say()
    say(f"Parallel capacity during this run: two CPU-bound processes took {capacity:.2f}x the time of one after "
        "the other (0.50 on two idle cores; other work on the machine raises it).")
    say()
    table = ["| target | measured | met |", "|---|--:|---|"]
    table += [f"| {text} | {value:.2f} | {'yes' if ok else '**NO**'} |" for text, value, ok in checks]
    for line in table:
        say(line)
    Path(ns.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if ns.readme:
        readme = Path(ns.readme)
        text = readme.read_text(encoding="utf-8")
        start, end = "<!-- speed-table -->\n", "<!-- /speed-table -->"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            readme.write_text(head + start + "\n".join(table) + "\n" + end + rest.split(end, 1)[1], encoding="utf-8")
            print(f"updated the table in {readme}")
    print(f"\nwrote {ns.out}")
    return 0 if all(ok for _, _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
