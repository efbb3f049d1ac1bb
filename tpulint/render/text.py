"""Terminal output: concise (one line per finding, like ruff) and full (the compiler's summary and op table)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from tpulint.render.escape import terminal_safe as safe
from tpulint.render.fields import panels, size, verdict

_SGR = {"bold": "1", "red": "31", "green": "32", "yellow": "33", "cyan": "36", "dim": "2"}
_SEVERITY_COLOR = {"error": "red", "warning": "yellow", "info": "cyan"}


def render(doc: dict[str, Any], options: Any) -> str:
    paint = _painter(bool(getattr(options, "color", False)))
    lines: list[str] = []
    if getattr(options, "statistics", False):
        lines.extend(statistics(doc, paint))
    for m in doc["models"]:
        if m["error"] is not None:
            continue  # unreadable models are reported on stderr by the CLI
        if options.format == "full":
            lines.extend(_full(m, paint))
        else:
            lines.extend(_concise(m, paint, findings=not getattr(options, "statistics", False)))
    return "\n".join(lines) + ("\n" if lines else "")


def _painter(color: bool) -> Callable[[str, str], str]:
    if not color:
        return lambda text, style: text
    return lambda text, style: f"\x1b[{_SGR[style]}m{text}\x1b[0m"


def statistics(doc: dict[str, Any], paint: Callable[[str, str], str]) -> list[str]:
    """Findings counted per rule over every model, most frequent first (ruff's --statistics)."""
    counts = Counter((f["code"], f["name"], f["severity"]) for m in doc["models"] for f in m["findings"])
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))
    out = [f"{n:>5}  {paint(code, _SEVERITY_COLOR.get(sev, 'bold'))}  {name} ({sev})"
           for (code, name, sev), n in rows]
    return out + ([""] if out else [])


def op_label(f: dict[str, Any]) -> str:
    """`op 215 TRANSPOSE (tensor name): ` for an op-level finding, empty for a model-level one."""
    loc = f["location"]
    if loc["operator"] is None:
        return f"({safe(loc['tensor_name'])}): " if loc["tensor_name"] else ""
    text = f"op {loc['operator']} {safe(loc['op_type'] or '')}".rstrip()
    if loc["subgraph"]:
        text = f"subgraph {loc['subgraph']} {text}"
    if loc["tensor_name"]:
        text += f" ({safe(loc['tensor_name'])})"
    return text + ": "


def _concise(m: dict[str, Any], paint: Callable[[str, str], str], findings: bool = True) -> list[str]:
    path = paint(safe(m["path"]), "bold")
    out = []
    if findings:
        out = [f"{path}: {op_label(f)}{paint(f['code'], _SEVERITY_COLOR.get(f['severity'], 'bold'))} "
               f"{safe(f['message'])}" for f in m["findings"]]
    ok = m["compilable"] and m["summary"]["cpu_ops"] == 0
    line = f"{path}: {paint(verdict(m), 'green' if ok else 'red' if not m['compilable'] else 'yellow')}"
    hidden = (m.get("baseline") or {}).get("suppressed")
    if hidden:
        line += f" ({hidden} baselined finding{'s' if hidden != 1 else ''} hidden)"
    return out + [line]


def _full(m: dict[str, Any], paint: Callable[[str, str], str]) -> list[str]:
    s = m["summary"]
    out = [paint(f"Model: {safe(m['path'])}", "bold")]
    if not m["compilable"]:
        out.append("Model could not be compiled (predicted): " + "; ".join(
            safe(f["message"]) for f in m["findings"] if f["effect"] == "model"))
    memory = m.get("memory") or {}
    if "cached_bytes" in memory and "streamed_bytes" in memory:
        how = "" if m["compiled"] else " (estimated)"  # a compiled file records the real split
        out.append(f"On-chip memory used for caching model parameters: {size(memory['cached_bytes'])}{how}")
        out.append(f"Off-chip memory used for streaming uncached model parameters: "
                   f"{size(memory['streamed_bytes'])}{how}")
    out += [
        f"Number of Edge TPU subgraphs: {s['tpu_subgraphs']}",
        f"Total number of operations: {s['ops']}",
        f"Number of operations that will run on Edge TPU: {s['tpu_ops']}",
        f"Number of operations that will run on CPU: {s['cpu_ops']}",
        "",
        f"{'Operator':<31}{'Count':<11}Status",
        "",
    ]
    # One row per (operator, status) in first-appearance order, as the compiler's .log does (COMPILER.md 4.2).
    counts = Counter(("CUSTOM" if op["custom_code"] is not None else op["opcode"], op["status"]) for op in m["ops"])
    for (opcode, status), n in counts.items():
        out.append(f"{opcode:<31}{n:<11}{status}")
    for title, rows in panels(m):
        out += ["", f"{title}:"] + [f"  {name}: {safe(text)}" for name, text in rows]
    cpu = [op for op in m["ops"] if op["placement"] == "cpu"]
    if cpu:
        out += ["", "Ops on the CPU (index, output tensor, root cause):"]
        by_index = {(o["subgraph"], o["index"]): o for o in m["ops"]}  # a scan per op was quadratic
        for op in cpu:
            name = safe(op["outputs"][0]["name"]) if op["outputs"] else "-"
            if op["blocked_by"] is not None:
                blocker = by_index.get((op["subgraph"], op["blocked_by"]))
                why = f"cut off by op {op['blocked_by']} {blocker['opcode'] if blocker else ''}".rstrip()
            else:
                why = op["status"]  # the finding codes follow under "Findings"
            out.append(f"  op {op['index']:>4} {op['opcode']:<24} {name}: {why}")
    if m["blockers"]:
        out += ["", "Blocking ops, ranked by the ops each would return to the Edge TPU if fixed:"]
        for rank, b in enumerate(m["blockers"], 1):
            out.append(f"  {rank}. op {b['op']} {b['opcode']}: +{b['regained']} op{'s' if b['regained'] != 1 else ''}")
            if b["compiler_command"]:
                out.append(f"     cut before it: {safe(b['compiler_command'])}")
    if m["findings"]:
        out += ["", "Findings:"]
        for f in m["findings"]:
            out.append(f"  {op_label(f)}{paint(f['code'], _SEVERITY_COLOR.get(f['severity'], 'bold'))} "
                       f"[{f['severity']}, {f['confidence']}] {safe(f['message'])}")
            if f["fix"]:
                out.append(f"    fix: {safe(f['fix'])}")
    out += ["", paint(f"Verdict: {verdict(m)}", "bold"), ""]
    return out
