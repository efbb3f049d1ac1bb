"""`tpulint diff` reports: concise and full text, JSON, and Markdown sized for a pull-request comment."""

from __future__ import annotations

import json
from typing import Any

from tpulint.render.escape import markdown_text as md
from tpulint.render.escape import terminal_safe as safe
from tpulint.units import size

FORMATS = ("concise", "full", "json", "markdown")
WHERE = {"tpu": "Edge TPU", "cpu": "CPU"}
TOTALS = (("tpu_ops", "Ops on the Edge TPU"), ("cpu_ops", "Ops on the CPU"), ("ops", "Ops"),
          ("tpu_subgraphs", "Edge TPU subgraphs"), ("compilable", "Compilable"),
          ("cached_bytes", "Parameters cached on chip"), ("streamed_bytes", "Parameters streamed per inference"))


def render(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        return markdown(doc)
    return "\n".join(text(doc, full=fmt == "full")) + "\n"


def headline(doc: dict[str, Any]) -> str:
    """`3 ops moved to the CPU, 0 to the Edge TPU; Edge TPU ops 7 -> 4 of 8; regression: fewer ops ...`."""
    t = doc["totals"]
    line = (f"{len(doc['moved_to_cpu'])} op{'s' if len(doc['moved_to_cpu']) != 1 else ''} moved to the CPU, "
            f"{len(doc['moved_to_tpu'])} to the Edge TPU; Edge TPU ops {t['tpu_ops'][0]}/{t['ops'][0]} -> "
            f"{t['tpu_ops'][1]}/{t['ops'][1]}, Edge TPU subgraphs {t['tpu_subgraphs'][0]} -> {t['tpu_subgraphs'][1]}")
    return line + ("; regression: " + "; ".join(doc["regressions"]) if doc["regressions"] else "; no regression")


def _value(key: str, v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return size(v) if key.endswith("bytes") else str(v)


def _why(op: dict[str, Any]) -> str:
    if op["blocked_by"] is not None:
        return f"cut off by op {op['blocked_by']}"
    return op["status"] + (f" ({', '.join(op['codes'])})" if op["codes"] else "")


def _where(op: dict[str, Any]) -> str:
    text = f"op {op['index']} {op['opcode']}"
    return f"subgraph {op['subgraph']} {text}" if op["subgraph"] else text


def _finding(f: dict[str, Any]) -> str:
    loc = f["location"]
    where = f"op {loc['operator']} {loc['op_type']}: " if loc["operator"] is not None else ""
    return f"{where}{f['code']} {f['message']}"


def text(doc: dict[str, Any], full: bool) -> list[str]:
    out = [f"{safe(doc['old'])} -> {safe(doc['new'])}: {headline(doc)}"]
    for op in doc["moved_to_cpu"]:
        out.append(f"  {_where(op)} ({safe(op['output'] or '-')}) -> CPU: {safe(_why(op))}")
    for op in doc["moved_to_tpu"]:
        out.append(f"  {_where(op)} ({safe(op['output'] or '-')}) -> Edge TPU (was: {safe(op['old_status'])})")
    out += [f"  new finding: {safe(_finding(f))}" for f in doc["new_findings"]]
    out += [f"  fixed finding: {safe(_finding(f))}" for f in doc["fixed_findings"]]
    if not full:
        return out
    out += ["", f"{'':<36}{'old':>14}{'new':>14}"]
    for key, label in TOTALS:
        old, new = doc["totals"][key]
        out.append(f"{label:<36}{_value(key, old):>14}{_value(key, new):>14}")
    out += ["", f"Ops matched: {doc['matched_ops']}, added: {len(doc['added_ops'])}, removed: {len(doc['removed_ops'])}"]
    for title, key in (("Added", "added_ops"), ("Removed", "removed_ops")):
        for op in doc[key]:
            out.append(f"  {title.lower()}: {_where(op)} ({safe(op['output'] or '-')}) on the {WHERE[op['placement']]}")
    return out


def markdown(doc: dict[str, Any]) -> str:
    mark = "❌" if doc["regressions"] else "✅"
    out = [f"### tpulint diff: {md(doc['old'])} → {md(doc['new'])}", "", f"{mark} {md(headline(doc))}", "",
           "| | Old | New |", "| --- | ---: | ---: |"]
    for key, label in TOTALS:
        old, new = doc["totals"][key]
        out.append(f"| {label} | {_value(key, old)} | {_value(key, new)} |")
    moved = [(op, "CPU", _why(op)) for op in doc["moved_to_cpu"]] + [
        (op, "Edge TPU", f"was: {op['old_status']}") for op in doc["moved_to_tpu"]]
    if moved:
        out += ["", "| Op | Output | Now on | Why |", "| --- | --- | --- | --- |"]
        out += [f"| {md(_where(op))} | {md(op['output'] or '-')} | {to} | {md(why)} |" for op, to, why in moved]
    for title, key in (("New findings", "new_findings"), ("Fixed findings", "fixed_findings")):
        if doc[key]:
            out += ["", f"**{title}**", ""] + [f"- {md(_finding(f))}" for f in doc[key]]
    out += ["", f"Ops matched: {doc['matched_ops']}, added: {len(doc['added_ops'])}, "
                f"removed: {len(doc['removed_ops'])}."]
    return "\n".join(out) + "\n"
