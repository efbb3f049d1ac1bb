"""Markdown report for GitHub job summaries and PR comments, truncated with a note below GitHub's 1 MiB limit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from tpulint.render.actual import WHERE, agreement, ambiguous_groups, evidence, index_list, mismatch_text, op_cell
from tpulint.render.actual import total_value
from tpulint.render.escape import markdown_text as md
from tpulint.render.fields import op_counts, panels, suggestion_heads, verdict

# GitHub rejects a step summary over 1 MiB; stay clearly below it.
LIMIT = 1024 * 1024 - 16 * 1024


def render(doc: dict[str, Any], options: Any = None, limit: int = LIMIT, notes: Sequence[str] = ()) -> str:
    """`notes`: Markdown paragraphs shown under the heading (the GitHub Action's)."""
    return truncate(report(doc, notes), limit)


def truncate(text: str, limit: int) -> str:
    """Cut at a line boundary so the UTF-8 text plus a note fits in `limit` bytes."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    note = (f"\n\n> [!WARNING]\n> Report truncated: {{shown:,}} of {len(data):,} bytes shown (GitHub's job summary "
            "limit is 1 MiB). Run `tpulint --format full` or open the HTML report for everything.\n")
    budget = limit - len(note.encode("utf-8")) - 16
    head = data[:max(budget, 0)].decode("utf-8", "ignore")
    head = head[:head.rfind("\n") + 1] if "\n" in head else ""
    return head + note.format(shown=len(head.encode("utf-8")))


def report(doc: dict[str, Any], notes: Sequence[str] = ()) -> str:
    models = doc["models"]
    ok = [m for m in models if m["error"] is None]
    out = ["# tpulint: Edge TPU placement", ""]
    for note in notes:
        out += [note, ""]
    t = doc["target"]
    counted = [c for c in map(op_counts, ok) if c is not None]
    uncounted = len(ok) - len(counted)
    out.append(f"Compiler {md(str(t['compiler']))}, runtime ≥ {t['min_runtime']}, "
               f"{len(models)} model{'s' if len(models) != 1 else ''}, "
               f"{sum(c[0] for c in counted)}/{sum(c[2] for c in counted)} ops on the Edge TPU"
               + (f" (not counting {uncounted} compiled model{'s' if uncounted != 1 else ''} without "
                  "its source)." if uncounted else "."))
    out += ["", "| Model | Verdict | Edge TPU ops | CPU ops | Errors | Warnings |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for m in models:
        sev = Counter(f["severity"] for f in m["findings"])
        mark = "❌" if m["error"] or not m["compilable"] else "✅" if m["summary"]["cpu_ops"] == 0 else "⚠️"
        counts = op_counts(m)
        tpu = str(counts[0]) if counts else (f"{m['summary']['tpu_subgraphs']} custom op(s)" if m["compiled"]
                                             else "0")
        out.append(f"| {md(m['path'])} | {mark} {md(verdict(m))} | {tpu} | "
                   f"{m['summary']['cpu_ops']} | {sev['error']} | {sev['warning']} |")
    for m in models:
        out += ["", f"## {md(m['path'])}", "", f"**{md(verdict(m))}**"]
        if m["error"] is not None:
            continue
        out += _model(m, doc.get("rules", {}))
    return "\n".join(out) + "\n"


def _model(m: dict[str, Any], rules: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if m.get("advice"):
        out += ["", "### Suggestions (each checked by re-running the partition)", "",
                "| Rank | Edge TPU ops | Change | Command |", "| --- | ---: | --- | --- |"]
        for head, sug in suggestion_heads(m["advice"]):
            cmd = f"<code>{md(sug['command'])}</code>" if sug["command"] else "-"
            text = sug["text"] + (f" (source: {sug['source']})" if sug["source"] else "")
            out.append(f"| {md(head.split(' ')[0])} | {sug['tpu_ops']} ({sug['gain']:+d}) | {md(text)} | {cmd} |")
    if m["findings"]:
        out += ["", "### Findings", "", "| Code | Severity | Location | Message | Fix |", "| --- | --- | --- | --- | --- |"]
        for f in m["findings"]:
            loc = f["location"]
            where = f"op {loc['operator']} {md(loc['op_type'] or '')}" if loc["operator"] is not None else "model"
            if loc["tensor_name"]:
                where += f" ({md(loc['tensor_name'])})"
            url = rules.get(f["code"], {}).get("url")
            code = f"[{f['code']}]({url})" if url else f["code"]
            out.append(f"| {code} | {f['severity']} | {where} | {md(f['message'])} | {md(f['fix'] or '')} |")
    compared = bool(m.get("actual"))
    cpu = [op for op in m["ops"] if op["placement"] == "cpu"]
    if cpu:
        out += ["", f"<details><summary>{len(cpu)} op{'s' if len(cpu) != 1 else ''} on the CPU</summary>", "",
                "| Op | Output | Status | Cause |" + (" Actual compile |" if compared else ""),
                "| ---: | --- | --- | --- |" + (" --- |" if compared else "")]
        for op in cpu:
            name = md(op["outputs"][0]["name"]) if op["outputs"] else "-"
            cause = f"cut off by op {op['blocked_by']}" if op["blocked_by"] is not None else ", ".join(op["codes"]) or "-"
            actual = f" {md(op_cell(op))} |" if compared else ""
            out.append(f"| {op['index']} {md(op['opcode'])} | {name} | {md(op['status'])} | {cause} |{actual}")
        out += ["", "</details>"]
    if compared:
        out += _actual(m)
    for title, rows in panels(m):
        out += ["", f"### {title}", "", "| | |", "| --- | --- |"]
        out += [f"| {md(name)} | {md(text)} |" for name, text in rows]
    return out


def _actual(m: dict[str, Any]) -> list[str]:
    a = m["actual"]
    out = ["", "### Actual compile", "", f"{md(evidence(a))}: {md(agreement(a))}."]
    if a["totals"]:
        out += ["", "| | Actual | Predicted |", "| --- | ---: | ---: |"]
        out += [f"| {md(t['name'])} | {total_value(t['name'], t['actual'])} | {total_value(t['name'], t['predicted'])} |"
                for t in a["totals"]]
    if a["cut"]:
        out += ["", "| Cut at | Status | Predicted |", "| --- | --- | --- |"]
        for c in a["cut"]:
            predicted = WHERE[c["predicted"]] + (f" ({', '.join(c['codes'])})" if c["codes"] else "")
            out.append(f"| op {c['index']} {md(c['opcode'])} | {md(c['status'] or '-')} | {predicted} |")
    groups = ambiguous_groups(m)
    if groups:
        out += ["", "| Ambiguous in the log | Statuses (count) |", "| --- | --- |"]
        out += [f"| {md(opcode)} ops {index_list(indices)} | "
                f"{md(' / '.join(f'{s} ({n})' for s, n in candidates.items()))} |" for opcode, indices, candidates in groups]
    if a["mismatches"]:
        out += ["", "| Disagreement | Report |", "| --- | --- |"]
        for mm in a["mismatches"]:
            report = "<br>".join(md(line) for line in mm["bug_report"].splitlines())
            out.append(f"| {md(mismatch_text(mm))} | <details><summary>bug report</summary>{report}</details> |")
    return out
