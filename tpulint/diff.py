"""What changed for the Edge TPU between two versions of a model: ops matched across them, moves, findings, totals."""

from __future__ import annotations

from typing import Any

from tpulint._version import __version__

DIFF_SCHEMA_VERSION = 1


def match_ops(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[tuple[int, int], tuple[int, int]]:
    """(subgraph, new op) -> (subgraph, old op): by output tensor name first (an op replaced by another type that
    writes the same tensor is that op, changed), then by structure (same type and number of inputs, reading from
    the counterparts of those of its inputs already matched; the nearest in execution order)."""
    def key(op: dict[str, Any]) -> tuple[int, str] | None:
        return (op["subgraph"], op["outputs"][0]["name"]) if op["outputs"] else None

    def unique(ops: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
        seen: dict[Any, list[dict[str, Any]]] = {}
        for op in ops:
            seen.setdefault(key(op), []).append(op)
        return {k: v[0] for k, v in seen.items() if k is not None and len(v) == 1}

    old_by_key = unique(old)
    matched: dict[tuple[int, int], tuple[int, int]] = {}
    for k, op in unique(new).items():
        if k in old_by_key:
            matched[(op["subgraph"], op["index"])] = (op["subgraph"], old_by_key[k]["index"])
    taken = set(matched.values())
    for op in new:  # execution order: an op's inputs are matched before it
        here = (op["subgraph"], op["index"])
        if here in matched:
            continue
        preds = [matched.get((op["subgraph"], p)) for p in op["preds"]]
        known = {p for p in preds if p is not None}
        if preds and not known:
            continue
        candidates = [c for c in old if (c["subgraph"], c["index"]) not in taken and c["subgraph"] == op["subgraph"]
                      and c["opcode"] == op["opcode"] and len(c["preds"]) == len(preds)
                      and known <= {(c["subgraph"], p) for p in c["preds"]}]
        if candidates:
            best = min(candidates, key=lambda c: abs(c["index"] - op["index"]))
            matched[here] = (best["subgraph"], best["index"])
            taken.add(matched[here])
    return matched


def _op(op: dict[str, Any]) -> dict[str, Any]:
    return {"subgraph": op["subgraph"], "index": op["index"], "opcode": op["opcode"],
            "output": op["outputs"][0]["name"] if op["outputs"] else None, "placement": op["placement"],
            "status": op["status"], "codes": op["codes"], "blocked_by": op["blocked_by"]}


def _on(f: dict[str, Any], ops: dict[tuple[int, int], tuple[int, int]] | None) -> tuple[Any, ...]:
    """(rule, subgraph, op) of an op-level finding, the op translated through `ops` when given."""
    loc = f["location"]
    where = (loc["subgraph"], loc["operator"])
    if ops is not None and loc["operator"] is not None:
        where = ops.get(where, (-1, -1))
    return (f["code"], *where)


def _memory(m: dict[str, Any], key: str) -> int | None:
    value = (m.get("memory") or {}).get(key)
    return value if isinstance(value, int) else None


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The change from model entry `old` to `new` (both of the JSON document), as plain data."""
    matched = match_ops(old["ops"], new["ops"])
    old_ops = {(op["subgraph"], op["index"]): op for op in old["ops"]}
    moved_to_cpu: list[dict[str, Any]] = []
    moved_to_tpu: list[dict[str, Any]] = []
    for op in new["ops"]:
        before = old_ops.get(matched.get((op["subgraph"], op["index"]), (-1, -1)))
        if before is None or before["placement"] == op["placement"]:
            continue
        change = dict(_op(op), old_index=before["index"], old_status=before["status"])
        (moved_to_cpu if op["placement"] == "cpu" else moved_to_tpu).append(change)
    kept = set(matched.values())
    # A finding is the same when its fingerprint is, or when the same rule fires on the op matched to its op.
    back = {v: k for k, v in matched.items()}
    old_seen = {f["fingerprint"] for f in old["findings"]} | {_on(f, None) for f in old["findings"]}
    new_seen = {f["fingerprint"] for f in new["findings"]} | {_on(f, None) for f in new["findings"]}
    totals = {
        "ops": [old["summary"]["ops"], new["summary"]["ops"]],
        "tpu_ops": [old["summary"]["tpu_ops"], new["summary"]["tpu_ops"]],
        "cpu_ops": [old["summary"]["cpu_ops"], new["summary"]["cpu_ops"]],
        "tpu_subgraphs": [old["summary"]["tpu_subgraphs"], new["summary"]["tpu_subgraphs"]],
        "compilable": [old["compilable"], new["compilable"]],
        "cached_bytes": [_memory(old, "cached_bytes"), _memory(new, "cached_bytes")],
        "streamed_bytes": [_memory(old, "streamed_bytes"), _memory(new, "streamed_bytes")],
    }
    return {
        "old": old["path"], "new": new["path"],
        "matched_ops": len(matched),
        "added_ops": [_op(op) for op in new["ops"] if (op["subgraph"], op["index"]) not in matched],
        "removed_ops": [_op(op) for op in old["ops"] if (op["subgraph"], op["index"]) not in kept],
        "moved_to_cpu": moved_to_cpu,
        "moved_to_tpu": moved_to_tpu,
        "new_findings": [f for f in new["findings"]
                         if f["fingerprint"] not in old_seen and _on(f, matched) not in old_seen],
        "fixed_findings": [f for f in old["findings"]
                           if f["fingerprint"] not in new_seen and _on(f, back) not in new_seen],
        "totals": totals,
        "regressions": regressions(totals),
    }


def regressions(totals: dict[str, list[Any]]) -> list[str]:
    """Why NEW is worse for the Edge TPU than OLD (empty when it is not)."""
    out = []
    (old_tpu, new_tpu), (old_sg, new_sg) = totals["tpu_ops"], totals["tpu_subgraphs"]
    if new_tpu < old_tpu:
        out.append(f"fewer ops on the Edge TPU ({old_tpu} -> {new_tpu})")
    if new_sg > old_sg:
        out.append(f"more Edge TPU subgraphs ({old_sg} -> {new_sg})")
    if totals["compilable"] == [True, False]:
        out.append("no longer compilable")
    old_streamed, new_streamed = totals["streamed_bytes"]
    if old_streamed is not None and new_streamed is not None and new_streamed > old_streamed:
        out.append(f"more parameter bytes streamed per inference ({old_streamed:,} -> {new_streamed:,})")
    return out


def document(old: dict[str, Any], new: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """The `tpulint diff --format json` document."""
    return {"diff_schema_version": DIFF_SCHEMA_VERSION, "tool": {"name": "tpulint", "version": __version__},
            "target": target, **diff(old, new)}


__all__ = ["diff", "document", "match_ops", "regressions"]
