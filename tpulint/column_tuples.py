"""Flat numpy columns cut into Python tuples in a few C-level calls (one zip per distinct length, not one per tuple)."""

from __future__ import annotations

from typing import Any

import numpy as np


def cut(values: np.ndarray, offsets: np.ndarray) -> list[tuple[Any, ...]]:
    """`[tuple(values[offsets[i]:offsets[i + 1]]) for i in range(len(offsets) - 1)]`, built per distinct length:
    the vectors of one length form a matrix whose columns zip into tuples, scattered back by index."""
    n = len(offsets) - 1
    if n <= 0:
        return []
    starts = offsets[:-1]
    counts = np.diff(offsets)
    lengths = np.unique(counts).tolist()
    if lengths == [0]:
        return [()] * n
    out = np.empty(n, dtype=object)
    for k in lengths:
        where = np.flatnonzero(counts == k) if len(lengths) > 1 else None
        first = starts[where] if where is not None else starts
        if k == 0:
            tuples: list[tuple[Any, ...]] = [()] * len(first)
        else:
            tuples = list(zip(*(values[first + j].tolist() for j in range(k))))
        column = np.fromiter(tuples, dtype=object, count=len(tuples))  # one object per tuple, not rows
        if where is None:
            out = column
        else:
            out[where] = column
    return out.tolist()  # type: ignore[no-any-return]
