"""Score tpulint's predictions against what the real edgetpu_compiler did, and against a naive baseline.

    python bench/conformance.py ../shared/corpus/real [-v] [--leave-one-repo-out]

For every case with a source model and per-op truth (truth.json `per_op`), runs tpulint with the options the
truth records (the log's compiler version, `--multiple-subgraphs` when the compiled model has several Edge TPU
subgraphs) and compares: per-op placement, models predicted exactly, Edge TPU subgraph count, and the status
string where the truth knows the op's reason. tpulint itself never sees truth.json: it is only used here.

The naive baseline applies the documented op table of the target compiler, the 8-bit dtype rule and a data-flow
cut (an op maps when it is in the table, all its activations are int8/uint8, and nothing it depends on after the
first such op stayed on the CPU); nothing in it is fitted. Both are printed per subset: all cases, per compiler
version (`?` = no log), per evidence kind.

`--leave-one-repo-out` re-fits every fitted limit (bench/fit.py) without the cases of one source repository and
scores that repository's cases with them, for every repository in turn. The last line is then
`leave-one-repo-out: ops X% (a/b) models N/M`; otherwise `conformance: ops X% models N/M`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fit  # noqa: E402

from tpulint import analyze  # noqa: E402
from tpulint.config import Config  # noqa: E402
from tpulint.errors import ModelError  # noqa: E402
from tpulint.graph import Graph  # noqa: E402
from tpulint.model import read_model  # noqa: E402
from tpulint.profile import load_profile  # noqa: E402

options_from_truth = fit.compiler_options


@dataclass
class CaseScore:
    name: str
    repo: str = ""
    compiler: str = "?"
    evidence: str = ""
    ops: int = 0
    agree: int = 0
    exact: bool = False
    subgraphs_agree: bool | None = None
    statuses: int = 0
    statuses_agree: int = 0
    wrong: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class Prediction:
    placements: list[tuple[str, str | None]]  # (placement, status or None) per op of subgraph 0
    compilable: bool
    subgraphs: int | None  # None: the predictor does not count them


Predictor = Callable[[Path, dict, dict], Prediction]


def tpulint_predictor(limits: dict[str, int] | None = None) -> Predictor:
    def predict(model: Path, truth: dict, options: dict) -> Prediction:
        config = Config(compiler=options.get("compiler", "16.0"), limits=tuple(sorted((limits or {}).items())))
        report = analyze(model, config, multiple_subgraphs=options.get("multiple_subgraphs", False))
        return Prediction([(p.placement, p.status) for p in report.main.placements], report.compilable,
                          report.tpu_subgraphs)
    return predict


def naive_predict(model_path: Path, truth: dict, options: dict) -> Prediction:
    """Documented op table + 8-bit dtype rule + data-flow cut; nothing fitted."""
    profile = load_profile(options.get("compiler", "16.0"))
    model = read_model(str(model_path))
    sg = model.subgraphs[0]
    graph = Graph.build(sg)
    ts = sg.tensors
    own = [op.opcode in profile.ops and all(ts[i].dtype in profile.dtypes for i in list(op.inputs) + list(op.outputs)
                                            if i >= 0 and not ts[i].data_size) for op in sg.operators]
    start = next((i for i, ok in enumerate(own) if ok), len(own))
    on_tpu = [False] * len(own)
    for i in range(start, len(own)):
        on_tpu[i] = own[i] and (options.get("multiple_subgraphs", False) or
                                all(on_tpu[p] or p < start for p in graph.preds[i]))
    return Prediction([("tpu" if t else "cpu", None) for t in on_tpu], True, None)


def evidence_kind(truth: dict) -> str:
    files = truth.get("files", {})
    return "+".join(k for k, role in (("src", "source"), ("cmp", "compiled"), ("log", "log")) if files.get(role))


def score_case(case_dir: Path, predict: Predictor = tpulint_predictor()) -> CaseScore | None:
    truth = json.loads((case_dir / "truth.json").read_text())
    source = truth.get("files", {}).get("source")
    per_op = truth.get("per_op") or []
    if not source or not per_op:
        return None
    options = options_from_truth(truth)
    score = CaseScore(truth["name"], str(truth.get("source_repo")), options.get("compiler", "?"), evidence_kind(truth))
    try:
        predicted = predict(case_dir / source, truth, options)
    except ModelError as e:
        score.error = str(e)
        return score
    if truth.get("compile_failed"):
        score.exact = not predicted.compilable
        score.ops = len(per_op)
        score.agree = len(per_op) if not predicted.compilable else 0
        return score
    placements = predicted.placements
    for p in per_op:
        if p["on"] not in ("tpu", "cpu"):
            continue
        score.ops += 1
        got = placements[p["index"]] if p["index"] < len(placements) else None
        if got is not None and got[0] == p["on"]:
            score.agree += 1
        else:
            score.wrong.append(f"op {p['index']} {p['op']}: truth {p['on']}, predicted {got[0] if got else 'missing'}"
                               + (f" ({got[1]})" if got and got[1] else ""))
        reason = p.get("reason")
        if reason and got is not None and got[1] is not None:
            score.statuses += 1
            if got[1] == reason:
                score.statuses_agree += 1
            elif got[0] == p["on"]:
                score.wrong.append(f"op {p['index']} {p['op']}: status {got[1]!r}, truth {reason!r}")
    expected_subgraphs = truth.get("num_edgetpu_subgraphs")
    if expected_subgraphs is not None and predicted.subgraphs is not None:
        score.subgraphs_agree = expected_subgraphs == predicted.subgraphs
    score.exact = score.agree == score.ops and predicted.compilable and score.subgraphs_agree is not False
    return score


def cases(corpus: Path) -> list[Path]:
    return [d for d in sorted(corpus.iterdir()) if (d / "truth.json").is_file()]


def score_all(corpus: Path, predict: Predictor) -> list[CaseScore]:
    return [s for d in cases(corpus) for s in [score_case(d, predict)] if s]


def leave_one_repo_out(corpus: Path) -> list[CaseScore]:
    """Each repository's cases scored with the limits fitted on all the other repositories."""
    observations = fit.observe(corpus)
    external = fit.external_bounds()
    by_repo: dict[str, list[Path]] = {}
    for d in cases(corpus):
        repo = str(json.loads((d / "truth.json").read_text()).get("source_repo"))
        by_repo.setdefault(repo, []).append(d)
    scores = []
    for repo, dirs in sorted(by_repo.items()):
        predict = tpulint_predictor(fit.overrides(fit.fit(observations, external, exclude_repo=repo)))
        scores += [s for d in dirs for s in [score_case(d, predict)] if s]
    return sorted(scores, key=lambda s: s.name)


def totals(scores: list[CaseScore]) -> tuple[int, int, int, int]:
    return (sum(s.agree for s in scores), sum(s.ops for s in scores), sum(1 for s in scores if s.exact), len(scores))


def _pct(a: int, b: int) -> str:
    return f"{100 * a / max(b, 1):.1f}%"


def print_subsets(title: str, ours: list[CaseScore], naive: list[CaseScore]) -> bool:
    """Per subset: tpulint vs the naive baseline; True when tpulint is at least level on every subset."""
    subsets: dict[str, list[str]] = {"all": [s.name for s in ours]}
    for s in ours:
        subsets.setdefault(f"compiler {s.compiler}", []).append(s.name)
    for s in ours:
        subsets.setdefault(f"evidence {s.evidence}", []).append(s.name)
    by_name = {s.name: s for s in naive}
    print(f"\n{title:<28} {'cases':>5}  {'tpulint ops':>20} {'naive ops':>20}  {'models':>7} {'naive':>7}")
    level = True
    for label, names in subsets.items():
        chosen = set(names)
        a, b, m, n = totals([s for s in ours if s.name in chosen])
        na, nb, nm, _ = totals([by_name[x] for x in names if x in by_name])
        level = level and a >= na and m >= nm
        print(f"{label:<28} {n:>5}  {_pct(a, b):>7} ({a:>5}/{b:<5}) {_pct(na, nb):>7} ({na:>5}/{nb:<5})  "
              f"{m:>3}/{n:<3} {nm:>3}/{n:<3}")
    return level


def print_cases(scores: list[CaseScore], verbose: bool) -> None:
    print(f"{'case':<55} {'ops':>9} {'exact':>5} {'subgr':>5} {'status':>9}")
    for s in scores:
        if s.error:
            print(f"{s.name:<55} ERROR {s.error}")
            continue
        subgraphs = {None: "-", True: "ok", False: "NO"}[s.subgraphs_agree]
        status = f"{s.statuses_agree}/{s.statuses}" if s.statuses else "-"
        print(f"{s.name:<55} {s.agree:>4}/{s.ops:<4} {'yes' if s.exact else 'NO':>5} {subgraphs:>5} {status:>9}")
        if verbose:
            for line in s.wrong:
                print(f"    {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="a folder of cases laid out like ../shared/corpus/real")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every disagreeing op")
    parser.add_argument("--leave-one-repo-out", action="store_true",
                        help="also score each repository with limits fitted without it")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"conformance: {args.corpus}: not a directory", file=sys.stderr)
        return 2
    scores = score_all(args.corpus, tpulint_predictor())
    if not scores:
        print(f"conformance: {args.corpus}: no case with a source model and per-op truth", file=sys.stderr)
        return 2
    print_cases(scores, args.verbose)
    naive = score_all(args.corpus, naive_predict)
    agree, ops, exact, n = totals(scores)
    sub_known = [s for s in scores if s.subgraphs_agree is not None]
    statuses = sum(s.statuses for s in scores)
    statuses_agree = sum(s.statuses_agree for s in scores)
    print()
    print(f"op placement agreement:      {agree}/{ops} ({_pct(agree, ops)})")
    print(f"models predicted exactly:    {exact}/{n}")
    print(f"Edge TPU subgraph count:     {sum(1 for s in sub_known if s.subgraphs_agree)}/{len(sub_known)}")
    print(f"status string agreement:     {statuses_agree}/{statuses} (ops whose truth has a reason)")
    level = print_subsets("in-sample vs naive", scores, naive)
    if args.leave_one_repo_out:
        loro = leave_one_repo_out(args.corpus)
        if args.verbose:
            print("\nleave-one-repo-out misses:")
            for s in loro:
                for line in s.wrong:
                    print(f"    {s.name}: {line}")
        level = print_subsets("leave-one-repo-out vs naive", loro, naive) and level
    print(f"\nahead of or level with the naive baseline on every subset: {'yes' if level else 'NO'}")
    print(f"conformance: ops {_pct(agree, ops)} models {exact}/{n}")
    if args.leave_one_repo_out:
        a, b, m, k = totals(loro)
        print(f"leave-one-repo-out: ops {_pct(a, b)} ({a}/{b}) models {m}/{k}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
