"""Layered layout of a subgraph's ops for the HTML report's SVG: rows by data-flow depth, columns by barycentre."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NODE_W, NODE_H = 170, 26
GAP_X, GAP_Y = 18, 26
PAD = 16


@dataclass(frozen=True, slots=True)
class Node:
    op: dict[str, Any]
    x: int
    y: int
    blocker: int | None  # rank among the blocking ops (1 = fixing it regains most), None if not a blocker


@dataclass(frozen=True, slots=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int
    cut: bool  # crosses the segment boundary: produced inside an Edge TPU segment, consumed outside it
    tensor: str


@dataclass(frozen=True, slots=True)
class Layout:
    subgraph: int
    width: int
    height: int
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def layout(ops: list[dict[str, Any]], blockers: list[dict[str, Any]]) -> Layout:
    """Place the ops of one subgraph (given in execution order) top to bottom."""
    by_index = {op["index"]: op for op in ops}
    depth: dict[int, int] = {}
    for op in ops:
        # Preds come earlier in execution order; anything else (a hostile cycle) is ignored rather than followed.
        depth[op["index"]] = 1 + max((depth[p] for p in op["preds"] if p in depth), default=-1)
    rows: dict[int, list[int]] = {}
    for i, d in depth.items():
        rows.setdefault(d, []).append(i)
    column: dict[int, float] = {}
    for d in sorted(rows):
        row = rows[d]
        # Order each row by the mean column of its producers, so edges cross as little as a single sweep allows.
        row.sort(key=lambda i: (_mean([column[p] for p in by_index[i]["preds"] if p in column], i), i))
        for c, i in enumerate(row):
            column[i] = c
    widest = max((len(r) for r in rows.values()), default=0)
    width = PAD * 2 + widest * NODE_W + max(widest - 1, 0) * GAP_X
    rank = {(b["subgraph"], b["op"]): n for n, b in enumerate(blockers, 1)}
    pos: dict[int, tuple[int, int]] = {}
    nodes = []
    for d in sorted(rows):
        row = rows[d]
        row_w = len(row) * NODE_W + (len(row) - 1) * GAP_X
        x0 = (width - row_w) // 2
        for c, i in enumerate(row):
            pos[i] = (x0 + c * (NODE_W + GAP_X), PAD + d * (NODE_H + GAP_Y))
            op = by_index[i]
            nodes.append(Node(op, *pos[i], rank.get((op["subgraph"], i))))
    edges = []
    for op in ops:
        x2, y2 = pos[op["index"]]
        names = {t["index"]: t["name"] for t in op["inputs"]}
        for p in op["preds"]:
            if p not in pos or p == op["index"]:
                continue
            src = by_index[p]
            x1, y1 = pos[p]
            tensor = next((t["name"] for t in src["outputs"] if t["index"] in names), "")
            cut = src["segment"] is not None and src["segment"] != op["segment"]
            edges.append(Edge(x1 + NODE_W // 2, y1 + NODE_H, x2 + NODE_W // 2, y2, cut, tensor))
    height = PAD * 2 + (max(rows, default=-1) + 1) * (NODE_H + GAP_Y) - GAP_Y
    return Layout(ops[0]["subgraph"] if ops else 0, width, max(height, 0), tuple(nodes), tuple(edges))


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default
