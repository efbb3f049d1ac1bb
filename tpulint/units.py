"""Byte sizes written the way the Edge TPU compiler prints them (COMPILER.md 4.1), for findings and reports."""

from __future__ import annotations


def size(n: float) -> str:
    """B, KiB or MiB with two decimals: "0.00B", "1.00KiB", "6.89MiB"."""
    if n < 1024:
        return f"{n:.2f}B"
    if n < 1024 * 1024:
        return f"{n / 1024:.2f}KiB"
    return f"{n / (1024 * 1024):.2f}MiB"
