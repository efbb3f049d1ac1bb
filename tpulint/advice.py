"""What to change, checked by the prediction: each suggestion re-runs the partition with the change applied."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Sequence

from tpulint.config import Config
from tpulint.findings import Effect, Finding
from tpulint.graph import Graph
from tpulint.partition import CPU, Outcome, Partition, PartitionOptions, WhatIf

# Rule families whose findings are size thresholds: a smaller input size removes them.
SIZE_THRESHOLD_FAMILY = "TPU6"
MAX_ISLANDS = 20  # what-ifs per subgraph for islands of CPU ops, the ones holding most CPU ops first
MAX_SINGLE_OPS = 10  # what-ifs for single ops inside islands of several own-reason ops
INPUT_STEP = 32  # detectors take input sizes in multiples of their largest stride

MAP_OPS = "map-ops"
SMALLER_INPUT = "smaller-input"
MULTIPLE_SUBGRAPHS = "multiple-subgraphs"
PIPELINING_SPLIT = "pipelining-split"


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One change and what the partition predicts with it applied (`gain` Edge TPU ops more than now)."""

    kind: str  # MAP_OPS, SMALLER_INPUT, MULTIPLE_SUBGRAPHS, or PIPELINING_SPLIT (not a fix: gain 0)
    subgraph: int
    ops: tuple[int, ...]  # the ops the change is about (empty for compiler flags)
    codes: tuple[str, ...]  # the rules those ops break
    tpu_ops: int  # predicted Edge TPU ops of the model with the change
    gain: int
    tpu_subgraphs: int
    transfers_added: int  # CPU <-> Edge TPU boundary tensors more than now
    text: str
    command: str | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "subgraph": self.subgraph, "ops": list(self.ops), "codes": list(self.codes),
                "tpu_ops": self.tpu_ops, "gain": self.gain, "tpu_subgraphs": self.tpu_subgraphs,
                "transfers_added": self.transfers_added, "text": self.text, "command": self.command,
                "source": self.source}


@dataclass(frozen=True, slots=True)
class _Trial:
    tpu_ops: int
    tpu_subgraphs: int
    transfers: int


def _trial(outcomes: Sequence[Outcome]) -> _Trial:
    return _Trial(sum(o.tpu_ops for o in outcomes), sum(o.segments for o in outcomes),
                  sum(o.transfers for o in outcomes))


def islands(graph: Graph, part: Partition) -> list[list[int]]:
    """Connected groups of CPU ops (joined by the tensors between them) holding at least one op with its own
    reason, largest first."""
    placements = part.placements
    parent = list(range(len(placements)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, p in enumerate(placements):
        if p.placement == CPU:
            for q in graph.preds[i]:
                if q < len(placements) and placements[q].placement == CPU:
                    parent[root(i)] = root(q)
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(placements):
        if p.placement == CPU:
            groups.setdefault(root(i), []).append(i)
    found = [ops for ops in groups.values() if any(placements[i].codes for i in ops)]
    found.sort(key=lambda ops: (-len(ops), ops[0]))
    return found


class _Advisor:
    """The what-ifs of one model: its findings, graphs and options, and the prediction as it stands."""

    def __init__(self, path: str, graphs: Sequence[Graph], findings: Sequence[Finding],
                 partitions: Sequence[Partition], config: Config) -> None:
        self.path, self.graphs, self.findings, self.partitions = path, graphs, findings, partitions
        self.options = PartitionOptions(config.multiple_subgraphs, config.intermediate_tensors)
        self.now = _trial([Outcome.of(p.tpu_ops, p.segments) for p in partitions])
        self.tpu_ops = self.now.tpu_ops
        self.what_ifs = [WhatIf(g, findings) for g in graphs]
        self.as_now = [Outcome.of(p.tpu_ops, p.segments) for p in partitions]  # the other subgraphs of a what-if

    def run(self, options: PartitionOptions) -> _Trial:
        """The prediction with other compiler options."""
        return _trial([w.outcome(options) for w in self.what_ifs])

    def run_tpu_ops(self, options: PartitionOptions) -> int:
        """`run(options).tpu_ops` alone."""
        return sum(w.tpu_ops(options) for w in self.what_ifs)

    def without(self, subgraph: int, ops: set[int]) -> _Trial:
        """The prediction if `ops` of `subgraph` had no reason of their own to stay on the CPU."""
        outcomes = list(self.as_now)
        outcomes[subgraph] = self.what_ifs[subgraph].outcome(self.options, ops)
        return _trial(outcomes)

    def tpu_ops_without(self, subgraph: int, ops: set[int]) -> int:
        """`without(subgraph, ops).tpu_ops` alone."""
        return self.tpu_ops - self.as_now[subgraph].tpu_ops + self.what_ifs[subgraph].tpu_ops(self.options, ops)

    def suggestion(self, kind: str, subgraph: int, ops: Sequence[int], trial: _Trial, text: str,
                   command: str | None = None, source: str | None = None) -> Suggestion:
        codes = tuple(dict.fromkeys(c for i in ops for c in self.partitions[subgraph].placements[i].codes))
        return Suggestion(kind, subgraph, tuple(ops), codes, trial.tpu_ops, trial.tpu_ops - self.tpu_ops,
                          trial.tpu_subgraphs, trial.transfers - self.now.transfers, text, command, source)


@dataclass(frozen=True, slots=True)
class Advice:
    """The ranked suggestions of one model, and the blockers whose `-i` cut point keeps every mapped op."""

    suggestions: tuple[Suggestion, ...] = ()
    safe_cuts: frozenset[tuple[int, int]] = frozenset()  # (subgraph, blocker op)


def advise(path: str, graphs: Sequence[Graph], findings: Sequence[Finding], partitions: Sequence[Partition],
           config: Config) -> Advice:
    """Changes that put more ops on the Edge TPU, ranked by the ops each gains (never one that loses ops),
    then at most one `-i` line for a clean Edge TPU / CPU split that maps as many ops as now."""
    if not any(p.cpu_ops for p in partitions):
        return Advice()
    advisor = _Advisor(path, graphs, findings, partitions, config)
    fixes: list[Suggestion] = []
    for part, graph in zip(partitions, graphs):
        fixes += _op_fixes(advisor, graph, part)
    if not config.multiple_subgraphs:
        fixes += _multiple_subgraphs(advisor)
    fixes = [s for s in fixes if s.gain > 0]
    fixes.sort(key=lambda s: (-s.gain, s.kind == MULTIPLE_SUBGRAPHS, s.subgraph, s.ops))
    splits = _splits(advisor)
    return Advice(tuple(fixes) + splits[:1], frozenset((s.subgraph, s.ops[0]) for s in splits))


def _op_fixes(advisor: _Advisor, graph: Graph, part: Partition) -> list[Suggestion]:
    """Make an island of CPU ops mappable, or one op of it when that alone gains as much; only where that
    regains ops cut off (an op that cuts nothing off gains only itself: its finding's fix says what to do)."""
    out: list[Suggestion] = []
    placements = part.placements
    for island in islands(graph, part)[:MAX_ISLANDS]:
        own = [i for i in island if placements[i].codes]
        whole = advisor.tpu_ops_without(part.subgraph, set(own))
        best: tuple[int, int] | None = None
        if len(own) > 1:
            for i in own[:MAX_SINGLE_OPS]:
                alone = advisor.tpu_ops_without(part.subgraph, {i})
                if alone > advisor.tpu_ops and (best is None or alone > best[1]):
                    best = (i, alone)
        if best is not None and best[1] >= whole:
            own, whole = [best[0]], best[1]
        if whole - advisor.tpu_ops > len(own):  # it regains ops cut off, not only the ops themselves
            out.append(_op_fix(advisor, graph, part.subgraph, own, advisor.without(part.subgraph, set(own))))
    return out


def _op_fix(advisor: _Advisor, graph: Graph, subgraph: int, own: list[int], trial: _Trial) -> Suggestion:
    placements = advisor.partitions[subgraph].placements
    codes = sorted({c for i in own for c in placements[i].codes})
    names = _op_names(graph, own)
    if all(c.startswith(SIZE_THRESHOLD_FAMILY) for c in codes):
        size = _input_size_below_thresholds(advisor, subgraph, own)
        text = (f"export the model with a smaller input size{size}: {names} stay on the CPU only for their size "
                f"({', '.join(codes)}); once below the thresholds, {_gain_words(advisor, trial)}. For a detection "
                "head, exporting without the decode and running it on the CPU avoids the large tensors too")
        return advisor.suggestion(SMALLER_INPUT, subgraph, own, trial, text,
                                  source=f"size thresholds of {', '.join(codes)} (docs/rules.md): the same YOLO "
                                         "head ops map at 160-352 pixels in the real-compiler corpus")
    fix = next((f.fix for f in advisor.findings if f.effect is Effect.CPU and f.location.subgraph == subgraph
                and f.location.operator in own and f.fix), None)
    text = f"make {names} mappable ({', '.join(codes)}{': ' + fix if fix else ''}): {_gain_words(advisor, trial)}"
    return advisor.suggestion(MAP_OPS, subgraph, own, trial, text)


def _input_size_below_thresholds(advisor: _Advisor, subgraph: int, ops: Sequence[int]) -> str:
    """", at most HxW (the input is HxW)": the largest input, in steps of INPUT_STEP pixels, at which every size
    finding of `ops` is under its limit, assuming each measure grows as the input side to its power (area for
    element counts); "" when the model has no single image input [1, H, W, C] or no such input is left."""
    inputs = advisor.graphs[subgraph].subgraph.inputs
    tensors = advisor.graphs[subgraph].subgraph.tensors
    if len(inputs) != 1 or len(tensors[inputs[0]].shape) != 4 or tensors[inputs[0]].shape[0] != 1:
        return ""
    _, height, width, _ = tensors[inputs[0]].shape
    limits = [f.threshold for f in advisor.findings if f.threshold and f.location.subgraph == subgraph
              and f.location.operator in ops]
    if not limits or any(f.code.startswith(SIZE_THRESHOLD_FAMILY) and not f.threshold for f in advisor.findings
                         if f.location.subgraph == subgraph and f.location.operator in ops):
        return ""
    scale = min((limit / measured) ** (1 / power) for measured, limit, power in limits)
    side = max(height, width)
    new_side = int(side * scale) // INPUT_STEP * INPUT_STEP
    while new_side >= INPUT_STEP and any(measured * (new_side / side) ** power > limit
                                         for measured, limit, power in limits):
        new_side -= INPUT_STEP
    if new_side < INPUT_STEP:
        return ""
    new_h, new_w = (height * new_side // side, width * new_side // side)
    return f", at most {new_h}x{new_w} (the input is {height}x{width}; these tensors grow with it)"


def _multiple_subgraphs(advisor: _Advisor) -> list[Suggestion]:
    options = PartitionOptions(True, advisor.options.intermediate_tensors)
    trial = advisor.run(options)
    command = f"edgetpu_compiler -a {shlex.quote(advisor.path)}"
    text = (f"compile with -a (several Edge TPU subgraphs; experimental, slower to compile, and it can fail "
            f"on large activations): {_gain_words(advisor, trial)} in {trial.tpu_subgraphs} Edge TPU subgraphs, "
            f"{trial.transfers - advisor.now.transfers:+d} CPU↔Edge TPU transfers per inference")
    return [advisor.suggestion(MULTIPLE_SUBGRAPHS, 0, (), trial, text, command)]


def _splits(advisor: _Advisor) -> tuple[Suggestion, ...]:
    """For each blocker, the `-i` line ending the Edge TPU segment in front of it, where that keeps every op
    mapped as now (ending it there can also cut off other readers of the same tensors: those are left out)."""
    from tpulint.report import compiler_command

    out = []
    for part, graph in zip(advisor.partitions, advisor.graphs):
        tensors = graph.subgraph.tensors
        for b in part.blockers:
            names = [tensors[t].name for t in b.cut_tensors]
            if not names:
                continue
            cut = tuple(dict.fromkeys((*advisor.options.intermediate_tensors, *names)))
            options = PartitionOptions(advisor.options.multiple_subgraphs, cut)
            if advisor.run_tpu_ops(options) < advisor.tpu_ops:
                continue
            trial = advisor.run(options)
            text = (f"not a fix, for a clean Edge TPU / CPU split (e.g. to pipeline the CPU part): -i ends the "
                    f"Edge TPU segment at {', '.join(repr(n) for n in names)}, before op {b.op} "
                    f"{graph.subgraph.operators[b.op].name}; {trial.tpu_ops} op{'s' if trial.tpu_ops != 1 else ''} on "
                    "the Edge TPU, as now")
            out.append(advisor.suggestion(PIPELINING_SPLIT, part.subgraph, (b.op,), trial, text,
                                          compiler_command(advisor.path, names)))
    return tuple(out)


def _gain_words(advisor: _Advisor, trial: _Trial) -> str:
    ops = sum(len(p.placements) for p in advisor.partitions)
    return f"{trial.tpu_ops}/{ops} ops on the Edge TPU instead of {advisor.tpu_ops}/{ops}"


def _op_names(graph: Graph, ops: Sequence[int], limit: int = 4) -> str:
    operators = graph.subgraph.operators
    named = [f"op {i} {operators[i].name}" for i in ops[:limit]]
    more = f" and {len(ops) - limit} more" if len(ops) > limit else ""
    return ", ".join(named) + more


__all__ = ["Advice", "Suggestion", "advise", "islands", "MAP_OPS", "SMALLER_INPUT", "MULTIPLE_SUBGRAPHS",
           "PIPELINING_SPLIT"]
