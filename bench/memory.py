"""Score tpulint's on-chip memory estimate against what the real edgetpu_compiler did.

    python bench/memory.py ../shared/corpus/real [--truth-placement]

For every case with a source model and a compiled `_edgetpu.tflite`, estimates the parameter bytes of the source
model from tpulint's own predicted partition (or, with --truth-placement, from the ops truth.json says the
compiler mapped, which isolates the layout model from placement errors) and compares them with the DWN1
package: PARAMETER_CACHING parameter length = cached on chip, EXECUTION_ONLY/STAND_ALONE = streamed. Compiler
logs that carry an "On-chip memory used for caching model parameters" line are compared too.
A case's cached estimate is "close" when it is within 15% of the package's figure or within 16 KiB of it (tiny
models); "streamed right" when the estimate and the package agree on whether anything is streamed at all.
The last line is `memory: cached within 15% or 16 KiB N/M, streamed-or-not right K/M, cached MAE X.X%`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit import compiler_options  # noqa: E402

from tpulint import analyze  # noqa: E402
from tpulint.compiled import inspect  # noqa: E402
from tpulint.errors import ModelError  # noqa: E402
from tpulint.graph import Graph  # noqa: E402
from tpulint.memory import estimate  # noqa: E402
from tpulint.model import read_model  # noqa: E402

_LOG_LINE = re.compile(r"On-chip memory used for caching model parameters: ([\d.]+)(B|KiB|MiB)")
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 * 1024}
CLOSE_BYTES = 16 * 1024


@dataclass
class Row:
    name: str
    est_cached: int
    est_streamed: int
    cached: int
    streamed: int
    log_cached: int | None = None

    @property
    def cached_error(self) -> float:
        return 100 * (self.est_cached - self.cached) / self.cached if self.cached else 0.0

    @property
    def close(self) -> bool:
        return abs(self.est_cached - self.cached) <= max(0.15 * self.cached, CLOSE_BYTES)

    @property
    def streamed_right(self) -> bool:
        return (self.est_streamed > 0) == (self.streamed > 0)

    @property
    def total_error(self) -> float:
        actual = self.cached + self.streamed
        return 100 * (self.est_cached + self.est_streamed - actual) / actual if actual else 0.0


def log_cached(case: Path) -> int | None:
    for log in case.glob("*.log"):
        m = _LOG_LINE.search(log.read_text(errors="replace"))
        if m:
            return round(float(m.group(1)) * _UNITS[m.group(2)])
    return None


def score_case(case: Path, truth_placement: bool) -> Row | str | None:
    truth = json.loads((case / "truth.json").read_text())
    files = truth.get("files", {})
    if not files.get("source") or not files.get("compiled"):
        return None
    try:
        info = inspect(read_model(case / files["compiled"]))
        options = compiler_options(truth)
        if truth_placement:
            model = read_model(case / files["source"])
            tpu = [p["index"] for p in truth.get("per_op", []) if p["on"] == "tpu"]
            memory = estimate(model, [Graph.build(model.main)], [tpu], options.get("compiler", "16.0"))
        else:
            memory = analyze(case / files["source"], **options).memory
    except ModelError as e:
        return f"{case.name}: {e}"
    if info is None or info.problems:
        return f"{case.name}: compiled model has no readable Edge TPU package"
    if memory is None:
        return f"{case.name}: no op predicted to map (no memory estimate)"
    return Row(case.name, memory.cached_bytes, memory.streamed_bytes, info.cached_parameter_bytes,
               info.streamed_parameter_bytes, log_cached(case))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="a folder of cases laid out like ../shared/corpus/real")
    parser.add_argument("--truth-placement", action="store_true",
                        help="estimate from the ops the real compiler mapped instead of tpulint's prediction")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"memory: {args.corpus}: not a directory", file=sys.stderr)
        return 2
    rows: list[Row] = []
    for case in sorted(args.corpus.iterdir()):
        if not (case / "truth.json").is_file():
            continue
        result = score_case(case, args.truth_placement)
        if isinstance(result, str):
            print(f"ERROR {result}")
        elif result is not None:
            rows.append(result)
    if not rows:
        print(f"memory: {args.corpus}: no case with a source and a compiled model", file=sys.stderr)
        return 2
    print(f"{'case':<52} {'est cached':>11} {'cached':>11} {'err':>7}  {'est strm':>9} {'streamed':>9} "
          f"{'total err':>9}  miss")
    for r in rows:
        miss = ",".join(w for w, bad in (("cached", not r.close), ("streamed", not r.streamed_right)) if bad)
        print(f"{r.name[:52]:<52} {r.est_cached:>11} {r.cached:>11} {r.cached_error:>+6.1f}%  "
              f"{r.est_streamed:>9} {r.streamed:>9} {r.total_error:>+8.1f}%  {miss}")
    logged = [r for r in rows if r.log_cached is not None]
    cached_mae = sum(abs(r.cached_error) for r in rows) / len(rows)
    total_mae = sum(abs(r.total_error) for r in rows) / len(rows)
    median = sorted(abs(r.cached_error) for r in rows)[len(rows) // 2]
    print()
    print(f"cases with a compiled model:      {len(rows)}")
    print(f"on-chip (cached) bytes:           mean absolute error {cached_mae:.1f}%, median {median:.1f}%")
    print(f"all parameter bytes:              mean absolute error {total_mae:.1f}%")
    close = sum(1 for r in rows if r.close)
    streamed_right = sum(1 for r in rows if r.streamed_right)
    print(f"cached within 15% or 16 KiB:      {close}/{len(rows)} cases")
    print(f"streaming predicted correctly:    {streamed_right}/{len(rows)} cases")
    if logged:
        log_mae = sum(abs(r.est_cached - r.log_cached) / r.log_cached for r in logged if r.log_cached) / len(logged)
        print(f"log 'On-chip memory used' lines:  {len(logged)} cases, mean absolute error {100 * log_mae:.1f}%")
    else:
        print("log 'On-chip memory used' lines:  none in this corpus (its logs are operation tables only)")
    print(f"memory: cached within 15% or 16 KiB {close}/{len(rows)}, streamed-or-not right {streamed_right}/{len(rows)}, "
          f"cached MAE {cached_mae:.1f}% total MAE {total_mae:.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
