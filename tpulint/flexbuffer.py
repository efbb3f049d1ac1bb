"""A small bounds-checked FlexBuffer reader (custom-op options); strings and blobs come back as unread byte spans."""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from typing import Any, Union

from tpulint.errors import ModelError

# FlexBuffer value types (flatbuffers/flexbuffers.h).
NULL, INT, UINT, FLOAT, KEY, STRING = 0, 1, 2, 3, 4, 5
INDIRECT_INT, INDIRECT_UINT, INDIRECT_FLOAT = 6, 7, 8
MAP, VECTOR = 9, 10
VECTOR_INT, VECTOR_UINT, VECTOR_FLOAT, VECTOR_KEY, VECTOR_STRING_DEPRECATED = 11, 12, 13, 14, 15
VECTOR_INT2, VECTOR_FLOAT4 = 16, 24
BLOB, BOOL, VECTOR_BOOL = 25, 26, 36

MAX_DEPTH = 16
_INT_FORMATS = {1: "b", 2: "h", 4: "i", 8: "q"}
_UINT_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}
_FLOAT_FORMATS = {4: "f", 8: "d"}
_TYPED_ELEMENT = {VECTOR_INT: INT, VECTOR_UINT: UINT, VECTOR_FLOAT: FLOAT, VECTOR_KEY: KEY,
                  VECTOR_STRING_DEPRECATED: STRING, VECTOR_BOOL: BOOL}

Buffer = Union[bytes, bytearray, memoryview, mmap.mmap]


class FlexBufferError(ModelError):
    """The bytes are not a well-formed FlexBuffer (an offset or length points outside them)."""


@dataclass(frozen=True, slots=True)
class Span:
    """A string or blob inside the buffer, located but not copied: `start` and `length` in bytes."""

    kind: str  # "string" or "blob"
    start: int
    length: int

    def read(self, buf: Buffer, limit: int | None = None) -> bytes:
        """The bytes themselves (at most `limit` of them)."""
        n = self.length if limit is None else min(self.length, limit)
        return bytes(buf[self.start:self.start + n])

    def text(self, buf: Buffer, limit: int = 4096) -> str:
        return self.read(buf, limit).decode("utf-8", "backslashreplace")


class _Reader:
    __slots__ = ("buf", "size", "what", "budget", "keys")

    def __init__(self, buf: Buffer, what: str) -> None:
        self.buf = buf
        self.size = len(buf)
        self.what = what
        # Every value and key takes at least a byte of its own, so a well-formed buffer never decodes to more
        # of them than it has bytes; vectors that share a child (a DAG) would, exponentially in the depth.
        self.budget = self.size
        self.keys: dict[int, str] = {}  # maps share key vectors: each key string is decoded once

    def spend(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise self.fail(f"decodes to more values than its {self.size} bytes can hold (shared sub-vectors)")

    def fail(self, message: str) -> FlexBufferError:
        return FlexBufferError(f"corrupt {self.what}: {message}")

    def check(self, pos: int, length: int) -> None:
        if pos < 0 or length < 0 or pos + length > self.size:
            raise self.fail(f"offset {pos}+{length} outside the {self.size}-byte buffer")

    def number(self, pos: int, width: int, formats: dict[int, str]) -> Any:
        fmt = formats.get(width)
        if fmt is None:
            raise self.fail(f"bad scalar width {width} at {pos}")
        self.check(pos, width)
        return struct.unpack_from("<" + fmt, self.buf, pos)[0]

    def uint(self, pos: int, width: int) -> int:
        return int(self.number(pos, width, _UINT_FORMATS))

    def indirect(self, pos: int, width: int) -> int:
        """Offsets in a FlexBuffer point backwards: target = pos - stored offset."""
        target = pos - self.uint(pos, width)
        if target < 0 or target >= self.size:
            raise self.fail(f"offset at {pos} points outside the buffer")
        return target

    def counted(self, pos: int, width: int, element_width: int) -> int:
        """Element count stored just before a vector/string/blob, checked against the buffer size."""
        count = self.uint(pos - width, width)
        if count * element_width > self.size - pos:
            raise self.fail(f"length {count} at {pos} runs past the end of the buffer")
        return count

    def value(self, pos: int, parent_width: int, packed: int, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH} levels")
        self.spend()
        kind, width = packed >> 2, 1 << (packed & 3)
        if kind == NULL:
            return None
        if kind == INT:
            return int(self.number(pos, parent_width, _INT_FORMATS))
        if kind == UINT:
            return self.uint(pos, parent_width)
        if kind == FLOAT:
            return float(self.number(pos, parent_width, _FLOAT_FORMATS))
        if kind == BOOL:
            return bool(self.uint(pos, parent_width))
        target = self.indirect(pos, parent_width)
        if kind == INDIRECT_INT:
            return int(self.number(target, width, _INT_FORMATS))
        if kind == INDIRECT_UINT:
            return self.uint(target, width)
        if kind == INDIRECT_FLOAT:
            return float(self.number(target, width, _FLOAT_FORMATS))
        if kind == KEY:
            return self.key(target)
        if kind in (STRING, BLOB):
            count = self.counted(target, width, 1)
            return Span("string" if kind == STRING else "blob", target, count)
        if kind == MAP:
            return self.map(target, width, depth)
        if kind == VECTOR:
            return self.vector(target, width, depth)
        if kind in _TYPED_ELEMENT:
            count = self.counted(target, width, width)
            return self.typed(target, width, _TYPED_ELEMENT[kind], count, depth)
        if VECTOR_INT2 <= kind <= VECTOR_FLOAT4:
            count = (kind - VECTOR_INT2) // 3 + 2
            self.check(target, count * width)
            return self.typed(target, width, (kind - VECTOR_INT2) % 3 + INT, count, depth)
        raise self.fail(f"unknown value type {kind} at {pos}")

    def key(self, pos: int) -> str:
        self.spend()
        known = self.keys.get(pos)
        if known is not None:
            return known
        end = bytes(self.buf[pos:min(self.size, pos + 256)]).find(b"\0")
        if end < 0:
            raise self.fail(f"key at {pos} is not terminated within 256 bytes")
        key = self.keys[pos] = bytes(self.buf[pos:pos + end]).decode("utf-8", "backslashreplace")
        return key

    def vector(self, pos: int, width: int, depth: int) -> list[Any]:
        count = self.counted(pos, width, width + 1)  # elements, then one type byte per element
        types = bytes(self.buf[pos + count * width:pos + count * width + count])
        return [self.value(pos + i * width, width, types[i], depth + 1) for i in range(count)]

    def map_keys(self, pos: int, width: int) -> tuple[int, int, int]:
        """(position, width, count) of the keys vector of the map at `pos`, checked."""
        count = self.counted(pos, width, width + 1)
        keys_pos = self.indirect(pos - 3 * width, width)
        keys_width = self.uint(pos - 2 * width, width)
        if keys_width not in (1, 2, 4, 8):
            raise self.fail(f"map at {pos} has bad key width {keys_width}")
        if self.counted(keys_pos, keys_width, keys_width) != count:
            raise self.fail(f"map at {pos} has {count} values but a different number of keys")
        return keys_pos, keys_width, count

    def lookup(self, pos: int, width: int, key: str) -> Any:
        """The value under `key` in the map at `pos`, found by binary search over its sorted keys (as
        flexbuffers::Map does); _MISSING when absent. Costs O(log n) whatever the size of the map."""
        keys_pos, keys_width, count = self.map_keys(pos, width)
        wanted = key.encode()
        lo, hi = 0, count
        while lo < hi:
            mid = (lo + hi) // 2
            found = self.key(self.indirect(keys_pos + mid * keys_width, keys_width)).encode()
            if found < wanted:
                lo = mid + 1
            elif found > wanted:
                hi = mid
            else:
                return self.value(pos + mid * width, width, self.uint(pos + count * width + mid, 1), 1)
        return _MISSING

    def typed(self, pos: int, width: int, element: int, count: int, depth: int) -> list[Any]:
        packed = (element << 2) | {1: 0, 2: 1, 4: 2, 8: 3}[width] if element != KEY else (KEY << 2)
        return [self.value(pos + i * width, width, packed, depth + 1) for i in range(count)]

    def map(self, pos: int, width: int, depth: int) -> dict[str, Any]:
        keys_pos, keys_width, count = self.map_keys(pos, width)
        values = self.vector(pos, width, depth)
        keys = [self.key(self.indirect(keys_pos + i * keys_width, keys_width)) for i in range(count)]
        return dict(zip(keys, values))

    def root(self) -> tuple[int, int, int]:
        """(position, width, packed type) of the root value, stored at the end of the buffer."""
        if self.size < 3:
            raise self.fail(f"only {self.size} bytes")
        root_width = self.uint(self.size - 1, 1)
        if root_width not in (1, 2, 4, 8):
            raise self.fail(f"bad root width {root_width}")
        return self.size - 2 - root_width, root_width, self.uint(self.size - 2, 1)


_MISSING = object()


def loads(buf: Buffer, what: str = "FlexBuffer") -> Any:
    """Decode a whole FlexBuffer: maps become dicts, vectors lists, strings and blobs `Span`s (never copied).

    The work and the output are bounded by the buffer's size, however its vectors share children."""
    r = _Reader(buf, what)
    return r.value(*r.root(), 0)


def lookup(buf: Buffer, keys: tuple[str, ...], what: str = "FlexBuffer") -> dict[str, Any] | None:
    """The values of `keys` in a FlexBuffer whose root is a map (only those are decoded); None when the root
    is not a map. A map of millions of entries costs a few binary searches."""
    r = _Reader(buf, what)
    pos, width, packed = r.root()
    if packed >> 2 != MAP:
        return None
    r.spend()
    at = r.indirect(pos, width)
    found = ((key, r.lookup(at, 1 << (packed & 3), key)) for key in keys)
    return {key: value for key, value in found if value is not _MISSING}


__all__ = ["FlexBufferError", "Span", "loads", "lookup"]
