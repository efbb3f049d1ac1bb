"""Markdown report for GitHub job summaries and PR comments, truncated with a note below GitHub's 1 MiB limit."""

from __future__ import annotations

from collections import Counter
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from tpulint.render import Writer as _Writer
from tpulint.render.actual import WHERE, agreement, ambiguous_groups, evidence, index_list, mismatch_text, op_cell
from tpulint.render.actual import total_value
from tpulint.render.escape import markdown_text as md
from tpulint.render.fields import op_counts, panels, suggestion_heads, verdict

# GitHub rejects a step summary over 1 MiB; stay clearly below it.
LIMIT = 1024 * 1024 - 16 * 1024


def render(doc: dict[str, Any], options: Any = None, limit: int = LIMIT, notes: Sequence[str] = ()) -> str:
    """`notes`: Markdown paragraphs shown under the heading (the GitHub Action's)."""
    from tpulint.render import RenderOptions, open_writer

    parts: list[str] = []
    writer = open_writer(RenderOptions(format="markdown"), {k: v for k, v in doc.items() if k not in ("models", "rules")},
                         len(doc["models"]), parts.append, rules=doc.get("rules", {}), limit=limit, notes=notes)
    for m in doc["models"]:
        writer.model(m)
    writer.close(doc.get("rules", {}))
    return "".join(parts)


def truncate(text: str, limit: int) -> str:
    """Cut at a line boundary so the UTF-8 text plus a note fits in `limit` bytes."""
    data = text.encode("utf-8")
    return text if len(data) <= limit else _cut(data, len(data), limit)


def _cut(data: bytes, total: int, limit: int) -> str:
    """The first bytes of a report of `total` bytes (`data`: at least its first `limit`), cut as truncate cuts."""
    note = (f"\n\n> [!WARNING]\n> Report truncated: {{shown:,}} of {total:,} bytes shown (GitHub's job summary "
            "limit is 1 MiB). Run `tpulint --format full` or open the HTML report for everything.\n")
    budget = limit - len(note.encode("utf-8")) - 16
    head = data[:max(budget, 0)].decode("utf-8", "ignore")
    head = head[:head.rfind("\n") + 1] if "\n" in head else ""
    return head + note.format(shown=len(head.encode("utf-8")))


class Writer(_Writer):
    """The report model by model: the heading and the table of every model come first, so each model's section
    is kept, as UTF-8, only as far as the report can be shown (`limit`: GitHub's 1 MiB); the rest is counted
    for the truncation note, not held."""

    def __init__(self, options: Any, head: dict[str, Any], count: int, out: Any,
                 rules: dict[str, Any] | None = None, limit: int = LIMIT, notes: Sequence[str] = ()) -> None:
        super().__init__(options, head, count, out)
        self.rules = rules  # the document's, when known now; else each model's own (rule_metadata)
        self.limit = limit
        self.notes = notes
        self.rows: list[str] = []
        self.counted = [0, 0]  # Edge TPU ops, ops, over the models counted in source ops
        self.uncounted = 0
        self.sections: list[bytes] = []
        self.kept = 0
        self.total = 0

    def model(self, m: dict[str, Any]) -> None:
        sev = Counter(f["severity"] for f in m["findings"])
        mark = "❌" if m["error"] or not m["compilable"] else "✅" if m["summary"]["cpu_ops"] == 0 else "⚠️"
        counts = op_counts(m)
        if m["error"] is None:
            if counts is None:
                self.uncounted += 1
            else:
                self.counted[0] += counts[0]
                self.counted[1] += counts[2]
        tpu = str(counts[0]) if counts else (f"{m['summary']['tpu_subgraphs']} custom op(s)" if m["compiled"]
                                             else "0")
        self.rows.append(f"| {md(m['path'])} | {mark} {md(verdict(m))} | {tpu} | "
                         f"{m['summary']['cpu_ops']} | {sev['error']} | {sev['warning']} |")
        lines: Iterable[str] = ("", f"## {md(m['path'])}", "", f"**{md(verdict(m))}**")
        if m["error"] is None:
            rules = self.rules if self.rules is not None else _rules_of(m)
            lines = itertools.chain(lines, _model(m, rules))
        for line in lines:
            data = ("\n" + line).encode("utf-8")
            self.total += len(data)
            if self.kept < self.limit:
                self.sections.append(data)
                self.kept += len(data)

    def close(self, rules: dict[str, Any]) -> None:
        models = self.count
        out = ["# tpulint: Edge TPU placement", ""]
        for note in self.notes:
            out += [note, ""]
        t = self.head["target"]
        uncounted = self.uncounted
        out.append(f"Compiler {md(str(t['compiler']))}, runtime ≥ {t['min_runtime']}, "
                   f"{models} model{'s' if models != 1 else ''}, "
                   f"{self.counted[0]}/{self.counted[1]} ops on the Edge TPU"
                   + (f" (not counting {uncounted} compiled model{'s' if uncounted != 1 else ''} without "
                      "its source)." if uncounted else "."))
        out += ["", "| Model | Verdict | Edge TPU ops | CPU ops | Errors | Warnings |",
                "| --- | --- | ---: | ---: | ---: | ---: |"]
        out += self.rows
        head = "\n".join(out)
        head_bytes = len(head.encode("utf-8"))
        total = head_bytes + self.total + 1
        if total <= self.limit:
            self.out.write(head)
            for data in self.sections:
                self.out.write(data.decode("utf-8"))
            self.out.write("\n")
        else:
            text = _cut(head.encode("utf-8") + b"".join(self.sections)[:self.limit] + b"\n", total, self.limit)
            for start in range(0, len(text), 1 << 16):
                self.out.write(text[start:start + (1 << 16)])
        self.sections.clear()
        self.out.flush()


def _rules_of(m: dict[str, Any]) -> dict[str, Any]:
    from tpulint.report import rule_metadata

    return rule_metadata(sorted({f["code"] for f in m["findings"]}))


def report(doc: dict[str, Any], notes: Sequence[str] = ()) -> str:
    """The whole report, not truncated."""
    return render(doc, notes=notes, limit=1 << 62)


def _model(m: dict[str, Any], rules: dict[str, Any]) -> Iterator[str]:
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
    yield from out
    out = []
    cpu = sum(1 for op in m["ops"] if op["placement"] == "cpu")
    if cpu:
        yield from ("", f"<details><summary>{cpu} op{'s' if cpu != 1 else ''} on the CPU</summary>", "",
                    "| Op | Output | Status | Cause |" + (" Actual compile |" if compared else ""),
                    "| ---: | --- | --- | --- |" + (" --- |" if compared else ""))
        for op in m["ops"]:
            if op["placement"] != "cpu":
                continue
            name = md(op["outputs"][0]["name"]) if op["outputs"] else "-"
            cause = f"cut off by op {op['blocked_by']}" if op["blocked_by"] is not None else ", ".join(op["codes"]) or "-"
            actual = f" {md(op_cell(op))} |" if compared else ""
            yield f"| {op['index']} {md(op['opcode'])} | {name} | {md(op['status'])} | {cause} |{actual}"
        yield from ("", "</details>")
    if compared:
        out += _actual(m)
    yield from out
    for title, rows in panels(m):
        yield from ("", f"### {title}", "", "| | |", "| --- | --- |")
        for name, text in rows:
            yield f"| {md(name)} | {md(text)} |"


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
