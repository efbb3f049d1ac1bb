"""Read the values of small constant tensors (axis, stride, padding parameters) on demand."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

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
        self._fd: int | None = None
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
            fd = self._open()
            if fd is None:
                return None
            try:
                os.lseek(fd, start, os.SEEK_SET)
                raw = os.read(fd, n)
            except OSError:
                return None
        return bytes(raw) if len(raw) == n else None

    def _open(self) -> int | None:
        """The model file, reopened once; None unless it is still a regular file of the size parsed."""
        if self._fd is None and not self._failed:
            self._failed = True
            from tpulint.model import open_nonblocking

            try:  # a FIFO put in the file's place must not hang the run
                fd = open_nonblocking(self.model.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            except OSError:
                return None
            try:
                info = os.fstat(fd)
                usable = stat.S_ISREG(info.st_mode) and info.st_size == self.model.file_size
            except OSError:
                usable = False
            if not usable:
                os.close(fd)
                return None
            self._fd, self._failed = fd, False
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
