"""JSON output: the wire document as is, valid JSON whatever bytes the model's names contain."""

from __future__ import annotations

import json
from typing import Any

# ensure_ascii keeps the output 7-bit; names were decoded with backslashreplace, so no lone surrogates exist.
# Without `indent` the encoder runs in C: `indent=2` made a 30,000-op report take seconds and ~380 MiB.
_compact = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": ")).encode


def render(doc: dict[str, Any], options: Any = None) -> str:
    """The document laid out for people and diffs: nesting indented, each op, finding or rule on one line."""
    return _layout(doc, 0) + "\n"


def _layout(value: Any, level: int) -> str:
    pad = "  " * (level + 1)
    if isinstance(value, dict) and value and level < 3:
        items = [f"{pad}{_compact(k)}: {_layout(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    if isinstance(value, list) and any(isinstance(x, (dict, list)) for x in value):
        return "[\n" + ",\n".join(pad + _layout(x, level + 1) for x in value) + "\n" + "  " * level + "]"
    return _compact(value)
