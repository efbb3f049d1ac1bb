"""Terminal output: concise (one line per finding, like ruff) and full (the compiler's summary and op table)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tpulint.render.escape import terminal_safe as safe


def render(doc: dict[str, Any], options: Any) -> str:
    lines: list[str] = []
    for m in doc["models"]:
        if m["error"] is not None:
            continue  # unreadable models are reported on stderr by the CLI
        if options.format == "full":
            lines.extend(_full(m))
        else:
            lines.extend(_concise(m))
    return "\n".join(lines) + ("\n" if lines else "")


def _op_label(m: dict[str, Any], f: dict[str, Any]) -> str:
    loc = f["location"]
    if loc["operator"] is None:
        return ""
    label = f"op {loc['operator']} {loc['op_type']}"
    if loc["tensor_name"]:
        label += f" ({safe(loc['tensor_name'])})"
    return label + ": "


def _concise(m: dict[str, Any]) -> list[str]:
    path = safe(m["path"])
    out = [f"{path}: {_op_label(m, f)}{f['code']} {safe(f['message'])}" for f in m["findings"]]
    s = m["summary"]
    verdict = "compiles" if m["compilable"] else "will NOT compile"
    out.append(f"{path}: {s['tpu_ops']}/{s['ops']} ops on the Edge TPU, {s['cpu_ops']} on the CPU, "
               f"{s['tpu_subgraphs']} Edge TPU subgraph(s); {verdict}")
    return out


def _full(m: dict[str, Any]) -> list[str]:
    s = m["summary"]
    out = [f"Model: {safe(m['path'])}"]
    if not m["compilable"]:
        out.append("Model could not be compiled (predicted): " + "; ".join(
            safe(f["message"]) for f in m["findings"] if f["effect"] == "model"))
    out += [
        f"Number of Edge TPU subgraphs: {s['tpu_subgraphs']}",
        f"Total number of operations: {s['ops']}",
        f"Number of operations that will run on Edge TPU: {s['tpu_ops']}",
        f"Number of operations that will run on CPU: {s['cpu_ops']}",
        "",
        f"{'Operator':<31}{'Count':<11}Status",
        "",
    ]
    counts = Counter((op["opcode"], op["status"]) for op in m["ops"])
    for (opcode, status), n in counts.items():
        out.append(f"{opcode:<31}{n:<11}{status}")
    cpu = [op for op in m["ops"] if op["placement"] == "cpu"]
    if cpu:
        out += ["", "Ops on the CPU:"]
        for op in cpu:
            name = safe(op["outputs"][0]["name"]) if op["outputs"] else ""
            why = f"cut off by op {op['blocked_by']}" if op["blocked_by"] is not None else op["status"]
            out.append(f"  op {op['index']:>4} {op['opcode']:<24} {name}: {why}")
    if m["blockers"]:
        out += ["", "Fix these first (ops regained on the Edge TPU if the op mapped):"]
        for b in m["blockers"]:
            out.append(f"  op {b['op']} {b['opcode']}: +{b['regained']} ops")
            if b["compiler_command"]:
                out.append(f"    {safe(b['compiler_command'])}")
    if m["findings"]:
        out += ["", "Findings:"]
        out += [f"  {_op_label(m, f)}{f['code']} [{f['severity']}, {f['confidence']}] {safe(f['message'])}"
                for f in m["findings"]]
    out.append("")
    return out
