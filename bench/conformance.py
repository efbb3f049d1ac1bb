"""Score tpulint's predictions against what the real edgetpu_compiler did.

    python bench/conformance.py ../shared/corpus/real [-v]

For every case with a source model and per-op truth (truth.json `per_op`), runs tpulint with the options the
truth records (the log's compiler version, `--multiple-subgraphs` when the compiled model has several Edge TPU
subgraphs) and compares: per-op placement, models predicted exactly, Edge TPU subgraph count, and the status
string where the truth knows the op's reason. tpulint itself never sees truth.json: it is only used here.
The last line is `conformance: ops X.X% models N/M`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpulint import analyze  # noqa: E402
from tpulint.errors import ModelError  # noqa: E402


@dataclass
class CaseScore:
    name: str
    ops: int = 0
    agree: int = 0
    exact: bool = False
    subgraphs_agree: bool | None = None
    statuses: int = 0
    statuses_agree: int = 0
    wrong: list[str] = field(default_factory=list)
    error: str | None = None


def options_from_truth(truth: dict) -> dict:
    """The compiler options the truth records; nothing about the expected answer."""
    options: dict = {}
    version = truth.get("compiler_version")
    if version:
        major_minor = ".".join(version.split(".")[:2])
        options["compiler"] = major_minor
    if (truth.get("num_edgetpu_subgraphs") or 0) > 1:
        options["multiple_subgraphs"] = True
    return options


def score_case(case_dir: Path) -> CaseScore | None:
    truth = json.loads((case_dir / "truth.json").read_text())
    source = truth.get("files", {}).get("source")
    per_op = truth.get("per_op") or []
    if not source or not per_op:
        return None
    score = CaseScore(truth["name"])
    try:
        report = analyze(case_dir / source, **options_from_truth(truth))
    except ModelError as e:
        score.error = str(e)
        return score
    failed = bool(truth.get("compile_failed"))
    if failed:
        score.exact = not report.compilable
        score.ops = len(per_op)
        score.agree = len(per_op) if not report.compilable else 0
        return score
    placements = report.main.placements
    for p in per_op:
        if p["on"] not in ("tpu", "cpu"):
            continue
        score.ops += 1
        predicted = placements[p["index"]] if p["index"] < len(placements) else None
        if predicted is not None and predicted.placement == p["on"]:
            score.agree += 1
        else:
            got = predicted.placement if predicted else "missing"
            score.wrong.append(f"op {p['index']} {p['op']}: truth {p['on']}, predicted {got}"
                               + (f" ({predicted.status})" if predicted else ""))
        reason = p.get("reason")
        if reason and predicted is not None:
            score.statuses += 1
            if predicted.status == reason:
                score.statuses_agree += 1
            elif predicted.placement == p["on"]:
                score.wrong.append(f"op {p['index']} {p['op']}: status {predicted.status!r}, truth {reason!r}")
    expected_subgraphs = truth.get("num_edgetpu_subgraphs")
    if expected_subgraphs is not None:
        score.subgraphs_agree = expected_subgraphs == report.tpu_subgraphs
    score.exact = score.agree == score.ops and report.compilable and score.subgraphs_agree is not False
    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="a folder of cases laid out like ../shared/corpus/real")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every disagreeing op")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"conformance: {args.corpus}: not a directory", file=sys.stderr)
        return 2
    scores = [s for d in sorted(args.corpus.iterdir()) if (d / "truth.json").is_file() for s in [score_case(d)] if s]
    if not scores:
        print(f"conformance: {args.corpus}: no case with a source model and per-op truth", file=sys.stderr)
        return 2
    print(f"{'case':<55} {'ops':>9} {'exact':>5} {'subgr':>5} {'status':>9}")
    for s in scores:
        if s.error:
            print(f"{s.name:<55} ERROR {s.error}")
            continue
        subgraphs = {None: "-", True: "ok", False: "NO"}[s.subgraphs_agree]
        status = f"{s.statuses_agree}/{s.statuses}" if s.statuses else "-"
        print(f"{s.name:<55} {s.agree:>4}/{s.ops:<4} {'yes' if s.exact else 'NO':>5} {subgraphs:>5} {status:>9}")
        if args.verbose:
            for line in s.wrong:
                print(f"    {line}")
    ops = sum(s.ops for s in scores)
    agree = sum(s.agree for s in scores)
    exact = sum(1 for s in scores if s.exact)
    sub_known = [s for s in scores if s.subgraphs_agree is not None]
    statuses = sum(s.statuses for s in scores)
    statuses_agree = sum(s.statuses_agree for s in scores)
    print()
    print(f"op placement agreement:      {agree}/{ops} ({100 * agree / max(ops, 1):.1f}%)")
    print(f"models predicted exactly:    {exact}/{len(scores)}")
    print(f"Edge TPU subgraph count:     {sum(1 for s in sub_known if s.subgraphs_agree)}/{len(sub_known)}")
    print(f"status string agreement:     {statuses_agree}/{statuses} (ops whose truth has a reason)")
    print(f"conformance: ops {100 * agree / max(ops, 1):.1f}% models {exact}/{len(scores)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
