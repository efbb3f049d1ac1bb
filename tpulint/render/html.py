"""HTML report: one self-contained page (jinja2, autoescaped) with the verdict, the cut graph, blockers, ops, findings."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from typing import Any

from markupsafe import Markup
from markupsafe import escape as _escape

from tpulint.render import Writer as _Writer
from tpulint.render.escape import terminal_safe
from tpulint.render.fields import (op_counts, op_lookup, panels, segment_views, size, tensor_size, verdict,
                                     verdict_head)
from tpulint.render.layout import NODE_H, NODE_W, layout

# Graphs larger than this are not drawn: the table still lists every op, and the page stays a few MB at most.
MAX_DRAWN_OPS = 4000


def render(doc: dict[str, Any], options: Any = None) -> str:
    from tpulint.render import RenderOptions, render as render_format

    return render_format(doc, options if isinstance(options, RenderOptions) else RenderOptions(format="html"))


class Writer(_Writer):
    """The page written section by section: the head, each model's section as soon as it is analysed (its op
    rows streamed from the report), then the rules. With several models the head holds an overview of all of
    them, so their sections wait in a temporary file (unnamed: nothing is left behind) until the last one."""

    def __init__(self, options: Any, head: dict[str, Any], count: int, out: Any,
                 rules: dict[str, Any] | None = None) -> None:
        super().__init__(options, head, count, out)
        self.env = _environment()
        self.overview: list[dict[str, Any]] = []
        # Whether a finding's code has a rule entry at the end of the page: the document's, when it is known
        # now (render of a whole document), else every registered rule (what tpulint.report.rules_of keeps).
        self.rules = rules if rules is not None else _Registered()
        self.spool: Any = None
        if count > 1:
            import tempfile

            self.spool = tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n")
        else:
            self._head()

    def _head(self) -> None:
        write = self.out.write
        for chunk in self.env.get_template("report.html.j2").generate(doc=self.head, models=self.overview,
                                                                     count=self.count):
            write(chunk)

    def model(self, m: dict[str, Any]) -> None:
        v = _view(len(self.overview), m)
        self.overview.append(_overview(v))
        write = self.spool.write if self.spool is not None else self.out.write
        for chunk in self.env.get_template("_model.html.j2").generate(
                v=v, rules=self.rules, node_w=NODE_W, node_h=NODE_H, op_rows=_op_rows(v)):
            write(chunk)

    def close(self, rules: dict[str, Any]) -> None:
        if self.spool is not None:
            self._head()
            self.spool.seek(0)
            while True:
                chunk = self.spool.read(1 << 16)
                if not chunk:
                    break
                self.out.write(chunk)
            self.spool.close()
        for chunk in self.env.get_template("_end.html.j2").generate(rules=rules):
            self.out.write(chunk)
        self.out.flush()


class _Registered:
    """`code in rules` for every code the registry knows."""

    def __contains__(self, code: object) -> bool:
        from tpulint.registry import get_rule

        return isinstance(code, str) and get_rule(code) is not None


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
    ops = m["ops"]
    n_ops = len(ops)
    if m["error"] is None and n_ops <= MAX_DRAWN_OPS:
        drawn = list(ops)  # a few thousand at most
        for sg in sorted({op["subgraph"] for op in drawn}):
            graphs.append(layout([op for op in drawn if op["subgraph"] == sg], m["blockers"]))
    counts = op_counts(m)
    focus = around_the_cpu(ops) if m["error"] is None else Focus()
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
        "too_big": m["error"] is None and n_ops > MAX_DRAWN_OPS,
        "panels": panels(m),
        "op_at": op_lookup(m),
        "head": verdict_head(m),
        "segments": segment_views(m) if m["error"] is None else [],
        "focus": focus if len(focus) < n_ops else Focus(),
        "actual": _actual_view(m) if m.get("actual") else None,
    }


def _overview(v: dict[str, Any]) -> dict[str, Any]:
    """What the page's overview table shows of a model (kept for every model until the end of the run)."""
    m = v["m"]
    keep = ("id", "verdict", "state", "counts", "tpu_pct", "head")
    return {**{k: v[k] for k in keep}, "findings": len(m["findings"]),
            "m": {"path": m["path"], "error": m["error"], "compiled": m["compiled"], "summary": m["summary"]}}


def _h(value: str) -> str:
    """A string from the model as the template shows it: control characters escaped, then HTML-escaped."""
    return str(_escape(terminal_safe(value)))


def _shape(t: dict[str, Any]) -> str:
    return _h(f"{t['dtype']}[{','.join(str(d) for d in t['shape'])}]")


def _op_rows(v: dict[str, Any]) -> Iterator[str]:
    """The ops table's rows, written here rather than by the template: the same text, without the template's
    per-value machinery (a 30,000-op page took seconds). Each row lacks its final line end (the template's);
    Markup, so that the template neither escapes nor finalizes it again."""
    vid = v["id"]
    focus = v["focus"]
    compared = v["actual"] is not None
    if compared:
        from tpulint.render.actual import op_cell
    for op in v["m"]["ops"]:
        sg, index, placement = op["subgraph"], op["index"], op["placement"]
        custom = op["custom_code"]
        blocked = op["blocked_by"]
        inputs = "".join(f'<div><span class="tensor">{_h(t["name"])}</span> <span class="muted">{_shape(t)}'
                         f'{" const" if t["constant"] else ""}</span></div>' for t in op["inputs"])
        outputs = "".join(f'<div><span class="tensor">{_h(t["name"])}</span> <span class="muted">{_shape(t)}'
                          '</span></div>' for t in op["outputs"])
        actual = (f"<td>{_h(op_cell(op)) if sg == 0 else '-'}</td>") if compared else ""
        place = _h(placement)
        yield Markup(f'      <tr class="{place}" data-placement="{place}" id="{vid}-op-{sg}-{index}"'
               f'{_FOCUS if (sg, index) in focus else ""}>\n'
               f"        <td>{sg}</td><td>{index}</td>\n"
               f"        <td>{_h(op['opcode'])}"
               f'{"" if custom is None else f""" <span class="muted">{_h(custom)}</span>"""}</td>\n'
               f'        <td><span class="pill {place}">{"Edge TPU" if placement == "tpu" else "CPU"}</span></td>\n'
               f"        <td>{_h(op['status'])}</td><td>{_escape(', '.join(op['codes']))}</td>\n"
               f"        <td>{'' if blocked is None else blocked}</td>\n"
               f"        <td>{inputs}</td>\n"
               f"        <td>{outputs}</td>{actual}\n"
               "      </tr>")


_FOCUS = ' data-focus="1"'


def _actual_view(m: dict[str, Any]) -> dict[str, Any]:
    from tpulint.render import actual

    a = m["actual"]
    return {
        "evidence": actual.evidence(a), "agreement": actual.agreement(a),
        "totals": [(t["name"], actual.total_value(t["name"], t["actual"]),
                    actual.total_value(t["name"], t["predicted"])) for t in a["totals"]],
        "cut": a["cut"], "ambiguous": [(opcode, actual.index_list(ix), c) for opcode, ix, c in actual.ambiguous_groups(m)],
        "mismatches": [(actual.mismatch_text(mm), mm["bug_report"]) for mm in a["mismatches"]],
    }


class Focus:
    """A set of (subgraph, op index) held as one byte per op of each subgraph."""

    __slots__ = ("_flags", "_count")

    def __init__(self, flags: dict[int, bytearray] | None = None) -> None:
        self._flags = flags or {}
        self._count = sum(f.count(1) for f in self._flags.values())

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        sg, i = key
        flags = self._flags.get(sg)
        return flags is not None and 0 <= i < len(flags) and flags[i] == 1

    def __len__(self) -> int:
        return self._count


def _grown(flags: bytearray, i: int) -> bytearray:
    if i >= len(flags):
        flags.extend(bytes(i + 1 - len(flags)))
    return flags


def around_the_cpu(ops: Iterable[dict[str, Any]]) -> Focus:
    """(subgraph, index) of the ops the table shows first: those on the CPU and the ops they read from or feed,
    where the model is cut. Empty when every op maps (then the table shows them all). One pass over the ops."""
    state: dict[int, bytearray] = {}  # per subgraph and op: 0 not seen yet, 1 Edge TPU, 2 CPU
    focus: dict[int, bytearray] = {}
    later: list[tuple[int, int, list[int]]] = []  # an op whose producer comes after it (a hostile order)
    for op in ops:
        sg, i, preds = op["subgraph"], op["index"], op["preds"]
        seen = _grown(state.setdefault(sg, bytearray()), i)
        marks = _grown(focus.setdefault(sg, bytearray()), i)
        if op["placement"] == "cpu":
            seen[i] = 2
            marks[i] = 1
            for p in preds:
                if p >= 0:
                    _grown(marks, p)[p] = 1
            continue
        if seen[i] == 0:
            seen[i] = 1
        if any(p < 0 or p >= len(seen) or seen[p] == 0 for p in preds):
            later.append((sg, i, preds))
        elif any(seen[p] == 2 for p in preds):
            marks[i] = 1
    for sg, i, preds in later:
        seen = state[sg]
        if any(0 <= p < len(seen) and seen[p] == 2 for p in preds):
            focus[sg][i] = 1
    return Focus(focus)


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
