"""Predict the compiler's partition: per op Edge TPU or CPU, its status, what blocked it, and the Edge TPU segments."""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from typing import Iterable, Sequence

from tpulint.findings import MAPPED, MORE_THAN_ONE_SUBGRAPH, Effect, Finding
from tpulint.graph import Graph
from tpulint.model import SubgraphColumns, fast_constructor
from tpulint.model_types import columns_to_use

TPU = "tpu"
CPU = "cpu"

# When several findings force one op to the CPU, the compiler prints one status; these come first.
_STATUS_PRECEDENCE = (
    "Operation version not supported",
    "Operation is working on an unsupported data type",
    "Operation not supported",
    "Tensor has unsupported rank (up to 3 innermost dimensions mapped)",
    "Filter, bias, or other param is not constant at compile-time",
    "For example, a fully-connected or softmax layer with 2D output",
    "Operation is otherwise supported, but not mapped due to some unspecified limitation",
)


@dataclass(frozen=True, slots=True)
class PartitionOptions:
    """The compiler options that change partitioning."""

    multiple_subgraphs: bool = False  # edgetpu_compiler -a
    intermediate_tensors: tuple[str, ...] = ()  # edgetpu_compiler -i


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one op runs and the status line the compiler would log for it."""

    index: int
    opcode: str
    custom_code: str | None
    placement: str  # TPU or CPU
    status: str
    codes: tuple[str, ...] = ()  # rules that put this op on the CPU
    blocked_by: int | None = None  # for ops cut off downstream of a CPU op: that op
    segment: int | None = None  # Edge TPU segment index for TPU ops


_new_placement = fast_constructor(Placement)
_placement_of = attrgetter("placement")


@dataclass(frozen=True, slots=True)
class Segment:
    """One Edge TPU subgraph (one edgetpu-custom-op in the compiled file)."""

    index: int
    ops: tuple[int, ...]
    inputs: tuple[int, ...]  # boundary tensor indices entering the segment
    outputs: tuple[int, ...]  # boundary tensor indices leaving it


@dataclass(frozen=True, slots=True)
class Blocker:
    """A CPU op with its own reason that cuts ops off downstream, ranked by what fixing it regains."""

    op: int
    regained: int  # ops (itself included) that would move to the Edge TPU if it mapped
    cut_tensors: tuple[int, ...] = ()  # tensors feeding it from the Edge TPU: a `-i` cut point


@dataclass(frozen=True, slots=True)
class Partition:
    subgraph: int
    placements: tuple[Placement, ...]
    segments: tuple[Segment, ...]
    blockers: tuple[Blocker, ...] = ()
    compilable: bool = True
    _tpu_ops: int = field(default=-1, init=False, repr=False, compare=False)  # counted on first use

    @property
    def tpu_ops(self) -> int:
        if self._tpu_ops < 0:  # the summary, the grading and the advice each ask: counted once, at C speed
            object.__setattr__(self, "_tpu_ops", list(map(_placement_of, self.placements)).count(TPU))
        return self._tpu_ops

    @property
    def cpu_ops(self) -> int:
        return len(self.placements) - self.tpu_ops


@dataclass
class _Verdicts:
    """Per-op reasons from the findings: the status and codes of the findings that force the CPU."""

    status: list[str | None]
    codes: list[tuple[str, ...]] = field(default_factory=list)


def own_verdicts(n_ops: int, findings: Iterable[Finding], subgraph: int) -> _Verdicts:
    status: list[str | None] = [None] * n_ops
    found: dict[int, dict[str, None]] = {}  # op -> its CPU findings' codes, in order, once each
    rank = {s: i for i, s in enumerate(_STATUS_PRECEDENCE)}
    for f in findings:
        loc = f.location
        if f.effect is not Effect.CPU or loc.subgraph != subgraph or loc.operator is None:
            continue
        i = loc.operator
        found.setdefault(i, {})[f.code] = None
        new = f.status or _STATUS_PRECEDENCE[-1]
        if status[i] is None or rank.get(new, len(rank)) < rank.get(status[i], len(rank)):  # type: ignore[arg-type]
            status[i] = new
    codes: list[tuple[str, ...]] = [()] * n_ops
    for i, c in found.items():
        codes[i] = tuple(c)
    return _Verdicts(status, codes)


def partition(graph: Graph, findings: Sequence[Finding], options: PartitionOptions = PartitionOptions(),
              compilable: bool = True) -> Partition:
    """Place every op of the graph's subgraph, following the data flow from the first mappable op."""
    sg = graph.subgraph
    ops = sg.operators
    verdicts = own_verdicts(len(ops), findings, sg.index)
    if not compilable:
        rejected = tuple(
            Placement(op.index, op.opcode, op.custom_code, CPU, verdicts.status[op.index] or "", verdicts.codes[op.index])
            for op in ops)
        return Partition(sg.index, rejected, (), (), False)
    own = _mappable(graph, verdicts, options)
    on_tpu, blocked_by, start = _propagate(graph, own, options.multiple_subgraphs)
    segment_of = _segments(graph, on_tpu, options.multiple_subgraphs)
    placements: list[Placement] = []
    new = _new_placement
    status, codes = verdicts.status, verdicts.codes
    for op in ops:
        i = op.index
        if on_tpu[i]:
            placements.append(new(i, op.opcode, op.custom_code, TPU, MAPPED, (), None, segment_of[i]))
        elif status[i] is not None:
            placements.append(new(i, op.opcode, op.custom_code, CPU, status[i], codes[i], None, None))
        else:
            placements.append(new(i, op.opcode, op.custom_code, CPU, MORE_THAN_ONE_SUBGRAPH, (), blocked_by[i], None))
    segments = _segment_boundaries(graph, segment_of)
    blockers = _rank_blockers(graph, own, on_tpu, blocked_by, start, options.multiple_subgraphs)
    return Partition(sg.index, tuple(placements), segments, blockers, True)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a what-if needs of a partition: its Edge TPU ops, segments and boundary tensors (transfers)."""

    tpu_ops: int
    segments: int
    transfers: int

    @staticmethod
    def of(tpu_ops: int, segments: Sequence[Segment]) -> Outcome:
        return Outcome(tpu_ops, len(segments), sum(len(s.inputs) + len(s.outputs) for s in segments))


_Run = tuple[list[bool], list[int | None], int]  # on_tpu, blocked_by, start: what _propagate computes


class WhatIf:
    """Partitions of one subgraph with some ops' own CPU reasons removed, or other compiler options: the counts
    only (no placements, no blocker ranking), from the findings' verdicts computed once."""

    def __init__(self, graph: Graph, findings: Sequence[Finding]) -> None:
        self.graph = graph
        self.verdicts = own_verdicts(len(graph.subgraph.operators), findings, graph.subgraph.index)
        self._edges: _Edges | None = None  # built on the first full outcome
        self._runs: dict[PartitionOptions, _Run] = {}  # with nothing freed: what the what-ifs with ops freed resume

    def outcome(self, options: PartitionOptions, freed: Iterable[int] = ()) -> Outcome:
        """The partition's counts if the ops in `freed` had no reason of their own to stay on the CPU."""
        on_tpu = self._on_tpu(options, freed)
        segment_of = _segments(self.graph, on_tpu, options.multiple_subgraphs)
        used = set(segment_of)
        used.discard(None)
        if self._edges is None:
            self._edges = _tensor_edges(self.graph)
        return Outcome(sum(on_tpu), len(used), _transfers(self._edges, segment_of))

    def tpu_ops(self, options: PartitionOptions, freed: Iterable[int] = ()) -> int:
        """`outcome(options, freed).tpu_ops` alone, without the segments and transfers (most what-ifs need no more)."""
        return sum(self._on_tpu(options, freed))

    def _on_tpu(self, options: PartitionOptions, freed: Iterable[int]) -> list[bool]:
        base = self._runs.get(options)
        if base is None:
            own = _mappable(self.graph, self.verdicts, options)
            base = self._runs[options] = _propagate(self.graph, own, options.multiple_subgraphs)
        freed = tuple(freed)
        if not freed:
            return base[0]
        own = _mappable(self.graph, self.verdicts, options, freed)
        return _propagate(self.graph, own, options.multiple_subgraphs, min(freed), base)[0]


# The tensors that can cross a segment boundary, each as (its producer or -1, the ops reading it, whether it is
# a subgraph output, whether it is constant). A constant no op writes never crosses one.
_Edges = list[tuple[int, tuple[int, ...], bool, bool]]


def _tensor_edges(graph: Graph) -> _Edges:
    outputs = frozenset(graph.subgraph.outputs)
    tensors = graph.subgraph.tensors
    edges: _Edges = []
    for t, (src, readers) in enumerate(zip(graph.producer, graph.consumers)):
        constant = bool(tensors[t].data_size)
        if src >= 0 or (readers and not constant):
            edges.append((src, readers, t in outputs, constant))
    return edges


def _transfers(edges: _Edges, segment_of: list[int | None]) -> int:
    """The boundary tensors of all segments, counted as _segment_boundaries lists them (a tensor entering
    several segments counts once for each) without building them: one pass over the tensors instead of the
    ops, for the what-ifs, which need only the count."""
    n = 0
    for src, readers, is_output, constant in edges:
        home = segment_of[src] if src >= 0 else None
        if len(readers) == 1:
            s = segment_of[readers[0]]
            if home is not None and (is_output or s != home):
                n += 1  # leaves its segment
            if s is not None and s != home and not constant:
                n += 1  # enters its reader's segment
        elif readers:
            entered = {segment_of[c] for c in readers}
            if home is not None and (is_output or len(entered) > 1 or home not in entered):
                n += 1
            if not constant:
                entered.discard(None)
                entered.discard(home)
                n += len(entered)
        elif home is not None and is_output:
            n += 1
    return n


def _mappable(graph: Graph, verdicts: _Verdicts, options: PartitionOptions, freed: Iterable[int] = ()) -> list[bool]:
    """Per op: no reason of its own to stay on the CPU (`freed` ops: their findings left out), and not reading an
    `-i` tensor."""
    cut_ops = _after_intermediate_tensors(graph, options.intermediate_tensors)
    own = [s is None for s in verdicts.status]
    for i in freed:
        own[i] = True
    if cut_ops:
        for i in cut_ops:
            own[i] = False
    return own


def _after_intermediate_tensors(graph: Graph, names: Sequence[str]) -> set[int]:
    """Ops that read (directly or downstream) a tensor named with `-i`: the compiler leaves them to the CPU."""
    if not names:
        return set()
    wanted = set(names)
    readers = [c for t in graph.subgraph.tensors if t.name in wanted for c in graph.consumers[t.index]]
    return set(readers) | graph.descendants(readers)


# Input conversions (float/uint8 QUANTIZE, CAST) before the segment start stay on the CPU without cutting it
# (TD movenet, every float-input log); any other CPU op before the start cuts off what depends on it (#342, #433).
_INPUT_WRAPPERS = frozenset({"QUANTIZE", "DEQUANTIZE", "CAST"})


def _propagate(graph: Graph, own: list[bool], multiple: bool, same_before: int = 0, base: _Run | None = None) -> _Run:
    """An op maps when it can and no CPU op it depends on (other than a leading input conversion) fell to the CPU.

    With `base`, the run of an `own` equal to this one before op `same_before`: those ops are taken from it (the
    ops are in execution order, so an op depends only on ops before it), when the first mappable op is among them.
    """
    n = len(own)
    ops = graph.subgraph.operators
    if base is not None and base[2] < same_before:
        start = base[2]
        on_tpu = base[0][:same_before] + [False] * (n - same_before)
        blocked_by = base[1][:same_before] + [None] * (n - same_before)
        first = same_before
    else:
        start = next((i for i in range(n) if own[i]), n)
        on_tpu = [False] * n
        blocked_by = [None] * n
        first = start
    for i in range(first, n):
        blocker = None
        for p in graph.preds[i]:
            if on_tpu[p] or (p < start and ops[p].opcode in _INPUT_WRAPPERS):
                continue
            root = p if not own[p] else blocked_by[p]
            if root is not None and (blocker is None or root < blocker):
                blocker = root
        if own[i] and (multiple or blocker is None):
            on_tpu[i] = True
        elif own[i]:
            blocked_by[i] = blocker  # mappable, but cut off downstream of a CPU op
    return on_tpu, blocked_by, start


def _segments(graph: Graph, on_tpu: list[bool], multiple: bool) -> list[int | None]:
    """Segment index per TPU op: one segment by default; with `-a`, one per count of CPU walls crossed."""
    n = len(on_tpu)
    segment: list[int | None] = [None] * n
    if not multiple:
        for i in range(n):
            if on_tpu[i]:
                segment[i] = 0
        return segment
    walls = [0] * n
    seen_tpu = [False] * n  # some TPU op upstream (a CPU op after it is a wall)
    for i in range(n):
        w = 0
        upstream_tpu = on_tpu[i]
        for p in graph.preds[i]:
            w = max(w, walls[p] + (1 if not on_tpu[p] and seen_tpu[p] and on_tpu[i] else 0))
            upstream_tpu = upstream_tpu or seen_tpu[p]
        walls[i], seen_tpu[i] = w, upstream_tpu
    used = sorted({walls[i] for i in range(n) if on_tpu[i]})
    renumber = {w: k for k, w in enumerate(used)}
    for i in range(n):
        if on_tpu[i]:
            segment[i] = renumber[walls[i]]
    return segment


def _segment_boundaries(graph: Graph, segment_of: list[int | None]) -> tuple[Segment, ...]:
    sg = graph.subgraph
    columns = columns_to_use(sg)
    if columns is not None:
        return _segment_boundaries_over_columns(graph, segment_of, columns)
    members: dict[int, list[int]] = {}
    for i, s in enumerate(segment_of):
        if s is not None:
            members.setdefault(s, []).append(i)
    graph_outputs = set(sg.outputs)
    producer, consumers, tensors, operators = graph.producer, graph.consumers, sg.tensors, sg.operators
    segments = []
    for s, ops in sorted(members.items()):
        inputs: dict[int, None] = {}
        outputs: dict[int, None] = {}
        for i in ops:
            op = operators[i]
            for t in op.inputs:
                if t >= 0:
                    src = producer[t]
                    if (src < 0 or segment_of[src] != s) and not tensors[t].data_size:
                        inputs[t] = None
            for t in op.outputs:
                if t in graph_outputs:
                    outputs[t] = None
                else:
                    for c in consumers[t]:
                        if segment_of[c] != s:
                            outputs[t] = None
                            break
        segments.append(Segment(s, tuple(ops), tuple(inputs), tuple(outputs)))
    return tuple(segments)


def _segment_boundaries_over_columns(graph: Graph, segment_of: list[int | None],
                                     columns: SubgraphColumns) -> tuple[Segment, ...]:
    """_segment_boundaries as array math over the columns: each segment's inputs in the order its ops first read
    them, its outputs in the order its ops write them."""
    import numpy as np

    from tpulint.column_tuples import distinct

    segment = np.array([-1 if s is None else s for s in segment_of], np.int64)
    producer = np.array(graph.producer, np.int64)
    n_tensors = len(producer)
    reader = np.repeat(np.arange(len(segment)), np.diff(columns.input_offsets))
    read = columns.inputs.astype(np.int64)
    kept = read >= 0
    reader, read = reader[kept], read[kept]
    home = np.where(producer[read] >= 0, segment[producer[read]], -1)  # the segment of the read's producer
    into = segment[reader]
    entering = (into >= 0) & (home != into) & ~columns.is_constant[read]
    key = into[entering] * n_tensors + read[entering]
    _, first = np.unique(key, return_index=True)  # each (segment, tensor) once, at its first read
    first.sort()
    in_segment, in_tensor = into[entering][first], read[entering][first]
    leaves = np.zeros(n_tensors, bool)
    leaves[read[(home >= 0) & (home != into)]] = True
    if sg_outputs := graph.subgraph.outputs:
        leaves[np.array(sg_outputs, np.int64)] = True
    writer = np.repeat(np.arange(len(segment)), np.diff(columns.output_offsets))
    written = columns.outputs.astype(np.int64)
    out = (segment[writer] >= 0) & leaves[written]
    out_segment, out_tensor = segment[writer][out], written[out]
    members = np.flatnonzero(segment >= 0)
    member_segment = segment[members]
    segments = []
    for s in distinct(member_segment).tolist():
        segments.append(Segment(s, tuple(members[member_segment == s].tolist()),
                                tuple(in_tensor[in_segment == s].tolist()), tuple(out_tensor[out_segment == s].tolist())))
    return tuple(segments)


def _rank_blockers(graph: Graph, own: list[bool], on_tpu: list[bool], blocked_by: list[int | None], start: int,
                   multiple: bool, limit: int = 10) -> tuple[Blocker, ...]:
    """Ops with their own CPU reason that cut other ops off, ranked by how many ops would map if each one did.

    The count is exact (the partition is re-run with the op mappable) for the `limit` most promising candidates.
    """
    cut_off: dict[int, int] = {}
    for i, b in enumerate(blocked_by):
        if b is not None:
            cut_off[b] = cut_off.get(b, 0) + 1
    candidates = [i for i in range(len(own)) if not own[i]]
    candidates.sort(key=lambda i: (-cut_off.get(i, 0), i))
    base = sum(on_tpu)
    ranked = []
    for b in candidates[:limit]:
        trial = list(own)
        trial[b] = True
        regained = sum(_propagate(graph, trial, multiple, b, (on_tpu, blocked_by, start))[0]) - base
        if regained <= 1:  # it only frees itself: not a blocker
            continue
        cut = tuple(t for t in graph.subgraph.operators[b].inputs
                    if t >= 0 and graph.producer[t] >= 0 and on_tpu[graph.producer[t]])
        ranked.append(Blocker(b, regained, cut))
    ranked.sort(key=lambda x: (-x.regained, x.op))
    return tuple(ranked)
