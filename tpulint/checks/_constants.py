"""Read the values of small constant tensors (axis, stride, padding parameters) from the model file on demand."""

from __future__ import annotations

import mmap
import os
from typing import TYPE_CHECKING

import numpy as np

from tpulint.errors import ModelError
from tpulint.flatbuf import Reader

if TYPE_CHECKING:
    from tpulint.model import Model, Tensor

_NUMPY = {"int32": "<i4", "int64": "<i8", "int16": "<i2", "int8": "i1", "uint8": "u1", "float32": "<f4"}
MAX_BYTES = 4096  # parameters only; weights are never read


class ConstantReader:
    """tpulint.model never reads buffer contents; the few rules that need parameter values read them here.

    The file is reopened only when a rule asks, and only if it still has the size it had when parsed. Models
    held in memory (no file) have no readable constants: the rules that need them then stay silent.
    """

    def __init__(self, model: Model) -> None:
        self.model = model
        self._spans: list[tuple[int, int] | None] | None = None
        self._data: bytes | mmap.mmap | None = None
        self._failed = False

    def values(self, t: Tensor) -> np.ndarray | None:
        fmt = _NUMPY.get(t.dtype)
        if fmt is None or not t.data_size or t.data_size > MAX_BYTES or not self._open():
            return None
        assert self._spans is not None and self._data is not None
        span = self._spans[t.buffer] if t.buffer < len(self._spans) else None
        if span is None or span[1] != t.data_size:
            return None
        raw = bytes(self._data[span[0]:span[0] + span[1]])
        if len(raw) % np.dtype(fmt).itemsize:
            return None
        return np.frombuffer(raw, dtype=fmt)

    def _open(self) -> bool:
        if self._spans is not None:
            return True
        if self._failed:
            return False
        self._failed = True
        try:
            if not os.path.isfile(self.model.path) or os.path.getsize(self.model.path) != self.model.file_size:
                return False
            with open(self.model.path, "rb") as f:
                data: bytes | mmap.mmap = f.read() if self.model.file_size < (1 << 20) else \
                    mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            spans = []
            for t in Reader(data, "model").root().tables(4):  # type: ignore[arg-type]  # mmap is a buffer
                spans.append(t.vector_span(0, 1))
        except (OSError, ModelError, ValueError):
            return False
        self._data, self._spans, self._failed = data, spans, False
        return True
