"""Actual vs predicted: add a real compile's per-op result, disagreements and summary to a model's JSON entry."""

from __future__ import annotations

from typing import Any

from tpulint._version import __version__
from tpulint.compare import ActualCompile
from tpulint.findings import MORE_THAN_ONE_SUBGRAPH

ISSUES_URL = "https://github.com/tpulint/tpulint/issues/new"


def annotate(entry: dict[str, Any], actual: ActualCompile, compiler: str) -> dict[str, Any]:
    """`entry` (a model of the JSON document) with `actual` on every op and an `actual` summary; `compiler` is
    the version tpulint predicted for. Keys are only added: the entry stays valid schema version 1."""
    ops = [op for op in entry["ops"] if op["subgraph"] == 0]
    for op in entry["ops"]:
        op["actual"] = actual.ops[op["index"]].to_dict() if op["subgraph"] == 0 else None
    placed = [op for op in ops if op["actual"]["placement"] is not None]
    mismatches = [m for op in ops for m in _mismatches(op, entry, actual, compiler)]
    agree = sum(1 for op in placed if op["actual"]["placement"] == op["placement"])
    tpu = sum(1 for op in placed if op["actual"]["placement"] == "tpu")
    entry["actual"] = {
        "source": actual.source,
        "compiled": actual.compiled_path,
        "log": actual.log_path,
        "compiler_version": actual.compiler_version,
        "ops": len(ops),
        "tpu_ops": tpu,
        "cpu_ops": len(placed) - tpu,
        "ambiguous_ops": len(ops) - len(placed),
        "tpu_subgraphs": actual.tpu_subgraphs,
        "agree": agree,
        "compared": len(placed),
        "mismatches": mismatches,
        "cut": _cut(ops),
        "segments": [{"index": s.index, "compiled_op": s.compiled_op, "ops": len(s.ops),
                      "inputs": list(s.inputs), "outputs": list(s.outputs)} for s in actual.segments],
        "unassigned_ops": list(actual.unassigned),
        "totals": _totals(entry, actual),
    }
    return entry


def _cut(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CPU ops the compiler cut at: on the CPU with no CPU op upstream, and not just cut off."""
    on_cpu = {op["index"] for op in ops if op["actual"]["placement"] == "cpu"}
    out = []
    for op in ops:
        if op["index"] not in on_cpu or any(p in on_cpu for p in op["preds"]):
            continue
        if op["actual"]["status"] == MORE_THAN_ONE_SUBGRAPH:
            continue
        out.append({"index": op["index"], "opcode": op["opcode"], "status": op["actual"]["status"],
                    "predicted": op["placement"], "codes": op["codes"],
                    "inputs": [t["name"] for t in op["inputs"] if not t["constant"]]})
    return out


def _totals(entry: dict[str, Any], actual: ActualCompile) -> list[dict[str, Any]]:
    """The compile's summary figures next to tpulint's (null where one side does not know)."""
    memory = entry.get("memory") or {}
    s = entry["summary"]
    rows = [
        ("Edge TPU subgraphs", actual.tpu_subgraphs, s["tpu_subgraphs"]),
        ("Total number of operations", actual.log_ops, s["ops"]),
        ("On-chip memory used for caching model parameters", actual.cached_bytes, memory.get("cached_bytes")),
        ("Off-chip memory used for streaming uncached model parameters", actual.streamed_bytes,
         memory.get("streamed_bytes")),
        ("On-chip memory remaining for caching model parameters", actual.on_chip_remaining_bytes,
         _remaining(memory)),
    ]
    return [{"name": name, "actual": a, "predicted": p} for name, a, p in rows if a is not None]


def _remaining(memory: dict[str, Any]) -> int | None:
    budget, cached = memory.get("on_chip_budget_bytes"), memory.get("cached_bytes")
    return budget - cached if isinstance(budget, int) and isinstance(cached, int) else None


def _mismatches(op: dict[str, Any], entry: dict[str, Any], actual: ActualCompile,
                compiler: str) -> list[dict[str, Any]]:
    a = op["actual"]
    if a["placement"] is None:
        return []
    if a["placement"] != op["placement"]:
        kind = "placement"
    elif a["status"] is not None and a["status"] != op["status"]:
        kind = "status"
    else:
        return []
    line = actual.ops[op["index"]].log_line
    return [{
        "subgraph": op["subgraph"], "index": op["index"], "opcode": op["opcode"], "kind": kind,
        "predicted": {"placement": op["placement"], "status": op["status"], "codes": op["codes"]},
        "actual": {"placement": a["placement"], "status": a["status"]},
        "compiler_line": line,
        "bug_report": bug_report(op, entry, actual, compiler, line),
    }]


def _tensors(tensors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{t['name']} {t['shape']} {t['dtype']}{' (constant)' if t['constant'] else ''}"
                     for t in tensors) or "-"


def bug_report(op: dict[str, Any], entry: dict[str, Any], actual: ActualCompile, compiler: str,
               line: str | None) -> str:
    """A ready issue text: what tpulint said, what the compiler did, and the files that let the rule be fixed."""
    def where(placement: str | None) -> str:
        return {"tpu": "on the Edge TPU", "cpu": "on the CPU"}.get(placement or "", "unknown")

    a = op["actual"]
    evidence = [f"the source model {entry['path']}"]
    if actual.compiled_path:
        evidence.append(f"the compiled model {actual.compiled_path}")
    if actual.log_path:
        evidence.append(f"the compiler's log {actual.log_path}")
    else:
        evidence.append("the compiler's log (`edgetpu_compiler -s` prints it), which names the op's status")
    return "\n".join([
        f"tpulint mispredicts op {op['index']} {op['opcode']} (version {op['version']})",
        "",
        f"- predicted: {where(op['placement'])}, \"{op['status']}\""
        + (f" (rules {', '.join(op['codes'])})" if op["codes"] else ""),
        f"- edgetpu_compiler {actual.compiler_version or '(version unknown)'}: {where(a['placement'])}"
        + (f", \"{a['status']}\"" if a["status"] else ""),
        f"- the compiler's line: {line}" if line else "- the compiler's line: (no log given)",
        f"- inputs: {_tensors(op['inputs'])}",
        f"- outputs: {_tensors(op['outputs'])}",
        f"- tpulint {__version__}, predicting for compiler {compiler}",
        "",
        f"Attach {', '.join(evidence)}, and the edgetpu_compiler command line. Report at {ISSUES_URL}",
    ])


__all__ = ["annotate", "bug_report"]
