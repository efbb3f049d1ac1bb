"""Presentation of a real compile next to the prediction, shared by the full, Markdown and HTML reports."""

from __future__ import annotations

from typing import Any

from tpulint.units import size

WHERE = {"tpu": "Edge TPU", "cpu": "CPU", None: "ambiguous"}


def agreement(a: dict[str, Any]) -> str:
    """`the compiler agrees on 253 of 255 ops` (with the ambiguous ops and status disagreements, if any)."""
    text = f"the compiler agrees on {a['agree']} of {a['compared']} ops"
    if a["ambiguous_ops"]:
        text += f" ({a['ambiguous_ops']} more ambiguous in the log)"
    statuses = sum(1 for m in a["mismatches"] if m["kind"] == "status")
    if statuses:
        text += f"; {statuses} status{'es' if statuses != 1 else ''} differ"
    return text


def evidence(a: dict[str, Any]) -> str:
    files = ", ".join(p for p in (a["compiled"], a["log"]) if p)
    return f"{files} (compiler {a['compiler_version'] or 'version unknown'})"


def total_value(name: str, v: Any) -> str:
    if v is None:
        return "-"
    return size(v) if "memory" in name else str(v)


def op_cell(op: dict[str, Any]) -> str:
    """The "actual compile" cell of one op: where the compiler put it, and the status when the log says it."""
    a = op.get("actual")
    if a is None:
        return "-"
    if a["placement"] is None:
        return "ambiguous: " + " or ".join(a["candidates"] or {})
    text = WHERE[a["placement"]]
    if a["segment"] is not None and a["placement"] == "tpu":
        text += f" (subgraph {a['segment']})"
    if a["placement"] == "cpu" and a["status"]:
        text += f": {a['status']}"
    return text


def ambiguous_groups(m: dict[str, Any]) -> list[tuple[str, list[int], dict[str, int]]]:
    """(opcode, op indices, candidate statuses with the log's counts) of the ops the log leaves open."""
    groups: dict[tuple[str, tuple[str, ...]], tuple[list[int], dict[str, int]]] = {}
    for op in m["ops"]:
        a = op.get("actual")
        if a is not None and a["placement"] is None:
            key = (op["opcode"], tuple(a["candidates"] or {}))
            groups.setdefault(key, ([], a["candidates"] or {}))[0].append(op["index"])
    return [(opcode, indices, candidates) for (opcode, _), (indices, candidates) in groups.items()]


def index_list(indices: list[int], limit: int = 12) -> str:
    shown = ", ".join(str(i) for i in indices[:limit])
    return shown + (f", ... ({len(indices)} ops)" if len(indices) > limit else "")


def mismatch_text(mm: dict[str, Any]) -> str:
    p, a = mm["predicted"], mm["actual"]
    codes = f" [{', '.join(p['codes'])}]" if p["codes"] else ""
    actual = WHERE[a["placement"]] + (f' "{a["status"]}"' if a["status"] else "")
    return f'op {mm["index"]} {mm["opcode"]}: predicted {WHERE[p["placement"]]} "{p["status"]}"{codes}, actual {actual}'
