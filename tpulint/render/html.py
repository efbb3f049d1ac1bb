"""HTML report: one self-contained page (jinja2, autoescaped) with the verdict, the cut graph, blockers, ops, findings."""

from __future__ import annotations

import functools
import re
from typing import Any

from tpulint.render.escape import terminal_safe
from tpulint.render.fields import op_counts, panels, segment_views, size, tensor_size, verdict, verdict_head
from tpulint.render.layout import NODE_H, NODE_W, layout

# Graphs larger than this are not drawn: the table still lists every op, and the page stays a few MB at most.
MAX_DRAWN_OPS = 4000


def render(doc: dict[str, Any], options: Any = None) -> str:
    return _environment().get_template("report.html.j2").render(
        doc=doc, models=[_view(i, m) for i, m in enumerate(doc["models"])], rules=doc.get("rules", {}),
        node_w=NODE_W, node_h=NODE_H)


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    """The jinja2 environment, built once per process (loading the templates costs ~20 ms)."""
    import jinja2
    from markupsafe import Markup, escape

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tpulint", "templates"),
        autoescape=True,  # every string from a model is untrusted
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Control characters and bidi overrides are shown as \x1b etc. before HTML escaping, so a name cannot
        # hide or reorder what the reader sees ("Trojan Source").
        finalize=lambda v: terminal_safe(v) if isinstance(v, str) and not isinstance(v, Markup) else v,
    )
    env.filters["doc_html"] = lambda text: Markup(_markdown(text, escape))
    env.filters["size"] = size
    env.filters["tensor_size"] = tensor_size
    env.globals["where"] = {"tpu": "Edge TPU", "cpu": "CPU", None: "ambiguous"}
    env.globals["actual_header"] = Markup("<th>Actual compile</th>")
    env.filters["shape"] = lambda t: f"{t['dtype']}[{','.join(str(d) for d in t['shape'])}]"
    return env


def _view(i: int, m: dict[str, Any]) -> dict[str, Any]:
    s = m["summary"]
    graphs = []
    if m["error"] is None and len(m["ops"]) <= MAX_DRAWN_OPS:
        for sg in sorted({op["subgraph"] for op in m["ops"]}):
            graphs.append(layout([op for op in m["ops"] if op["subgraph"] == sg], m["blockers"]))
    counts = op_counts(m)
    focus = around_the_cpu(m["ops"])
    state = ("error" if m["error"] is not None or not m["compilable"] or (s["ops"] and not s["tpu_ops"])
             else "ok" if s["cpu_ops"] == 0 else "partial")
    return {
        "id": f"model-{i}",
        "m": m,
        "verdict": verdict(m),
        "state": state,
        "counts": counts,  # (Edge TPU, CPU, all) in source ops; None for a compiled model without its source
        "tpu_pct": round(100 * counts[0] / counts[2], 1) if counts and counts[2] else None,
        "graphs": graphs,
        "too_big": m["error"] is None and len(m["ops"]) > MAX_DRAWN_OPS,
        "panels": panels(m),
        "by_op": {(op["subgraph"], op["index"]): op for op in m["ops"]},
        "head": verdict_head(m),
        "segments": segment_views(m) if m["error"] is None else [],
        "focus": focus if len(focus) < len(m["ops"]) else set(),
        "actual": _actual_view(m) if m.get("actual") else None,
    }


def _actual_view(m: dict[str, Any]) -> dict[str, Any]:
    from tpulint.render import actual

    a = m["actual"]
    return {
        "evidence": actual.evidence(a), "agreement": actual.agreement(a),
        "totals": [(t["name"], actual.total_value(t["name"], t["actual"]),
                    actual.total_value(t["name"], t["predicted"])) for t in a["totals"]],
        "cut": a["cut"], "ambiguous": [(opcode, actual.index_list(ix), c) for opcode, ix, c in actual.ambiguous_groups(m)],
        "mismatches": [(actual.mismatch_text(mm), mm["bug_report"]) for mm in a["mismatches"]],
        "cells": {op["index"]: actual.op_cell(op) for op in m["ops"] if op["subgraph"] == 0},
    }


def around_the_cpu(ops: list[dict[str, Any]]) -> set[tuple[int, int]]:
    """(subgraph, index) of the ops the table shows first: those on the CPU and the ops they read from or feed,
    where the model is cut. Empty when every op maps (then the table shows them all)."""
    cpu = {(op["subgraph"], op["index"]) for op in ops if op["placement"] == "cpu"}
    focus = set(cpu)
    for op in ops:
        key = (op["subgraph"], op["index"])
        preds = {(op["subgraph"], p) for p in op["preds"]}
        if key in cpu:
            focus |= preds
        elif preds & cpu:
            focus.add(key)
    return focus


_INLINE = re.compile(r"`([^`]+)`")


def _markdown(text: str, escape: Any) -> str:
    """The small Markdown subset of rule docs (## headings, paragraphs, bullets, `code`), escaped first."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        html = _INLINE.sub(r"<code>\1</code>", str(escape(block.strip())))
        if html.startswith("## "):
            out.append(f"<h4>{html[3:]}</h4>")
        elif all(line.lstrip().startswith(("- ", "* ")) for line in html.splitlines()):
            items = "".join(f"<li>{line.lstrip()[2:]}</li>" for line in html.splitlines())
            out.append(f"<ul>{items}</ul>")
        else:
            out.append(f"<p>{html}</p>")
    return "\n".join(out)
