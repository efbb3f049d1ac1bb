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
    quiet: bool = False  # the findings only: no per-model verdict lines, no run summary


def render(doc: dict[str, Any], options: RenderOptions) -> str:
    module = importlib.import_module(f"tpulint.render.{FORMATS[options.format]}")
    return module.render(doc, options)  # type: ignore[no-any-return]
