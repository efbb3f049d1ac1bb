"""Output formats: each renderer turns the plain JSON document (tpulint.report) into text; imported on demand."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

# format name -> module under tpulint.render providing `render(doc, options) -> str`
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


# Formats whose lines may start with a name or a path, and how they escape a character: a workflow command in
# a name must not reach the start of a line (JSON-based formats quote every string; `github` escapes its data).
_COMMAND_ESCAPES = {
    "concise": {":": "\\x3a", "#": "\\x23"}, "full": {":": "\\x3a", "#": "\\x23"},
    "markdown": {":": "&#58;", "#": "&#35;"}, "html": {":": "&#58;", "#": "&#35;"},
}


def render(doc: dict[str, Any], options: RenderOptions) -> str:
    module = importlib.import_module(f"tpulint.render.{FORMATS[options.format]}")
    text: str = module.render(doc, options)
    escapes = _COMMAND_ESCAPES.get(options.format)
    if escapes is not None:
        from tpulint.render.escape import no_workflow_commands

        text = no_workflow_commands(text, escapes)
    return text
