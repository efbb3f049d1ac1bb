"""Bounds-checked reading of FlatBuffer tables: every offset, vtable and vector length is verified before use."""

from __future__ import annotations

import os
import struct
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Callable

from tpulint.errors import ModelError

if TYPE_CHECKING:
    import mmap

_U32 = struct.Struct("<I").unpack_from
_I32 = struct.Struct("<i").unpack_from
_U16 = struct.Struct("<H").unpack_from
_HH = struct.Struct("<HH").unpack_from
_FORMAT_SIZES = {"?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "q": 8, "Q": 8, "f": 4, "d": 8}
_VECTOR_STRUCTS: dict[tuple[str, int], Callable] = {}
_SHARED_PLANS: dict[tuple["Layout", Any], tuple] = {}  # keyed by the raw vtable bytes

COLD_FILE_SIZE = 16 << 20  # files larger than this read their weight-sized regions with pread (Reader.cold)
COLD_WINDOW = 64 << 10  # bytes read by one such pread
COLD_WINDOWS = 4  # the windows kept
OFFSET = "o"  # a Layout code: a uoffset (table, vector or string); decoded as the relative offset, 0 when absent

# Work allowed beyond the file size: a valid FlatBuffer stores each vector once, so decoding every vector of
# it touches at most `size` bytes; a hostile file that points thousands of fields at one huge vector does not.
_BUDGET_SLACK = 1 << 16


def _vector_struct(fmt: str, count: int) -> Callable:
    key = (fmt, count)
    unpack = _VECTOR_STRUCTS.get(key)
    if unpack is None:
        unpack = struct.Struct(f"<{count}{fmt}").unpack_from
        if count <= 64:  # keep the cache small: long vectors are rare
            _VECTOR_STRUCTS[key] = unpack
    return unpack


class Layout:
    """The fields of one table type to decode in a single `struct` call: ((slot, code), ...) and their defaults.

    `code` is a struct format character for scalars, or OFFSET for a table/vector/string field.
    """

    __slots__ = ("slots", "codes", "defaults", "name")

    def __init__(self, name: str, fields: tuple[tuple[int, str, object], ...]) -> None:
        self.name = name
        self.slots = tuple(f[0] for f in fields)
        self.codes = tuple(f[1] for f in fields)
        self.defaults = tuple(0 if f[1] == OFFSET else f[2] for f in fields)


# How to decode the tables that share one vtable under one Layout, as a plain tuple for fast unpacking:
# (unpack, table_size, field_offsets, pick, defaults). `pick(unpack(data, pos) + defaults)` gives the Layout's
# values in Layout order (defaults for absent fields); an OFFSET field comes back relative to its own
# position, `pos + field_offsets[i]`. Callers check `pos + table_size <= size` before unpacking.
Plan = tuple


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
    """A read-only byte buffer (usually an mmap) with checked accessors that raise ModelError.

    Two interfaces: `Table` objects for convenience, and `Layout`/`Plan` decoding for hot loops (one struct
    call per table, vtables decoded once per distinct vtable). Both verify like the FlatBuffers C++
    verifier: vtable and table inside the buffer, every field inside its table, every offset, vector and
    string inside the buffer; on top of that the total decoded vector length is bounded by the file size.
    """

    __slots__ = ("data", "size", "what", "budget", "fd", "_vtables", "_plans", "_windows")

    def __init__(self, data: "bytes | memoryview | mmap.mmap", what: str = "model", fd: int | None = None) -> None:
        self.data = data
        self.size = len(data)
        self.what = what
        # Large files: weight-sized data is read with pread (see `cold`) where there is one (not on Windows);
        # small ones are read whole.
        self.fd = fd if fd is not None and self.size > COLD_FILE_SIZE and hasattr(os, "pread") else None
        self.budget = self.size + _BUDGET_SLACK
        self._vtables: dict[int, tuple[int, ...]] = {}
        self._plans: dict[Layout, dict[int, Plan]] = {}
        self._windows: list[tuple[int, bytes]] = []  # (position, bytes) of the last `cold` reads, latest first

    def fail(self, message: str) -> ModelError:
        return ModelError(f"corrupt {self.what}: {message}")

    def check(self, pos: int, length: int) -> None:
        if pos < 0 or length < 0 or pos + length > self.size:
            raise self.fail(f"offset {pos}+{length} outside the {self.size}-byte buffer")

    def u32(self, pos: int) -> int:
        self.check(pos, 4)
        return _U32(self.data, pos)[0]  # type: ignore[no-any-return]

    def i32(self, pos: int) -> int:
        self.check(pos, 4)
        return _I32(self.data, pos)[0]  # type: ignore[no-any-return]

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
        vt_size, table_size = _HH(self.data, vt)
        if vt_size < 4 or vt_size % 2:
            raise self.fail(f"vtable at {vt} has bad size {vt_size}")
        self.check(vt, vt_size)
        fields = struct.unpack_from(f"<{(vt_size - 4) // 2}H", self.data, vt + 4)
        self._vtables[vt] = fields
        return fields

    # --- Layout/Plan decoding (hot loops) -------------------------------------------------------

    def plans(self, layout: Layout) -> dict[int, Plan]:
        """The plan cache of `layout` (vtable position -> Plan); look up `cache.get(vt) or reader.plan(vt, layout)`."""
        cache = self._plans.get(layout)
        if cache is None:
            cache = self._plans[layout] = {}
        return cache

    def plan(self, vt: int, layout: Layout) -> Plan:
        """Validate the vtable at `vt` for `layout` and build the single-call decoder of its tables."""
        if vt < 0 or vt > self.size - 4:
            raise self.fail(f"vtable at {vt} outside the {self.size}-byte buffer")
        fields = self._vtables.get(vt)
        if fields is None:
            fields = self._decode_vtable(vt)
        # A plan depends only on the vtable's bytes: share it across files (many models, one process).
        key = (layout, self.data[vt:vt + 4 + 2 * len(fields)])
        p = _SHARED_PLANS.get(key)
        if p is None:
            p = self._build_plan(vt, fields, layout)
            if len(_SHARED_PLANS) < 4096:
                _SHARED_PLANS[key] = p
        self.plans(layout)[vt] = p
        return p

    def _build_plan(self, vt: int, fields: tuple[int, ...], layout: Layout) -> Plan:
        table_size = _HH(self.data, vt)[1]
        if table_size < 4:
            raise self.fail(f"vtable at {vt} declares a {table_size}-byte table")
        present = []  # (field offset, layout index, size)
        field_offsets = []
        for i, (slot, code) in enumerate(zip(layout.slots, layout.codes)):
            fo = fields[slot] if slot < len(fields) else 0
            width = 4 if code == OFFSET else _FORMAT_SIZES[code]
            if fo:
                if fo < 4 or fo + width > table_size:
                    raise self.fail(f"{layout.name} field {slot} at offset {fo} lies outside its {table_size}-byte table")
                present.append((fo, i, width, "I" if code == OFFSET else code))
            field_offsets.append(fo)
        present.sort()
        fmt = ["<"]
        cursor = 0
        for fo, _, width, code in present:
            if fo < cursor:
                raise self.fail(f"{layout.name} fields overlap in the vtable at {vt}")
            if fo > cursor:
                fmt.append(f"{fo - cursor}x")
            fmt.append(code)
            cursor = fo + width
        # Output order: layout order, taking absent fields from the defaults appended after the present ones.
        n_present = len(present)
        where = {i: k for k, (_, i, _, _) in enumerate(present)}
        absent_at = n_present
        order = []
        for i in range(len(layout.slots)):
            if i in where:
                order.append(where[i])
            else:
                order.append(absent_at + i)
        pick = itemgetter(*order) if len(order) > 1 else (lambda t, _k=order[0]: (t[_k],)) if order else (lambda t: ())
        return (struct.Struct("".join(fmt)).unpack_from, table_size, tuple(field_offsets), pick, layout.defaults)

    def decode(self, pos: int, layout: Layout) -> tuple[tuple, tuple[int, ...]]:
        """(values in layout order, field offsets) of the table at `pos`: the convenient, slower form."""
        if pos < 0 or pos > self.size - 4:
            raise self.fail(f"table at {pos} outside the {self.size}-byte buffer")
        vt = pos - _I32(self.data, pos)[0]
        unpack, table_size, field_offsets, pick, defaults = self.plans(layout).get(vt) or self.plan(vt, layout)
        if pos + table_size > self.size:
            raise self.fail(f"{layout.name} table at {pos} runs past the end of the buffer")
        return pick(unpack(self.data, pos) + defaults), field_offsets

    def table_positions(self, pos: int) -> list[int]:
        """Absolute positions of the tables of the vector of tables at `pos` (each checked to lie in the buffer)."""
        size = self.size
        if pos < 0 or pos > size - 4:
            raise self.fail(f"vector at {pos} outside the {size}-byte buffer")
        count = _U32(self.data, pos)[0]
        start = pos + 4
        if count > (size - start) >> 2:
            raise self.fail(f"vector at {pos} claims {count} tables, past the end of the {size}-byte buffer")
        if not count:
            return []
        rel = _vector_struct("I", count)(self.data, start)
        out = [start + 4 * i + r for i, r in enumerate(rel)]
        if max(out) > size - 4:
            raise self.fail(f"a table of the vector at {pos} lies past the end of the {size}-byte buffer")
        return out

    def vector(self, pos: int, fmt: str) -> tuple:
        """The scalars of the vector at `pos`, unpacked in one call (bounds- and budget-checked)."""
        size = self.size
        if pos < 0 or pos > size - 4:
            raise self.fail(f"vector at {pos} outside the {size}-byte buffer")
        count = _U32(self.data, pos)[0]
        if count * _FORMAT_SIZES[fmt] > size - pos - 4:
            raise self.fail(f"vector at {pos} claims {count} elements, past the end of the {size}-byte buffer")
        if not count:
            return ()
        self.budget -= count
        if self.budget < 0:
            raise self.fail("vectors overlap: decoding them would read more than the whole file")
        return _vector_struct(fmt, count)(self.data, pos + 4)  # type: ignore[no-any-return]

    def length(self, pos: int, element_size: int, cold: bool = False) -> int:
        """The element count of the vector at `pos`, checked against the buffer, without reading the elements.

        `cold`: the vector is large data nobody reads (weights): with a file, read its count with pread
        rather than through the mapping, since a page fault maps a whole (possibly 2 MiB) page-cache folio
        into the process -- 25 weight buffers would add 50 MiB to the peak RSS for 100 bytes read.
        """
        size = self.size
        if pos < 0 or pos > size - 4:
            raise self.fail(f"vector at {pos} outside the {size}-byte buffer")
        count = _U32(self.cold(pos, 4) if cold else self.data, 0 if cold else pos)[0]
        if count * element_size > size - pos - 4:
            raise self.fail(f"vector at {pos} claims {count} elements, past the end of the {size}-byte buffer")
        return count  # type: ignore[no-any-return]

    def cold(self, pos: int, length: int) -> "bytes | memoryview":
        """The bytes at [pos, pos + length) (checked), read without mapping them when they sit among weights.

        A page fault maps a whole page-cache folio (up to 2 MiB) into the process: reading the 25 small
        Buffer tables of a 100 MB model through the mapping adds 50 MiB to the peak RSS. For files over
        COLD_FILE_SIZE, those reads go through pread instead.
        """
        if self.fd is None:
            if pos < 0 or length < 0 or pos + length > self.size:
                raise self.fail(f"offset {pos}+{length} outside the {self.size}-byte buffer")
            return self.data[pos:pos + length]
        at, window = self.cold_window(pos, length)
        return window[pos - at:pos - at + length]

    def cold_window(self, pos: int, length: int) -> tuple[int, bytes]:
        """(file position, bytes) of a window of heap bytes that holds [pos, pos + length) (checked), for a
        file (`fd`): read with pread, or one of the last windows read.

        One pread fills a COLD_WINDOW, from which the next reads are served: the Buffer tables of a model with
        many small weights lie close together (a 100,000-op chain has 133,000 of them, 400,000 reads that took
        a third of its parse one pread each). A table's fields and its data vector can lie megabytes apart,
        and a FlatBuffer builder (writing back to front) lays tables out at decreasing positions: the last few
        windows are kept, each read centred on the position that missed.
        """
        if pos < 0 or length < 0 or pos + length > self.size:
            raise self.fail(f"offset {pos}+{length} outside the {self.size}-byte buffer")
        assert self.fd is not None
        windows = self._windows
        for k, (at, window) in enumerate(windows):
            offset = pos - at
            if 0 <= offset and offset + length <= len(window):
                if k:
                    windows.insert(0, windows.pop(k))
                return at, window
        at = max(0, pos - COLD_WINDOW // 2)
        window = os.pread(self.fd, max(pos + length - at, COLD_WINDOW), at)
        if len(window) < pos - at + length:
            raise ModelError("the file changed while it was read")
        windows.insert(0, (at, window))
        del windows[COLD_WINDOWS:]
        return at, window

    def text(self, pos: int) -> str:
        """The string at `pos`; bytes that are not UTF-8 become backslash escapes (so any name is printable)."""
        size = self.size
        if pos < 0 or pos > size - 4:
            raise self.fail(f"string at {pos} outside the {size}-byte buffer")
        count = _U32(self.data, pos)[0]
        start = pos + 4
        if count > size - start:
            raise self.fail(f"string at {pos} claims {count} bytes, past the end of the {size}-byte buffer")
        self.budget -= count
        if self.budget < 0:
            raise self.fail("strings overlap: decoding them would read more than the whole file")
        return str(self.data[start:start + count], "utf-8", "backslashreplace")

    # --- Table interface helpers ----------------------------------------------------------------

    def vector_span(self, pos: int, element_size: int) -> tuple[int, int]:
        count = self.u32(pos)
        start = pos + 4
        if count * element_size > self.size - start:
            raise self.fail(f"vector at {pos} claims {count} elements past the end of the buffer")
        return start, count

    def scalar_vector(self, pos: int, fmt: str) -> tuple:
        return self.vector(pos, fmt)

    def table_vector(self, pos: int) -> list[Table]:
        table = self.table
        return [table(at) for at in self.table_positions(pos)]

    def string(self, pos: int) -> str:
        return self.text(pos)

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
