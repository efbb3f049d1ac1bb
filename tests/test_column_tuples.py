"""The column helpers: cut() and distinct() equal their plain numpy/Python definitions."""

from __future__ import annotations

import numpy as np
import pytest

from tpulint.column_tuples import cut, distinct


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32, np.int16])
@pytest.mark.parametrize("low,high", [(0, 5), (0, 4095), (0, 4096), (-3, 40), (0, 2 ** 15 - 1)])
def test_distinct_is_np_unique(dtype, low, high):
    rng = np.random.default_rng(7)
    if np.issubdtype(dtype, np.unsignedinteger):
        low = max(low, 0)
    values = rng.integers(low, high + 1, 5000).astype(dtype)
    got = distinct(values)
    assert got.tolist() == np.unique(values).tolist()


def test_distinct_of_wide_and_empty_arrays():
    wide = np.array([2 ** 40, 3, -2 ** 40, 3, 2 ** 40], np.int64)
    assert distinct(wide).tolist() == [-2 ** 40, 3, 2 ** 40]
    assert distinct(np.zeros(0, np.int32)).tolist() == []


def test_cut_is_the_slices_as_tuples():
    values = np.arange(10)
    offsets = np.array([0, 0, 3, 4, 4, 10])
    assert cut(values, offsets) == [(), (0, 1, 2), (3,), (), (4, 5, 6, 7, 8, 9)]
    assert cut(values, np.array([0])) == []
