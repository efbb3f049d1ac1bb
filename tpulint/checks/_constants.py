"""Read the values of small constant tensors (axis, stride, padding parameters) on demand."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, BinaryIO, Union

if TYPE_CHECKING:
    from tpulint.model import Model, Tensor

# Little-endian struct codes: the values come out as Python ints and floats, without numpy (an 85 ms import
# the JSON path otherwise never pays). float32 values widen to the same doubles numpy's tolist() gives.
_FORMATS = {"int32": "i", "int64": "q", "int16": "h", "int8": "b", "uint8": "B", "float32": "f"}
MAX_BYTES = 4096  # parameters only; weights are never read

Values = tuple[Union[int, float], ...]


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

    def values(self, t: Tensor) -> Values | None:
        """The tensor's values, flattened in storage order; None when they cannot (or need not) be read."""
        code = _FORMATS.get(t.dtype)
        offsets = self.model.buffer_offsets
        n = t.data_size
        if code is None or not n or n > MAX_BYTES or n % struct.calcsize(code) or t.buffer >= len(offsets):
            return None
        start = offsets[t.buffer]
        if not start:
            return None
        raw = self._read(start, n)
        return None if raw is None else struct.unpack(f"<{n // struct.calcsize(code)}{code}", raw)

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
