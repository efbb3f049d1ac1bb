"""Severity by cost: each finding re-graded by what its op's CPU fallback costs in the predicted partition."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from tpulint.config import Config
from tpulint.findings import MODEL_REJECTED, MORE_THAN_ONE_SUBGRAPH, Effect, Finding, Severity, new_finding
from tpulint.graph import Graph
from tpulint.partition import CPU, Partition, Placement

SEVERITY_LEVELS = {str(s): s for s in Severity}


def cut_off_counts(graph: Graph, part: Partition) -> list[int]:
    """Per op: how many cut-off ops ("More than one subgraph is not supported") lie downstream of it through CPU
    ops only. A CPU op with a count of 0 costs a CPU pass but cuts nothing off (an input QUANTIZE, a final
    post-processing op); with a count above 0 its fallback keeps otherwise mappable ops off the Edge TPU."""
    placements = part.placements
    n = len(placements)
    on_cpu = [p.placement == CPU for p in placements]
    cut = [on_cpu[i] and placements[i].status == MORE_THAN_ONE_SUBGRAPH and not placements[i].codes
           for i in range(n)]
    if not any(cut):
        return [0] * n  # nothing cut off: every count is 0
    bit_number: dict[int, int] = {}  # numbers, not the 1 << k values: those would take quadratic memory too
    for i in range(n):
        if cut[i]:
            bit_number[i] = len(bit_number)
    succs = graph.succs
    # A CPU op's bit set (the cut-off ops reachable downstream through CPU ops) is kept only until its last
    # CPU predecessor has read it: a long chain of cut-off ops then holds one set at a time, not one per op
    # (quadratic memory: 30,000 ops behind 3,000 CPU ops took 150 MiB).
    readers = [0] * n
    for i in range(n):
        if on_cpu[i]:
            for c in succs[i]:
                if i < c < n and on_cpu[c]:
                    readers[c] += 1
    reach: dict[int, int] = {}
    counts = [0] * n
    for i in reversed(range(n)):
        if not on_cpu[i]:
            continue
        r = 0
        for c in succs[i]:
            if c < n and on_cpu[c]:
                r |= reach.get(c, 0)
                if c in bit_number:
                    r |= 1 << bit_number[c]
                if c > i:
                    readers[c] -= 1
                    if not readers[c]:
                        reach.pop(c, None)
        counts[i] = r.bit_count()
        if readers[i]:
            reach[i] = r
    return counts


def _graded(f: Finding, severity: Severity, message: str) -> Finding:
    """replace(f, severity=severity, message=message), without dataclasses.replace's per-call field walk (a
    model with hundreds of CPU ops grades hundreds of findings)."""
    return new_finding(f.code, f.name, severity, f.confidence, f.effect, message, f.location, f.status, f.fix,
                       f.path, f.threshold)


def grade(findings: Sequence[Finding], partitions: Sequence[Partition], graphs: Sequence[Graph],
          config: Config) -> list[Finding]:
    """Findings with the severity their cost deserves, then the configured per-rule overrides.

    A whole-model rejection is an error. A finding that keeps an op on the CPU is an error when that op's
    fallback cuts ops off the Edge TPU segment (whatever the rule's confidence), or when no op maps at all, and a
    warning when it only costs a CPU pass; the message says which. Advisory findings keep their rule's severity.
    `partitions` are those the grading follows: for a model that will not compile, the one it would get if it did.
    """
    counts = {part.subgraph: cut_off_counts(g, part) for part, g in zip(partitions, graphs)}
    nothing_maps = not any(part.tpu_ops for part in partitions)
    out = []
    for f in findings:
        loc = f.location
        if f.effect is Effect.MODEL:
            f = _graded(f, Severity.ERROR, f"{f.message}; compiler {config.compiler} rejects the whole model, so no "
                        "op maps (--compiler predicts another version)")
        elif f.effect is Effect.CPU and loc.operator is not None and loc.subgraph in counts \
                and loc.operator < len(counts[loc.subgraph]):
            n = counts[loc.subgraph][loc.operator]
            if nothing_maps:
                n, cost = 1, "no op of the model maps to the Edge TPU"
            elif n:
                cost = f"its CPU fallback cuts {n} op{'s' if n != 1 else ''} off the Edge TPU segment"
            else:
                cost = "it costs one more CPU pass per inference but cuts no op off the Edge TPU segment"
            f = _graded(f, Severity.ERROR if n else Severity.WARNING, f"{f.message}; {cost}")
        out.append(f)
    return apply_overrides(out, config)


def apply_overrides(findings: Sequence[Finding], config: Config) -> list[Finding]:
    """The `[tool.tpulint.severity]` overrides (code or prefix -> level; the longest matching key wins)."""
    if not config.severity:
        return list(findings)
    out = []
    for f in findings:
        level = config.severity_of(f.code)
        out.append(f if level is None else replace(f, severity=SEVERITY_LEVELS[level]))
    return out


def rejected_partition(graph: Graph, findings: Sequence[Finding]) -> Partition:
    """Placements of a model the compiler rejects: every op "Model could not be compiled", with the codes of the
    gates that reject it (the op a gate points at lists that gate first, so it leads to its finding)."""
    sg = graph.subgraph
    gates = [f for f in findings if f.effect is Effect.MODEL]
    model_codes = tuple(dict.fromkeys(f.code for f in gates))
    own: dict[int, list[str]] = {}
    for f in gates:
        if f.location.subgraph == sg.index and f.location.operator is not None:
            own.setdefault(f.location.operator, []).append(f.code)
    placements = tuple(
        Placement(op.index, op.opcode, op.custom_code, CPU, MODEL_REJECTED,
                  tuple(dict.fromkeys([*own.get(op.index, ()), *model_codes])))
        for op in sg.operators)
    return Partition(sg.index, placements, (), (), False)


__all__ = ["cut_off_counts", "grade", "apply_overrides", "rejected_partition", "SEVERITY_LEVELS"]
