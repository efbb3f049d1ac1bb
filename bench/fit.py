"""Fit the TPU6xx size limits to what the real compiler did, from corpus cases plus rules/fitting.toml.

    python bench/fit.py ../shared/corpus/real            # fitted values, their bracketing ops, vs the profile
    python bench/fit.py ../shared/corpus/real --check    # exit 1 when rules/ disagrees with the fit

For each limit (tpulint.checks.size_heuristics.MEASURES) the lower bound is the largest measure among ops the
compiler mapped; the upper bound the smallest measure above it among ops that must have been refused for a reason
of their own that no other rule explains (truth: an "unspecified limitation" status, or a CPU op all of whose
inputs came from the Edge TPU). The limit is the geometric mean of the two. Cases are measured once with every
fitted limit disabled, so leave-one-repository-out re-fitting (bench/conformance.py) is cheap.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpulint import analyze  # noqa: E402
from tpulint.checks._base import Context  # noqa: E402
from tpulint.checks.size_heuristics import MEASURES  # noqa: E402
from tpulint.config import Config  # noqa: E402
from tpulint.errors import ModelError  # noqa: E402
from tpulint.findings import UNSPECIFIED_LIMITATION  # noqa: E402
from tpulint.profile import FITTED_LIMITS, load_profile, rules_dir  # noqa: E402

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DISABLED = {limit: 2**62 for limit in FITTED_LIMITS}


@dataclass(frozen=True)
class Observation:
    """One op of one case, measured for one limit."""

    case: str
    repo: str
    op: int
    opcode: str
    value: int
    mapped: bool  # truth: on the Edge TPU
    needs_own_reason: bool  # truth: on the CPU for a reason of its own that no other rule gives


@dataclass(frozen=True)
class Fit:
    limit: str
    value: int | None
    lower: Observation | str | None  # what bounds it from below (an op, or the fitting.toml source)
    upper: Observation | str | None


def compiler_options(truth: dict) -> dict:
    """The compiler options the truth records; nothing about the expected answer."""
    options: dict = {}
    version = truth.get("compiler_version")
    if version:
        options["compiler"] = ".".join(version.split(".")[:2])
    if (truth.get("num_edgetpu_subgraphs") or 0) > 1:
        options["multiple_subgraphs"] = True
    return options


def observe_case(case_dir: Path) -> list[tuple[str, Observation]]:
    """Every op of a case measured for every fitted limit, with what the truth says about it."""
    truth = json.loads((case_dir / "truth.json").read_text())
    source, per_op = truth.get("files", {}).get("source"), truth.get("per_op") or []
    if not source or not per_op or truth.get("compile_failed"):
        return []
    options = compiler_options(truth)
    config = Config(compiler=options.get("compiler", "16.0"), limits=tuple(DISABLED.items()))
    try:
        report = analyze(case_dir / source, config, multiple_subgraphs=options.get("multiple_subgraphs", False))
    except ModelError:
        return []
    graph = report.graphs[0]
    ctx = Context(report.model, graph, load_profile(config.compiler), config)
    on = {p["index"]: p["on"] for p in per_op}
    multiple = options.get("multiple_subgraphs", False)
    out = []
    try:
        for op in graph.subgraph.operators:
            truth_op = per_op[op.index] if op.index < len(per_op) else {}
            if on.get(op.index) not in ("tpu", "cpu"):
                continue
            own_codes = report.main.placements[op.index].codes
            preds = graph.preds[op.index]
            first_cpu = on[op.index] == "cpu" and bool(preds) and all(on.get(p) == "tpu" for p in preds)
            reason = truth_op.get("reason")
            needs = on[op.index] == "cpu" and not own_codes and (
                reason == UNSPECIFIED_LIMITATION or (reason is None and (multiple or first_cpu)))
            for limit, (opcodes, measure) in MEASURES.items():
                if opcodes is not None and op.opcode not in opcodes:
                    continue
                value = measure(ctx, op)
                if value is not None:
                    out.append((limit, Observation(case_dir.name, str(truth.get("source_repo")), op.index, op.opcode,
                                           value, on[op.index] == "tpu", needs)))
    finally:
        ctx.close()
    return out


def observe(corpus: Path) -> dict[str, list[Observation]]:
    """limit -> observations over every case of the corpus."""
    by_limit: dict[str, list[Observation]] = {limit: [] for limit in MEASURES}
    for case in sorted(corpus.iterdir()):
        if (case / "truth.json").is_file():
            for limit, o in observe_case(case):
                by_limit[limit].append(o)
    return by_limit


def external_bounds(path: Path | None = None) -> dict:
    with open(path or rules_dir() / "fitting.toml", "rb") as f:
        return tomllib.load(f)


def fit(observations: dict[str, list[Observation]], external: dict, exclude_repo: str | None = None) -> list[Fit]:
    """Each limit fitted on the observations (without those of `exclude_repo`) and the external bounds.

    A refused op counts against a limit only if no other limit, as fitted so far, already explains it (a large
    TRANSPOSE also has a long row); the fits are repeated until they no longer change.
    """
    kept = {limit: [o for o in obs if o.repo != exclude_repo] for limit, obs in observations.items()}
    values: dict[str, int | None] = {}
    fits: list[Fit] = []
    for _ in range(8):
        explained: dict[tuple[str, int], set[str]] = {}
        for limit, obs in kept.items():
            value = values.get(limit)
            for o in obs:
                if value is not None and o.value > value:
                    explained.setdefault((o.case, o.op), set()).add(limit)
        fits = [_fit_one(limit, kept.get(limit, []), external.get(limit, {}), explained) for limit in MEASURES]
        new = {f.limit: f.value for f in fits}
        if new == values:
            break
        values = new
    return fits


def _fit_one(limit: str, obs: list[Observation], ext: dict, explained: dict[tuple[str, int], set[str]]) -> Fit:
    lower: Observation | str | None = max((o for o in obs if o.mapped), key=lambda o: o.value, default=None)
    low = lower.value if isinstance(lower, Observation) else 0
    if ext.get("mapped", 0) > low:
        low, lower = ext["mapped"], f"{ext['mapped']:,} ({ext['source']})"
    refused = [o for o in obs if o.needs_own_reason and o.value > low
               and not explained.get((o.case, o.op), set()) - {limit}]
    upper: Observation | str | None = min(refused, key=lambda o: o.value, default=None)
    high = upper.value if isinstance(upper, Observation) else None
    if "refused" in ext and ext["refused"] > low and (high is None or ext["refused"] < high):
        high, upper = ext["refused"], f"{ext['refused']:,} ({ext['source']})"
    value = None if high is None or low == 0 else max(low, min(high - 1, math.isqrt(low * high)))
    return Fit(limit, value, lower, upper)


def overrides(fits: list[Fit]) -> dict[str, int]:
    """The fitted values to pass as Config(limits=...); limits without a fit keep the profile's value."""
    return {f.limit: f.value for f in fits if f.value is not None}


def _describe(bound: Observation | str | None) -> str:
    if bound is None:
        return "-"
    if isinstance(bound, str):
        return bound
    return f"{bound.value:,} ({bound.case} op {bound.op} {bound.opcode})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 when the profile's limits differ from the fit")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"fit: {args.corpus}: not a directory", file=sys.stderr)
        return 2
    fits = fit(observe(args.corpus), external_bounds())
    profile = load_profile("16.0")
    differ = 0
    for f in fits:
        current = profile.limits[f.limit]
        mark = "" if f.value in (None, current) else "   <- profile has " + f"{current:,}"
        differ += bool(mark)
        print(f"{f.limit}: {'keep ' + format(current, ',') if f.value is None else format(f.value, ',')}{mark}")
        print(f"    mapped up to  {_describe(f.lower)}")
        print(f"    refused from  {_describe(f.upper)}")
    return 1 if args.check and differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
