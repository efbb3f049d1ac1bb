"""Read the values of small constant tensors (axis, stride, padding parameters) on demand."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

import numpy as np

if TYPE_CHECKING:
    from tpulint.model import Model, Tensor

_NUMPY = {"int32": "<i4", "int64": "<i8", "int16": "<i2", "int8": "i1", "uint8": "u1", "float32": "<f4"}
MAX_BYTES = 4096  # parameters only; weights are never read


class ConstantReader:
    """tpulint.model never reads buffer contents; the few rules that need parameter values read them here.

    A model parsed from memory is read from its bytes. A file is reopened when a rule first asks, and only
    if it still has the size it had when parsed; each value is then read at the buffer's offset (no mapping:
    a file truncated meanwhile gives a short read, not a crash). When a value cannot be read the rules that
    need it stay silent.
    """

    def __init__(self, model: Model) -> None:
        self.model = model
        self._file: BinaryIO | None = None
        self._failed = False

    def values(self, t: Tensor) -> np.ndarray | None:
        fmt = _NUMPY.get(t.dtype)
        offsets = self.model.buffer_offsets
        n = t.data_size
        if fmt is None or not n or n > MAX_BYTES or n % np.dtype(fmt).itemsize or t.buffer >= len(offsets):
            return None
        start = offsets[t.buffer]
        if not start:
            return None
        raw = self._read(start, n)
        return None if raw is None else np.frombuffer(raw, dtype=fmt)

    def _read(self, start: int, n: int) -> bytes | None:
        source = self.model.source
        if source is not None:
            raw = source[start:start + n]
        else:
            f = self._open()
            if f is None:
                return None
            try:
                f.seek(start)
                raw = f.read(n)
            except OSError:
                return None
        return bytes(raw) if len(raw) == n else None

    def _open(self) -> BinaryIO | None:
        """The model file, reopened once (tpulint.model.reopen); None when that fails."""
        if self._file is None and not self._failed:
            from tpulint.model import reopen

            try:
                self._file = reopen(self.model)
            except OSError:
                self._failed = True
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
