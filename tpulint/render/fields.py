"""Presentation helpers shared by the renderers: verdicts, sizes, and generic key/value views of optional panels."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Optional per-model panels the report may carry (dicts filled by the compiled-model and memory analyses).
PANELS = (("compiled_info", "Compiled model"), ("memory", "On-chip memory"))


def size(n: float) -> str:
    """Bytes in the compiler's own units: B, KiB or MiB with two decimals (COMPILER.md 4.1)."""
    if n < 1024:
        return f"{n:.2f}B"
    if n < 1024 * 1024:
        return f"{n / 1024:.2f}KiB"
    return f"{n / (1024 * 1024):.2f}MiB"


def verdict(m: dict[str, Any]) -> str:
    """One line saying what the compiler will do with the model."""
    if m["error"] is not None:
        return f"not analysed: {m['error']['message']}"
    s = m["summary"]
    if not m["compilable"]:
        head = "will NOT compile"
    elif s["ops"] and s["tpu_ops"] == s["ops"]:
        head = "fully mapped"
    elif s["tpu_ops"] == 0:
        head = "nothing maps"
    else:
        head = "partially mapped"
    return (f"{s['tpu_ops']}/{s['ops']} ops on the Edge TPU, {s['cpu_ops']} on the CPU, "
            f"{s['tpu_subgraphs']} Edge TPU subgraph{'' if s['tpu_subgraphs'] == 1 else 's'}; {head}")


def label(key: str) -> str:
    return key.replace("_", " ").capitalize()


def value(key: str, v: Any) -> str:
    """A scalar or a short list as text; byte counts get the compiler's units too."""
    if isinstance(v, bool) or v is None:
        return {True: "yes", False: "no", None: "-"}[v]
    if isinstance(v, (int, float)) and key.endswith("bytes"):
        return f"{size(v)} ({v:,} B)"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        if all(not isinstance(x, (dict, list)) for x in v):
            return ", ".join(str(x) for x in v) or "-"
        return "; ".join(", ".join(f"{k}={_short(x)}" for k, x in item.items()) if isinstance(item, dict)
                         else _short(item) for item in v) or "-"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_short(x)}" for k, x in v.items())
    return str(v)


def _short(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ",".join(str(x) for x in v) + "]"
    return str(v)


def panel_rows(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(label, text) rows of a panel dict; nested dicts are flattened one level ("Largest activation: name")."""
    for key, v in data.items():
        if isinstance(v, dict) and v and all(not isinstance(x, (dict, list)) for x in v.values()):
            yield from panel_rows(v, prefix=f"{prefix}{label(key)}: ")
        else:
            yield f"{prefix}{label(key) if not prefix else key.replace('_', ' ')}", value(key, v)
