"""Bounds-checked reading of FlatBuffer tables: every offset and length is verified before it is followed."""

from __future__ import annotations

import struct

from tpulint.errors import ModelError

_U32 = struct.Struct("<I").unpack_from
_I32 = struct.Struct("<i").unpack_from
_U16 = struct.Struct("<H").unpack_from
_FORMAT_SIZES = {"?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "q": 8, "Q": 8, "f": 4, "d": 8}


class Table:
    """A decoded FlatBuffer table: its position and the field offsets of its vtable, read once."""

    __slots__ = ("buf", "pos", "fields")

    def __init__(self, buf: "Reader", pos: int, fields: tuple[int, ...]) -> None:
        self.buf = buf
        self.pos = pos
        self.fields = fields

    def offset(self, slot: int) -> int:
        """Absolute position of field `slot`, or 0 when the field is absent."""
        fields = self.fields
        if slot < len(fields) and fields[slot]:
            return self.pos + fields[slot]
        return 0

    def scalar(self, slot: int, fmt: str, default: object) -> object:
        at = self.offset(slot)
        if not at:
            return default
        return self.buf.scalar(at, fmt)

    def u32(self, slot: int, default: int = 0) -> int:
        at = self.offset(slot)
        return self.buf.u32(at) if at else default

    def i32(self, slot: int, default: int = 0) -> int:
        at = self.offset(slot)
        return self.buf.i32(at) if at else default

    def table(self, slot: int) -> "Table | None":
        at = self.offset(slot)
        return self.buf.table(self.buf.indirect(at)) if at else None

    def string(self, slot: int) -> str | None:
        at = self.offset(slot)
        return self.buf.string(self.buf.indirect(at)) if at else None

    def vector(self, slot: int, fmt: str) -> tuple:
        """A vector of scalars, unpacked in one call."""
        at = self.offset(slot)
        return self.buf.scalar_vector(self.buf.indirect(at), fmt) if at else ()

    def vector_length(self, slot: int, element_size: int = 1) -> int:
        at = self.offset(slot)
        if not at:
            return 0
        start, count = self.buf.vector_span(self.buf.indirect(at), element_size)
        return count

    def vector_span(self, slot: int, element_size: int = 1) -> tuple[int, int] | None:
        """(position of the first element, element count) of a vector field, or None when absent."""
        at = self.offset(slot)
        return self.buf.vector_span(self.buf.indirect(at), element_size) if at else None

    def tables(self, slot: int) -> list["Table"]:
        at = self.offset(slot)
        return self.buf.table_vector(self.buf.indirect(at)) if at else []

    def strings(self, slot: int) -> list[str]:
        at = self.offset(slot)
        if not at:
            return []
        start, count = self.buf.vector_span(self.buf.indirect(at), 4)
        return [self.buf.string(self.buf.indirect(start + 4 * i)) for i in range(count)]


class Reader:
    """A read-only byte buffer (usually an mmap) with checked accessors that raise ModelError."""

    __slots__ = ("data", "size", "what", "_vtables")

    def __init__(self, data: "bytes | memoryview", what: str = "model") -> None:
        self.data = data
        self.size = len(data)
        self.what = what
        self._vtables: dict[int, tuple[int, ...]] = {}

    def fail(self, message: str) -> ModelError:
        return ModelError(f"corrupt {self.what}: {message}")

    def check(self, pos: int, length: int) -> None:
        if pos < 0 or length < 0 or pos + length > self.size:
            raise self.fail(f"offset {pos}+{length} outside the {self.size}-byte buffer")

    def u32(self, pos: int) -> int:
        self.check(pos, 4)
        return _U32(self.data, pos)[0]

    def i32(self, pos: int) -> int:
        self.check(pos, 4)
        return _I32(self.data, pos)[0]

    def scalar(self, pos: int, fmt: str) -> object:
        self.check(pos, _FORMAT_SIZES[fmt])
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def indirect(self, pos: int) -> int:
        """Follow the uoffset stored at `pos`."""
        target = pos + self.u32(pos)
        if target >= self.size:
            raise self.fail(f"offset at {pos} points past the end")
        return target

    def root(self) -> "Table":
        return self.table(self.indirect(0))

    def table(self, pos: int) -> Table:
        self.check(pos, 4)
        vt = pos - _I32(self.data, pos)[0]
        fields = self._vtables.get(vt)
        if fields is None:
            fields = self._decode_vtable(vt)
        # Each field must lie inside the buffer; checked lazily by the scalar readers.
        return Table(self, pos, fields)

    def _decode_vtable(self, vt: int) -> tuple[int, ...]:
        self.check(vt, 4)
        vt_size, table_size = struct.unpack_from("<HH", self.data, vt)
        if vt_size < 4 or vt_size % 2:
            raise self.fail(f"vtable at {vt} has bad size {vt_size}")
        self.check(vt, vt_size)
        fields = struct.unpack_from(f"<{(vt_size - 4) // 2}H", self.data, vt + 4)
        self._vtables[vt] = fields
        return fields

    def vector_span(self, pos: int, element_size: int) -> tuple[int, int]:
        count = self.u32(pos)
        start = pos + 4
        if count * element_size > self.size - start:
            raise self.fail(f"vector at {pos} claims {count} elements past the end of the buffer")
        return start, count

    def scalar_vector(self, pos: int, fmt: str) -> tuple:
        start, count = self.vector_span(pos, _FORMAT_SIZES[fmt])
        if count == 0:
            return ()
        return struct.unpack_from(f"<{count}{fmt}", self.data, start)

    def table_vector(self, pos: int) -> list[Table]:
        start, count = self.vector_span(pos, 4)
        if count == 0:
            return []
        offsets = struct.unpack_from(f"<{count}I", self.data, start)
        size = self.size
        table = self.table
        out = []
        for i, rel in enumerate(offsets):
            at = start + 4 * i + rel
            if at >= size:
                raise self.fail(f"table {i} of vector at {pos} points past the end")
            out.append(table(at))
        return out

    def string(self, pos: int) -> str:
        start, count = self.vector_span(pos, 1)
        raw = bytes(self.data[start:start + count])
        return raw.decode("utf-8", errors="backslashreplace")

    def bytes_at(self, start: int, count: int) -> bytes:
        self.check(start, count)
        return bytes(self.data[start:start + count])


def read_fields(table: Table, layout: tuple[tuple[str, int, str, object], ...]) -> dict[str, object]:
    """Decode the scalar and scalar-vector fields listed in `layout` (see tpulint._schema.OPTION_LAYOUTS)."""
    out: dict[str, object] = {}
    for name, slot, fmt, default in layout:
        if fmt.startswith("vec:"):
            out[name] = table.vector(slot, fmt[4:])
        else:
            out[name] = table.scalar(slot, fmt, default)
    return out


