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
    __slots__ = ("buf", "size", "what")

    def __init__(self, buf: Buffer, what: str) -> None:
        self.buf = buf
        self.size = len(buf)
        self.what = what

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
        end = bytes(self.buf[pos:min(self.size, pos + 256)]).find(b"\0")
        if end < 0:
            raise self.fail(f"key at {pos} is not terminated within 256 bytes")
        return bytes(self.buf[pos:pos + end]).decode("utf-8", "backslashreplace")

    def vector(self, pos: int, width: int, depth: int) -> list[Any]:
        count = self.counted(pos, width, width + 1)  # elements, then one type byte per element
        types = bytes(self.buf[pos + count * width:pos + count * width + count])
        return [self.value(pos + i * width, width, types[i], depth + 1) for i in range(count)]

    def typed(self, pos: int, width: int, element: int, count: int, depth: int) -> list[Any]:
        packed = (element << 2) | {1: 0, 2: 1, 4: 2, 8: 3}[width] if element != KEY else (KEY << 2)
        return [self.value(pos + i * width, width, packed, depth + 1) for i in range(count)]

    def map(self, pos: int, width: int, depth: int) -> dict[str, Any]:
        values = self.vector(pos, width, depth)
        keys_at = pos - 3 * width
        keys_pos = self.indirect(keys_at, width)
        keys_width = self.uint(pos - 2 * width, width)
        if keys_width not in (1, 2, 4, 8):
            raise self.fail(f"map at {pos} has bad key width {keys_width}")
        if self.counted(keys_pos, keys_width, keys_width) != len(values):
            raise self.fail(f"map at {pos} has {len(values)} values but a different number of keys")
        keys = [self.key(self.indirect(keys_pos + i * keys_width, keys_width)) for i in range(len(values))]
        return dict(zip(keys, values))


def loads(buf: Buffer, what: str = "FlexBuffer") -> Any:
    """Decode a whole FlexBuffer: maps become dicts, vectors lists, strings and blobs `Span`s (never copied)."""
    r = _Reader(buf, what)
    if r.size < 3:
        raise r.fail(f"only {r.size} bytes")
    root_width = r.uint(r.size - 1, 1)
    if root_width not in (1, 2, 4, 8):
        raise r.fail(f"bad root width {root_width}")
    packed = r.uint(r.size - 2, 1)
    return r.value(r.size - 2 - root_width, root_width, packed, 0)


__all__ = ["FlexBufferError", "Span", "loads"]
