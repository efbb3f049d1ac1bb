"""Terminal output: concise (one line per finding, like ruff) and full (the compiler's summary and op table)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from tpulint.render import Writer as _Writer

from tpulint.render.actual import WHERE, agreement, ambiguous_groups, evidence, index_list, mismatch_text, op_cell
from tpulint.render.actual import total_value
from tpulint.render.escape import terminal_safe as safe
from tpulint.render.fields import (EDGETPU_OP, memory_figures, op_counts, op_lookup, panels, segment_views,
                                     size, suggestion_heads, tensor_size, verdict)

_SGR = {"bold": "1", "red": "31", "green": "32", "yellow": "33", "cyan": "36", "dim": "2"}
_SEVERITY_COLOR = {"error": "red", "warning": "yellow", "info": "cyan"}


def render(doc: dict[str, Any], options: Any) -> str:
    from tpulint.render import RenderOptions, render as render_format

    if not isinstance(options, RenderOptions):
        options = RenderOptions(format=getattr(options, "format", "concise"), color=getattr(options, "color", False),
                                statistics=getattr(options, "statistics", False), quiet=getattr(options, "quiet", False))
    return render_format(doc, options)


class Writer(_Writer):
    """concise and full, model by model: each model's lines as soon as it is analysed, its op rows streamed;
    the run's summary (and --statistics) at the end, from counts."""

    def __init__(self, options: Any, head: dict[str, Any], count: int, out: Any) -> None:
        super().__init__(options, head, count, out)
        self.paint = _painter(bool(getattr(options, "color", False)))
        self.quiet = getattr(options, "quiet", False)
        self.statistics = getattr(options, "statistics", False)
        self.totals = RunTotals()
        self.counts: Counter[tuple[str, str, str]] = Counter()

    def model(self, m: dict[str, Any]) -> None:
        self.totals.add(m)
        if self.statistics:  # in place of the findings and verdicts, as ruff's --statistics
            self.counts.update((f["code"], f["name"], f["severity"]) for f in m["findings"])
            return
        if m["error"] is not None:
            return  # unreadable models are reported on stderr by the CLI
        write = self.out.write
        lines = _full(m, self.paint) if self.options.format == "full" else _concise(m, self.paint, not self.quiet)
        for line in lines:
            write(line + "\n")

    def close(self, rules: dict[str, Any]) -> None:
        if self.statistics:
            for line in statistic_lines(self.counts, self.paint):
                self.out.write(line + "\n")
        if not self.quiet and (self.count > 1 or self.statistics):
            self.out.write(self.totals.line() + "\n")
        self.out.flush()


class RunTotals:
    """What the run's summary line counts, added model by model."""

    def __init__(self) -> None:
        self.models = 0
        self.analysed = 0
        self.severities: Counter[str] = Counter()
        self.tpu_ops = 0
        self.ops = 0
        self.on_cpu = 0
        self.rejected = 0

    def add(self, m: dict[str, Any]) -> None:
        self.models += 1
        if m["error"] is not None:
            return
        self.analysed += 1
        self.severities.update(f["severity"] for f in m["findings"])
        self.tpu_ops += m["summary"]["tpu_ops"]
        self.ops += m["summary"]["ops"]
        self.on_cpu += 1 if m["summary"]["cpu_ops"] else 0
        self.rejected += 0 if m["compilable"] else 1

    def line(self) -> str:
        """`Found 3 errors in 12 models; 410/520 ops on the Edge TPU, ...`."""
        severities = self.severities
        total = sum(severities.values())
        counts = [_count(severities[s], s) for s in ("error", "warning", "info") if severities[s]]
        found = (f"Found {counts[0]}" if len(counts) == 1 else
                 f"Found {_count(total, 'finding')} ({', '.join(counts)})") if total else "No findings"
        line = f"{found} in {_count(self.models, 'model')}"
        if self.analysed < self.models:
            line += f" ({self.models - self.analysed} not analysed)"
        line += f"; {self.tpu_ops}/{self.ops} ops on the Edge TPU"
        if self.on_cpu:
            line += f", {_count(self.on_cpu, 'model')} with ops on the CPU"
        if self.rejected:
            line += f", {self.rejected} will not compile"
        return line


def run_summary(doc: dict[str, Any]) -> str:
    """One line for the whole run: `Found 3 errors in 12 models; 410/520 ops on the Edge TPU, ...`."""
    totals = RunTotals()
    for m in doc["models"]:
        totals.add(m)
    return totals.line()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 or noun == 'info' else 's'}"


def _painter(color: bool) -> Callable[[str, str], str]:
    if not color:
        return lambda text, style: text
    return lambda text, style: f"\x1b[{_SGR[style]}m{text}\x1b[0m"


def statistics(doc: dict[str, Any], paint: Callable[[str, str], str]) -> list[str]:
    """Findings counted per rule over every model, most frequent first (ruff's --statistics)."""
    return statistic_lines(Counter((f["code"], f["name"], f["severity"]) for m in doc["models"] for f in m["findings"]),
                           paint)


def statistic_lines(counts: Counter[tuple[str, str, str]], paint: Callable[[str, str], str]) -> list[str]:
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


def _concise(m: dict[str, Any], paint: Callable[[str, str], str], verdicts: bool = True) -> list[str]:
    path = paint(safe(m["path"]), "bold")
    out = [f"{path}: {op_label(f)}{paint(f['code'], _SEVERITY_COLOR.get(f['severity'], 'bold'))} "
           f"{safe(f['message'])}" for f in m["findings"]]
    if not verdicts:
        return out
    ok = m["compilable"] and m["summary"]["cpu_ops"] == 0
    line = f"{path}: {paint(verdict(m), 'green' if ok else 'red' if not m['compilable'] else 'yellow')}"
    hidden = (m.get("baseline") or {}).get("suppressed")
    if hidden:
        line += f" ({hidden} baselined finding{'s' if hidden != 1 else ''} hidden)"
    actual = m.get("actual")
    if actual:
        out += [f"{path}: {paint('mismatch', 'red')} {safe(mismatch_text(mm))}" for mm in actual["mismatches"]]
        out.append(f"{path}: actual compile: {agreement(actual)}")
    return out + [line]


def _full(m: dict[str, Any], paint: Callable[[str, str], str]) -> Iterator[str]:
    """The lines of one model, op rows streamed: the ops are read in at most three passes, none held."""
    s = m["summary"]
    yield paint(f"Model: {safe(m['path'])}", "bold")
    if not m["compilable"]:
        yield "Model could not be compiled (predicted): " + "; ".join(
            safe(f["message"]) for f in m["findings"] if f["effect"] == "model")
    cached, streamed = memory_figures(m.get("memory") or {})
    if cached is not None and streamed is not None:
        how = "" if m["compiled"] else " (estimated)"  # a compiled file records the real split
        yield f"On-chip memory used for caching model parameters: {size(cached)}{how}"
        yield f"Off-chip memory used for streaming uncached model parameters: {size(streamed)}{how}"
    yield f"Number of Edge TPU subgraphs: {s['tpu_subgraphs']}"
    counts_in_ops = op_counts(m)
    if counts_in_ops is None:  # a compiled model without its source: an Edge TPU custom op is not one op
        yield f"Number of operations left on the CPU: {s['cpu_ops']}"
    else:
        on_tpu, on_cpu, total = counts_in_ops
        of = " (of the source model)" if m["compiled"] else ""
        yield f"Total number of operations: {total}{of}"
        yield f"Number of operations that will run on Edge TPU: {on_tpu}"
        yield f"Number of operations that will run on CPU: {on_cpu}"
    yield from ("", f"{'Operator':<31}{'Count':<11}Status", "")
    # One row per (operator, status) in first-appearance order, as the compiler's .log does (COMPILER.md 4.2).
    counts = Counter((op["custom_code"] if op["custom_code"] == EDGETPU_OP else "CUSTOM" if op["custom_code"]
                      is not None else op["opcode"], op["status"]) for op in m["ops"])
    for (opcode, status), n in counts.items():
        yield f"{opcode:<31}{n:<11}{status}"
    segments = segment_views(m)
    if segments:
        yield from ("", "Edge TPU subgraphs (each tensor crossing a boundary is a transfer between host and Edge TPU):")
        for seg in segments:
            where = f"subgraph {seg.subgraph} " if seg.subgraph else ""
            moved = f", {tensor_size(seg.transfer_bytes)} transferred" if seg.transfer_bytes is not None else ""
            plural = "s" if len(seg.ops) != 1 else ""
            yield f"  {seg.number}. {where}op{plural} {seg.op_ranges} ({len(seg.ops)} op{plural}{moved})"
            for label, side in (("in ", seg.inputs), ("out", seg.outputs)):
                for t in side:
                    yield f"     {label} {safe(t.name)} {safe(t.shape)} {tensor_size(t.bytes)}"
    for title, rows in panels(m):
        yield from ("", f"{title}:")
        for name, text in rows:
            yield f"  {name}: {safe(text)}"
    yield from _cpu_rows(m)
    if m.get("advice"):
        yield from ("", "Suggestions, ranked by the Edge TPU ops each gains (each checked by re-running the partition):")
        for head, sug in suggestion_heads(m["advice"]):
            yield f"  {head} {safe(sug['text'])}"
            if sug["command"]:
                yield f"     run: {safe(sug['command'])}"
            if sug["source"]:
                yield f"     source: {safe(sug['source'])}"
    if m["findings"]:
        yield from ("", "Findings:")
        for f in m["findings"]:
            yield (f"  {op_label(f)}{paint(f['code'], _SEVERITY_COLOR.get(f['severity'], 'bold'))} "
                   f"[{f['severity']}, {f['confidence']}] {safe(f['message'])}")
            if f["fix"]:
                yield f"    fix: {safe(f['fix'])}"
    if m.get("actual"):
        yield from _actual(m, paint)
    yield from ("", paint(f"Verdict: {verdict(m)}", "bold"), "")


def _cpu_rows(m: dict[str, Any]) -> Iterator[str]:
    """"Ops on the CPU": one row per CPU op, in one pass; a cut-off op names its blocker (looked up, not scanned)."""
    op_at = op_lookup(m)
    compared = bool(m.get("actual"))
    first = True
    for op in m["ops"]:
        if op["placement"] != "cpu":
            continue
        if first:
            yield from ("", "Ops on the CPU (index, output tensor, root cause):")
            first = False
        name = safe(op["outputs"][0]["name"]) if op["outputs"] else "-"
        if op["blocked_by"] is not None:
            blocker = op_at(op["subgraph"], op["blocked_by"])
            why = f"cut off by op {op['blocked_by']} {blocker['opcode'] if blocker else ''}".rstrip()
        else:
            why = op["status"]  # the findings follow under "Findings"; a rejection names its gates here
            if not m["compilable"] and op["codes"]:
                why += f" ({', '.join(op['codes'])})"
        actual = f" [actual: {op_cell(op)}]" if compared else ""
        yield f"  op {op['index']:>4} {op['opcode']:<24} {name}: {why}{safe(actual)}"


def _actual(m: dict[str, Any], paint: Callable[[str, str], str]) -> list[str]:
    """The real compile next to the prediction: agreement, summary figures, the cut, every disagreement."""
    a = m["actual"]
    out = ["", paint(f"Actual compile: {safe(evidence(a))}", "bold"), f"  {agreement(a)}"]
    for t in a["totals"]:
        out.append(f"  {t['name']}: {total_value(t['name'], t['actual'])} actual, "
                   f"{total_value(t['name'], t['predicted'])} predicted")
    for c in a["cut"]:
        codes = f", rules {', '.join(c['codes'])}" if c["codes"] else ""
        out.append(f"  cut at op {c['index']} {c['opcode']} ({safe(', '.join(c['inputs']) or '-')}): "
                   f"{c['status'] or 'no status without the log'} (predicted {WHERE[c['predicted']]}{codes})")
    groups = ambiguous_groups(m)
    if groups:
        out += ["", "Ambiguous in the log (its counts leave a choice between statuses):"]
        for opcode, indices, candidates in groups:
            choice = " | ".join(f"{s} ({n})" for s, n in candidates.items())
            out.append(f"  {opcode} ops {index_list(indices)}: {choice}")
    if a["mismatches"]:
        out += ["", paint(f"Disagreements ({len(a['mismatches'])}):", "bold")]
        out += [f"  {safe(mismatch_text(mm))}" for mm in a["mismatches"]]
        out += ["", "To get a rule fixed, report each disagreement:"]
        for mm in a["mismatches"]:
            out += [""] + [f"    {safe(line)}" if line else "" for line in mm["bug_report"].splitlines()]
    return out
