"""Attribute a real compile (the compiled model, the compiler's log, or both) to every op of the source model."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from tpulint.compiled import inspect
from tpulint.compiler_log import CompilerLog, read_log
from tpulint.errors import ModelError, TpulintError
from tpulint.findings import MAPPED, MORE_THAN_ONE_SUBGRAPH
from tpulint.graph import Graph
from tpulint.model import Model, Operator, Subgraph, read_model

TPU, CPU = "tpu", "cpu"


class CompareError(TpulintError):
    """The compiled model or the log does not belong to the source model."""


@dataclass(frozen=True, slots=True)
class ActualOp:
    """What the compiler did to one source op; placement None where the evidence leaves it ambiguous."""

    placement: str | None
    status: str | None  # the log's status; None when no log says it, or the log's rows leave a choice
    segment: int | None = None  # which Edge TPU subgraph (0-based, in the compiled model's order)
    compiled_op: int | None = None  # the op of the compiled model: its edgetpu-custom-op, or the CPU op itself
    candidates: tuple[tuple[str, int], ...] = ()  # (status, ops of this type with it) when status is None
    log_line: str | None = None  # the log's row for this op's type and status

    def to_dict(self) -> dict[str, Any]:
        return {"placement": self.placement, "status": self.status, "segment": self.segment,
                "compiled_op": self.compiled_op,
                "candidates": dict(self.candidates) if self.candidates else None}


@dataclass(frozen=True, slots=True)
class ActualSegment:
    """One edgetpu-custom-op of the compiled model, as source ops and source tensors."""

    index: int
    compiled_op: int
    ops: tuple[int, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ActualCompile:
    """The real compile of one source model (its subgraph 0, which is all the compiler partitions)."""

    compiled_path: str | None
    log_path: str | None
    ops: tuple[ActualOp, ...]
    segments: tuple[ActualSegment, ...] = ()
    compiler_version: str | None = None
    cached_bytes: int | None = None  # from the compiled package, else the log's summary line
    streamed_bytes: int | None = None
    on_chip_remaining_bytes: int | None = None
    tpu_subgraphs: int | None = None
    log_ops: int | None = None  # the log's "Total number of operations"
    unassigned: tuple[int, ...] = ()  # ops on the Edge TPU in no edgetpu-custom-op's span (dead code)

    @property
    def source(self) -> str:
        return "+".join(k for k, p in (("compiled", self.compiled_path), ("log", self.log_path)) if p)


def attribute(source: Model, graph: Graph, compiled: Model | None = None, log: CompilerLog | None = None,
              compiled_path: str | None = None) -> ActualCompile:
    """Per source op of subgraph 0, what the compiler did, from `compiled` and/or `log`; raises CompareError."""
    sg = source.main
    ops: list[ActualOp]
    segments: tuple[ActualSegment, ...] = ()
    unassigned: tuple[int, ...] = ()
    cached = streamed = None
    version = None
    if compiled is not None:
        path = compiled_path or compiled.path
        ops, segments, unassigned = _from_compiled(sg, graph, compiled, path, source.path)
        info = inspect(compiled)
        if info is not None and not info.problems:
            cached, streamed = info.cached_parameter_bytes, info.streamed_parameter_bytes
            version = ", ".join(v for v in info.compiler_versions if v) or None
    if log is not None:
        _check_counts(sg, log, source.path)
        ops = _with_log(sg, graph, log, ops if compiled is not None else None, compiled_path or "")
        version = log.compiler_version or version
        if cached is None:
            cached, streamed = log.on_chip_used_bytes, log.off_chip_used_bytes
    if compiled is None and log is None:
        raise ValueError("attribute() needs a compiled model or a log")
    subgraphs = len(segments) if compiled is not None else (log.edgetpu_subgraphs if log is not None else None)
    return ActualCompile(
        compiled_path=compiled_path or (compiled.path if compiled is not None else None),
        log_path=log.path if log is not None else None, ops=tuple(ops), segments=segments,
        compiler_version=version, cached_bytes=cached, streamed_bytes=streamed,
        on_chip_remaining_bytes=log.on_chip_remaining_bytes if log is not None else None,
        tpu_subgraphs=subgraphs, log_ops=log.total_ops if log is not None else None, unassigned=unassigned)


def siblings(path: str) -> tuple[str | None, str | None]:
    """The compiled model and the log edgetpu_compiler writes next to `path` (X_edgetpu.tflite, X_edgetpu.log),
    where they exist."""
    stem = os.path.splitext(path)[0]
    found = [stem + "_edgetpu" + ext for ext in (".tflite", ".log")]
    return tuple(p if os.path.isfile(p) else None for p in found)  # type: ignore[return-value]


def actual_for(source: Model, graph: Graph, compiled_path: str | None, log_path: str | None) -> ActualCompile:
    """Read the evidence files and attribute them; raises CompareError or LogError naming the file at fault."""
    compiled = None
    if compiled_path is not None:
        try:
            compiled = read_model(compiled_path)
        except ModelError as e:
            raise CompareError(f"{compiled_path}: {e}") from None
    log = read_log(log_path) if log_path is not None else None
    return attribute(source, graph, compiled, log, compiled_path)


# --- from a compiled model ------------------------------------------------------------------------

def _score(src: Subgraph, op: Operator, cmp: Subgraph, cop: Operator) -> tuple[int, int, int]:
    """How well source op `op` explains compiled op `cop`: equal output names, equal input names, equal shapes."""
    def names(sg: Subgraph, ids: tuple[int, ...]) -> list[str]:
        return [sg.tensors[t].name for t in ids if t >= 0]

    def shapes(sg: Subgraph, ids: tuple[int, ...]) -> list[tuple[int, ...]]:
        return [sg.tensors[t].shape for t in ids if t >= 0]

    outs = sum(a == b for a, b in zip(names(src, op.outputs), names(cmp, cop.outputs)))
    ins = len(set(names(src, op.inputs)) & set(names(cmp, cop.inputs)))
    same = sum(a == b for a, b in zip(shapes(src, op.inputs + op.outputs), shapes(cmp, cop.inputs + cop.outputs)))
    return outs, ins, same


def _from_compiled(src: Subgraph, graph: Graph, compiled: Model, path: str,
                   source_path: str) -> tuple[list[ActualOp], tuple[ActualSegment, ...], tuple[int, ...]]:
    cmp = compiled.main
    if not any(op.is_edgetpu for op in cmp.operators):
        raise CompareError(f"{path}: not a compiled model: it has no edgetpu-custom-op")
    by_name: dict[str, int] = {}
    for t in src.tensors:
        by_name.setdefault(t.name, t.index)
    tensor_map: dict[int, int] = {t.index: by_name[t.name] for t in cmp.tensors if t.name in by_name}
    cpu_of: dict[int, int] = {}  # source op -> compiled op
    for cop in cmp.operators:
        if cop.is_edgetpu:
            continue
        candidates = [op for op in src.operators if op.index not in cpu_of and op.opcode == cop.opcode
                      and op.custom_code == cop.custom_code]
        if not candidates:
            raise CompareError(f"{path}: not compiled from {source_path}: its op {cop.index} "
                               f"{cop.name} has no counterpart in the source model")
        best = max(candidates, key=lambda op: _score(src, op, cmp, cop))  # max keeps the first of equals
        if _score(src, best, cmp, cop) == (0, 0, 0):
            raise CompareError(f"{path}: not compiled from {source_path}: its op {cop.index} "
                               f"{cop.name} matches no source op by tensor name or shape")
        cpu_of[best.index] = cop.index
        for a, b in zip(cop.inputs + cop.outputs, best.inputs + best.outputs):  # renamed boundary tensors
            if a >= 0 and b >= 0:
                tensor_map.setdefault(a, b)
    segment_of: dict[int, tuple[int, int]] = {}  # source op -> (segment, compiled op)
    segments = []
    for k, cop in enumerate(op for op in cmp.operators if op.is_edgetpu):
        members = _span(src, graph, cmp, cop, tensor_map, set(cpu_of), path, source_path)
        for i in members:
            segment_of.setdefault(i, (k, cop.index))
        segments.append(ActualSegment(k, cop.index, tuple(sorted(members)),
                                      tuple(src.tensors[tensor_map[t]].name for t in cop.inputs if t >= 0),
                                      tuple(src.tensors[tensor_map[t]].name for t in cop.outputs)))
    ops = []
    unassigned = []
    for op in src.operators:
        if op.index in cpu_of:
            ops.append(ActualOp(CPU, None, None, cpu_of[op.index]))
        elif op.index in segment_of:
            k, at = segment_of[op.index]
            ops.append(ActualOp(TPU, MAPPED, k, at))
        else:
            unassigned.append(op.index)
            ops.append(ActualOp(TPU, MAPPED))
    return ops, tuple(segments), tuple(unassigned)


def _span(src: Subgraph, graph: Graph, cmp: Subgraph, cop: Operator, tensor_map: dict[int, int],
          cpu_ops: set[int], path: str, source_path: str) -> set[int]:
    """Source ops reachable backwards from the custom op's outputs without crossing its inputs."""
    for t in cop.inputs + cop.outputs:
        if t >= 0 and t not in tensor_map:
            raise CompareError(f"{path}: not compiled from {source_path}: the tensor "
                               f"{cmp.tensors[t].name!r} of its edgetpu-custom-op {cop.index} is not in it")
    stop = {tensor_map[t] for t in cop.inputs if t >= 0}
    members: set[int] = set()
    stack = [graph.producer[tensor_map[t]] for t in cop.outputs if tensor_map[t] not in stop]
    while stack:
        i = stack.pop()
        if i < 0 or i in members or i in cpu_ops:
            continue
        members.add(i)
        stack.extend(graph.producer[t] for t in src.operators[i].inputs if t >= 0 and t not in stop)
    return members


# --- from a log -----------------------------------------------------------------------------------

def _check_counts(src: Subgraph, log: CompilerLog, source_path: str) -> None:
    """The log's op count per type must be the model's: else it is the log of another model, or cut short."""
    model = Counter(op.opcode for op in src.operators)
    logged = log.counts()
    extra = [(t, n) for t, n in logged.items() if n > model.get(t, 0)]
    if extra:
        t, n = extra[0]
        raise CompareError(f"{log.path}: not the log of {source_path}: it lists {n} {t} op{'s' if n != 1 else ''}, "
                           f"the model has {model.get(t, 0)}")
    missing = [(t, n - logged.get(t, 0)) for t, n in model.items() if n > logged.get(t, 0)]
    if missing:
        what = ", ".join(f"{t} {n}" for t, n in missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise CompareError(f"{log.path}: lists {log.ops} operations, {source_path} has {len(src.operators)} "
                           f"(not in the log: {what}): a truncated log, or the log of another model")


def _with_log(src: Subgraph, graph: Graph, log: CompilerLog, placed: list[ActualOp] | None, compiled_path: str) -> list[ActualOp]:
    """Statuses from the log's rows: where the compiled model gave placements, checked against them."""
    out: list[ActualOp] = []
    by_type: dict[str, list[int]] = {}
    for op in src.operators:
        by_type.setdefault(op.opcode, []).append(op.index)
    status_of: dict[int, ActualOp] = {}
    for kind, indices in by_type.items():
        rows = log.rows_of(kind)
        statuses = Counter[str]()
        lines: dict[str, str] = {}
        for r in rows:
            statuses[r.status] += r.count
            lines.setdefault(r.status, r.line)
        if placed is not None:
            mapped = sum(1 for i in indices if placed[i].placement == TPU)
            if statuses.get(MAPPED, 0) != mapped:
                raise CompareError(f"{log.path}: does not match {compiled_path}: the log maps "
                                   f"{statuses.get(MAPPED, 0)} {kind} op(s), the compiled model {mapped}")
            others = {s: n for s, n in statuses.items() if s != MAPPED}
            for i in indices:
                p = placed[i]
                if p.placement == TPU:
                    status_of[i] = ActualOp(TPU, MAPPED, p.segment, p.compiled_op, (), lines.get(MAPPED))
                elif len(others) == 1:
                    (s, _), = others.items()
                    status_of[i] = ActualOp(CPU, s, None, p.compiled_op, (), lines[s])
                else:
                    status_of[i] = ActualOp(CPU, None, None, p.compiled_op, tuple(others.items()))
            continue
        for i in indices:
            if len(statuses) == 1:
                (s, _), = statuses.items()
                status_of[i] = ActualOp(TPU if s == MAPPED else CPU, s, None, None, (), lines[s])
    if placed is None:
        _resolve_by_counts(src, graph, log, by_type, status_of)
    return [status_of[op.index] for op in src.operators]


def _resolve_by_counts(src: Subgraph, graph: Graph, log: CompilerLog, by_type: dict[str, list[int]],
                       status_of: dict[int, ActualOp]) -> None:
    """Give a status to the ops of mixed-status types where the counts leave no choice.

    Two facts narrow each op's possible statuses until nothing changes: "More than one subgraph is not
    supported" needs an upstream op that is not mapped (the cut it comes after); and when a status is
    still possible for exactly as many ops of the type as the log counts with it, they all have it.
    Whatever is left keeps every status still possible: reported as ambiguous, never guessed.
    """
    possible: dict[int, set[str]] = {}
    counts: dict[str, Counter[str]] = {}
    lines: dict[tuple[str, str], str] = {}
    for kind, indices in by_type.items():
        counts[kind] = Counter()
        for r in log.rows_of(kind):
            counts[kind][r.status] += r.count
            lines.setdefault((kind, r.status), r.line)
        for i in indices:
            known = status_of[i].status if i in status_of else None
            possible[i] = {known} if known is not None else set(counts[kind])
    changed = True
    while changed:
        changed = False
        maybe_cpu = [False] * len(src.operators)
        for op in src.operators:  # execution order: preds first
            i = op.index
            upstream = any(maybe_cpu[p] or possible[p] != {MAPPED} for p in graph.preds[i])
            maybe_cpu[i] = upstream
            if not upstream and MORE_THAN_ONE_SUBGRAPH in possible[i] and len(possible[i]) > 1:
                possible[i].discard(MORE_THAN_ONE_SUBGRAPH)
                changed = True
        for kind, indices in by_type.items():
            for status, total in counts[kind].items():
                fixed = sum(1 for i in indices if possible[i] == {status})
                open_ = [i for i in indices if len(possible[i]) > 1 and status in possible[i]]
                if open_ and (total - fixed == len(open_) or total == fixed):
                    for i in open_:
                        possible[i] = {status} if total > fixed else possible[i] - {status}
                    changed = True
    for op in src.operators:
        i = op.index
        if i in status_of:
            continue
        if len(possible[i]) == 1:
            (s,) = possible[i]
            status_of[i] = ActualOp(TPU if s == MAPPED else CPU, s, None, None, (), lines[(op.opcode, s)])
        else:
            per_status = counts[op.opcode]
            status_of[i] = ActualOp(None, None, None, None,
                                    tuple((s, per_status[s]) for s in per_status if s in possible[i]))


__all__ = ["ActualCompile", "ActualOp", "ActualSegment", "CompareError", "actual_for", "attribute", "siblings"]
