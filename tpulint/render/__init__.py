"""Output formats: each renderer turns the plain JSON document (tpulint.report) into text; imported on demand."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

# format name -> module under tpulint.render providing a `Writer` (and `render(doc, options) -> str`)
FORMATS = {
    "concise": "text",
    "full": "text",
    "json": "json",
    "html": "html",
    "sarif": "sarif",
    "github": "github",
    "markdown": "markdown",
    "model-explorer": "model_explorer",
}

# Formats whose renderer reads no model's "ops" (only its path, summary and findings): `tpulint -j N`
# workers leave the op list out of the entries they send back for these.
SUMMARY_ONLY = frozenset({"concise", "github", "sarif"})


@dataclass(frozen=True, slots=True)
class RenderOptions:
    format: str = "concise"
    color: bool = False
    statistics: bool = False
    root: str | None = None  # repository root that SARIF/GitHub paths are made relative to
    quiet: bool = False  # the findings only: no per-model verdict lines, no run summary


# Formats whose lines may start with a name or a path, and how they escape a character: a workflow command in
# a name must not reach the start of a line (JSON-based formats quote every string; `github` escapes its data).
_COMMAND_ESCAPES = {
    "concise": {":": "\\x3a", "#": "\\x23"}, "full": {":": "\\x3a", "#": "\\x23"},
    "markdown": {":": "&#58;", "#": "&#35;"}, "html": {":": "&#58;", "#": "&#35;"},
}


def render(doc: dict[str, Any], options: RenderOptions) -> str:
    """The whole report of `doc` as one string (the Python API and the tests; the CLI streams with open_writer)."""
    if options.format == "json":  # the document as is, whatever keys it holds
        from tpulint.render import json

        return json.render(doc, options)
    parts: list[str] = []
    known = {"rules": doc.get("rules", {})} if options.format in _RULES_PER_MODEL else {}
    writer = open_writer(options, {k: v for k, v in doc.items() if k not in ("models", "rules")},
                         len(doc["models"]), parts.append, **known)
    for m in doc["models"]:
        writer.model(m)
    writer.close(doc.get("rules", {}))
    return "".join(parts)


# Formats whose model sections read the document's "rules" (their Writer takes them up front when known).
_RULES_PER_MODEL = frozenset({"html", "markdown"})


class Sink:
    """Text written in pieces of about `flush_at` characters; with `escapes`, each ending at a line end, so that
    the escape of workflow commands at the start of a line (which looks at whole lines) sees exactly what it
    sees in one text."""

    __slots__ = ("_out", "_escapes", "_parts", "_size", "_flush_at", "_limit")

    def __init__(self, out: Callable[[str], object], escapes: dict[str, str] | None = None,
                 flush_at: int = 1 << 16) -> None:
        self._out = out
        self._escapes = escapes
        self._parts: list[str] = []
        self._size = 0
        self._flush_at = flush_at
        self._limit = flush_at

    def write(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= self._limit:
            self.flush(final=False)

    def flush(self, final: bool = True) -> None:
        """Send what is buffered (all of it when `final`, else up to the last line end)."""
        if not self._parts:
            return
        text = "".join(self._parts)
        self._parts.clear()
        if not final and self._escapes is not None:  # only the escape needs whole lines: without it a long
            # line is sent in pieces rather than gathered whole
            end = text.rfind("\n") + 1
            if end == 0:  # no line end yet (a long line): keep gathering, and look again once it has doubled
                self._parts.append(text)
                self._limit = self._size + max(self._flush_at, self._size)
                return
            text, rest = text[:end], text[end:]
            if rest:
                self._parts.append(rest)
        self._size = len(self._parts[0]) if self._parts else 0
        self._limit = self._flush_at
        if self._escapes is not None:
            from tpulint.render.escape import no_workflow_commands

            text = no_workflow_commands(text, self._escapes)
        self._out(text)


class Writer:
    """A format written model by model: `model(entry)` for each model of the run, in order, then `close(rules)`
    (the document's "rules"). An entry's "ops" may be tpulint.report.OpRows (built on each pass, never held).
    `count`: the number of models the run reports (known before the first is analysed)."""

    def __init__(self, options: RenderOptions, head: dict[str, Any], count: int, out: Sink) -> None:
        self.options = options
        self.head = head
        self.count = count
        self.out = out

    def model(self, m: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self, rules: dict[str, Any]) -> None:
        self.out.flush()


def open_writer(options: RenderOptions, head: dict[str, Any], count: int, write: Callable[[str], object],
                **kwargs: Any) -> Writer:
    """The Writer of `options.format`, sending its text to `write` in pieces (whole lines, escaped)."""
    module = importlib.import_module(f"tpulint.render.{FORMATS[options.format]}")
    factory = getattr(module, "Writer", None)
    sink = Sink(write, _COMMAND_ESCAPES.get(options.format))
    if factory is None:
        return _Whole(options, head, count, sink, module.render)
    writer: Writer = factory(options, head, count, sink, **kwargs)
    return writer


class _Whole(Writer):
    """A format rendered from the whole document at the end (one without a Writer of its own)."""

    def __init__(self, options: RenderOptions, head: dict[str, Any], count: int, out: Sink,
                 render_doc: Callable[..., str]) -> None:
        super().__init__(options, head, count, out)
        self.models: list[dict[str, Any]] = []
        self.render_doc = render_doc

    def model(self, m: dict[str, Any]) -> None:
        from tpulint.report import plain_entry

        self.models.append(plain_entry(m))

    def close(self, rules: dict[str, Any]) -> None:
        self.out.write(self.render_doc({**self.head, "models": self.models, "rules": rules}, self.options))
        self.out.flush()
