"""JSON output: the wire document as is, valid JSON whatever bytes the model's names contain."""

from __future__ import annotations

import json
from typing import Any


def render(doc: dict[str, Any], options: Any = None) -> str:
    # ensure_ascii keeps the output 7-bit; names were decoded with backslashreplace, so no lone surrogates exist.
    return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"
