"""The rule checks, one family per module; run_checks dispatches them by opcode and turns their hits into findings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tpulint.checks import (  # noqa: F401  (importing registers every rule, in code order)
    compiled,
    dtypes,
    layer_limits,
    layout_limits,
    memory,
    model_gates,
    op_support,
    params,
    shapes,
    size_heuristics,
)
from tpulint.checks._base import Context, Hit, ModelContext
from tpulint.config import Config
from tpulint.findings import Finding, Location, new_finding, new_location
from tpulint.graph import Graph
from tpulint.model import Model, Operator, Subgraph
from tpulint.profile import load_profile
from tpulint.registry import Rule, all_rules

if TYPE_CHECKING:
    import numpy as np

_OpChecks = list[tuple[Rule, Callable[..., "list[Hit] | None"], int]]


def _rules() -> tuple[list[Rule], list[Rule]]:
    rules = all_rules()
    return [r for r in rules if r.scope == "model"], [r for r in rules if r.scope == "op"]


def _finding(rule: Rule, hit: Hit, sg: Subgraph | None, op: Operator | None, path: str) -> Finding:
    if op is not None and sg is not None:
        out = op.outputs[0] if op.outputs else None
        loc = new_location(sg.index, op.index, op.name, out, sg.tensors[out].name if out is not None else None)
    elif sg is not None:
        t = hit.tensor
        loc = new_location(sg.index, None, None, t, sg.tensors[t].name if t is not None else None)
    else:
        loc = Location()
    return new_finding(rule.code, rule.name, hit.severity or rule.severity, hit.confidence or rule.confidence,
                       hit.effect or rule.effect, hit.message, loc, hit.status or rule.status, hit.fix, path,
                       hit.threshold)


def _dispatch(ctx: Context, opcode: str, op_rules: list[Rule]) -> _OpChecks:
    """The checks that can fire on `opcode`, decided once per opcode; those needing tensor flags last."""
    checks = []
    for r in op_rules:
        if r.opcodes is not None and opcode not in r.opcodes:
            continue
        applies = getattr(r.check, "applies", None)
        if applies is not None and not applies(ctx, opcode):
            continue
        checks.append((r, r.check, getattr(r.check, "needs", 0)))
    checks.sort(key=lambda c: c[2] != 0)
    return checks


def run_checks(model: Model, graphs: Sequence[Graph], config: Config) -> list[Finding]:
    """Every finding of every rule for the target compiler (select/ignore are applied by the caller)."""
    profile = load_profile(config.compiler).with_limits(dict(config.limits))
    model_rules, op_rules = _rules()
    out: list[Finding] = []
    mctx = ModelContext(model, graphs, profile, config)
    for rule in model_rules:
        for hit in rule.check(mctx):
            sg = model.subgraphs[hit.subgraph] if hit.subgraph is not None else None
            out.append(_finding(rule, hit, sg, hit.op, model.path))
    for graph in graphs:
        ctx = Context(model, graph, profile, config)
        try:
            out += _op_findings(ctx, op_rules)
        finally:
            ctx.close()
    return out


def _op_findings(ctx: Context, op_rules: list[Rule]) -> list[Finding]:
    """The findings of the per-op rules on every op of one subgraph."""
    out: list[Finding] = []
    path = ctx.model.path
    sg = ctx.sg
    dispatch: dict[tuple[str, bool], _OpChecks] = {}
    flags: list[int] | None = None
    flag_array = ctx.op_flags()  # from the columns, when the reader kept them
    flags_of_op = None if flag_array is None else flag_array.tolist()
    ops = sg.operators if flag_array is None else _candidates(ctx, op_rules, dispatch, flag_array)
    for op in ops:
        malformed = not op.outputs or not op.inputs or op.inputs[0] < 0
        key = (op.opcode, malformed)
        checks = dispatch.get(key)
        if checks is None:
            checks = dispatch[key] = _checks_of(ctx, key, op_rules)
        op_flags = 0
        if checks and checks[-1][2]:  # checks needing tensor flags are sorted last
            if flags_of_op is not None:
                op_flags = flags_of_op[op.index]
            else:
                if flags is None:
                    flags = ctx.flags
                for i in op.inputs:
                    if i >= 0:
                        op_flags |= flags[i]
                for i in op.outputs:
                    op_flags |= flags[i]
        for rule, check, need in checks:
            if need and not op_flags & need:
                continue
            hits = check(ctx, op)
            if hits:
                for hit in hits:
                    out.append(_finding(rule, hit, sg, op, path))
    return out


def _checks_of(ctx: Context, key: tuple[str, bool], op_rules: list[Rule]) -> _OpChecks:
    opcode, malformed = key
    checks = _dispatch(ctx, opcode, op_rules)
    if malformed:  # the reader allows it; only the checks that do not assume an op's arity apply
        checks = [c for c in checks if c[0].opcodes is None]
    return checks


def _candidates(ctx: Context, op_rules: list[Rule], dispatch: dict[tuple[str, bool], _OpChecks],
                flags: np.ndarray) -> list[Operator]:
    """The ops, in order, on which at least one check can fire, decided over the reader's columns one opcode at
    a time: a check with `needs` is a candidate where the op's flags have its bit, one with a prefilter where the
    prefilter says so, any other check on every op of its opcode."""
    import numpy as np

    c = ctx.sg.columns
    assert c is not None
    operators = ctx.sg.operators
    malformed = (c.first_output(np.arange(len(operators))) < 0) | (c.operand(np.arange(len(operators)), 0) < 0)
    group_of = c.opcode_index.astype(np.int64) * 2 + malformed
    order = np.argsort(group_of, kind="stable")
    bounds = np.flatnonzero(np.diff(group_of[order])) + 1
    candidate = np.zeros(len(operators), bool)
    for group in np.split(order, bounds) if len(order) else ():
        first = operators[int(group[0])]
        key = (first.opcode, bool(malformed[group[0]]))
        checks = dispatch.get(key)
        if checks is None:
            checks = dispatch[key] = _checks_of(ctx, key, op_rules)
        for _, check, need in checks:
            if need:
                candidate[group] |= flags[group] & need != 0
                continue
            narrowed = getattr(check, "prefilter", None)
            if narrowed is None:
                candidate[group] = True
                break
            candidate[group] |= narrowed(ctx, group)
    return [operators[i] for i in np.flatnonzero(candidate).tolist()]


__all__ = ["run_checks"]
