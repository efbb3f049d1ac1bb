"""JSON output: the wire document as is, valid JSON whatever bytes the model's names contain."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

# ensure_ascii keeps the output 7-bit; names were decoded with backslashreplace, so no lone surrogates exist.
# Without `indent` the encoder runs in C: `indent=2` made a 30,000-op report take seconds and ~380 MiB.
_encoder = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": "))


def _c_compact() -> Callable[[Any], str] | None:
    """JSONEncoder.encode rebuilds the C encoder for every value; build it once (one call per op line).

    `_json.make_encoder` is CPython's private accelerator: used only when it exists, accepts these
    arguments and gives exactly JSONEncoder.encode's output on a probe; otherwise the public encoder is used.
    """
    try:
        from _json import make_encoder

        # markers=None: no cycle check (a document is a tree; shared tensor dicts are not cycles)
        encode = make_encoder(None, _encoder.default, json.encoder.encode_basestring_ascii, None,
                              _encoder.key_separator, _encoder.item_separator, False, False, True)

        def compact(value: Any) -> str:
            return "".join(encode(value, 0))

        probe = {"a": [1, -2.5, None, True, "\x1b\u00e9\ud83d\ude00"], "b": {"c": "d"}}
        if compact(probe) == _encoder.encode(probe) and compact("x") == '"x"':
            return compact
    except Exception:  # pragma: no cover - another interpreter, or a changed private signature
        pass
    return None  # pragma: no cover


_compact: Callable[[Any], str] = _c_compact() or _encoder.encode


def indented(value: Any) -> str:
    """json.dumps(value, indent=2, ensure_ascii=True), joined in batches: dumps holds every one of the
    encoder's tiny chunks in one list first (about twelve times the text's size at 100,000 findings)."""
    parts: list[str] = []
    batch: list[str] = []
    for chunk in _indenter.iterencode(value):
        batch.append(chunk)
        if len(batch) >= 8192:
            parts.append("".join(batch))
            batch.clear()
    parts.append("".join(batch))
    return "".join(parts)


_indenter = json.JSONEncoder(ensure_ascii=True, indent=2)


def render(doc: dict[str, Any], options: Any = None) -> str:
    """The document laid out for people and diffs: nesting indented, each op, finding or rule on one line."""
    return _layout(doc, 0) + "\n"


def _layout(value: Any, level: int) -> str:
    pad = "  " * (level + 1)
    if isinstance(value, dict) and value and level < 3:
        items = [f"{pad}{_compact(k)}: {_layout(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    if isinstance(value, list) and any(isinstance(x, (dict, list)) for x in value):
        return "[\n" + ",\n".join(pad + _layout(x, level + 1) for x in value) + "\n" + "  " * level + "]"
    return _compact(value)


_MODEL_LEVEL = 2  # document -> "models" -> entry
_LONG_ITEM = 64  # list elements from which a one-line item is written value by value


def entry_text(entry: dict[str, Any]) -> str:
    """One model entry laid out as `render` lays it out inside the document (what a `-j` worker sends back)."""
    return _layout(entry, _MODEL_LEVEL)


def _lazy(value: Any) -> bool:
    """Rows built as they are iterated (tpulint.memory.StreamedLayerRows): a list to the document, not to the encoder."""
    return hasattr(value, "__len__") and hasattr(value, "__iter__") and not isinstance(value, (list, tuple, dict, str))


class Stream:
    """`render(doc)` written piece by piece, so a report never has to be held whole: the document's head,
    then each model entry as it is ready, then the rules. The bytes are exactly those of `render`.

    An entry is a dict, or the text `entry_text` made of one (in a worker process). A dict's values may be
    iterators of dicts, or tpulint.report.OpRows (streamed_entry's "ops"): each item is laid out and written as it
    comes; so is each streamed layer of its "memory" (tpulint.memory.StreamedLayerRows).
    """

    def __init__(self, head: dict[str, Any], write: Callable[[Any], object], binary: bool = False,
                 flush_at: int = 1 << 16) -> None:
        self._out = write  # takes str, or (binary) the UTF-8 bytes of the text -- ASCII, as the encoder escapes
        self._binary = binary
        self._parts: list[str] = []
        self._size = 0
        self._flush_at = flush_at
        self.count = 0
        self._write("{\n" + "".join(f"  {_compact(k)}: {_layout(v, 1)},\n" for k, v in head.items())
                    + f"  {_compact('models')}: ")

    def _write(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= self._flush_at:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            text = "".join(self._parts)
            self._out(text.encode() if self._binary else text)
            self._parts.clear()
            self._size = 0

    def entry(self, entry: "dict[str, Any] | str | bytes") -> None:
        """Write one model entry: a dict, or the text of one laid out by `entry_text` (str, or UTF-8 bytes)."""
        self._write("[\n    " if not self.count else ",\n    ")
        self.count += 1
        if isinstance(entry, bytes):  # a worker's laid-out entry: straight to the output, no copy
            self.flush()
            self._out(entry if self._binary else entry.decode())
            return
        if isinstance(entry, str):
            self._write(entry)
            return
        level = _MODEL_LEVEL
        pad = "  " * (level + 1)
        self._write("{\n")
        for n, (key, value) in enumerate(entry.items()):
            self._write((",\n" if n else "") + f"{pad}{_compact(key)}: ")
            if isinstance(value, Iterator) or hasattr(value, "at"):  # an iterator, or tpulint.report.OpRows
                self._items(iter(value), level + 1)
            elif isinstance(value, dict) and any(map(_lazy, value.values())):  # "memory" and its streamed layers
                self._one_line(value)
            else:
                self._write(_layout(value, level + 1))
        self._write("\n" + "  " * level + "}")

    def _items(self, items: Iterator[Any], level: int) -> None:
        """What _layout writes for a list of dicts or lists (the only kind an entry's iterators yield)."""
        pad = "  " * (level + 1)
        first = next(items, None)
        if first is None:
            self._write("[]")
            return
        self._write("[\n" + pad)
        self._item(first, level + 1, "")
        separator = ",\n" + pad
        for item in items:
            self._item(item, level + 1, separator)
        self._write("\n" + "  " * level + "]")

    def _item(self, item: Any, level: int, before: str) -> None:
        """`before` + _layout(item, level), the item written piece by piece when it is a large one-line dict (an
        op reading one tensor 4,000 times): the text is then never whole in memory, only each of its values."""
        if level >= 3 and type(item) is dict:  # one line: _layout is _compact
            listed = 0
            for value in item.values():
                if type(value) is list:
                    listed += len(value)
            if listed < _LONG_ITEM:
                self._write(before + _compact(item))
            else:
                self._write(before)
                self._one_line(item)
            return
        self._write(before + _layout(item, level))

    def _one_line(self, item: dict[str, Any]) -> None:
        """_compact(item) written value by value, its lists (or lazy rows) element by element."""
        self._write("{")
        for n, (key, value) in enumerate(item.items()):
            self._write((", " if n else "") + _compact(key) + ": ")
            if isinstance(value, list) or _lazy(value):  # _compact(list) is "[" + ", ".join(_compact(x)) + "]"
                self._write("[")
                for k, x in enumerate(value):
                    self._write((", " if k else "") + _compact(x))
                self._write("]")
            else:
                self._write(_compact(value))
        self._write("}")

    def close(self, rules: dict[str, Any]) -> None:
        self._write(("\n  ]" if self.count else "[]") + f",\n  {_compact('rules')}: {_layout(rules, 1)}\n}}\n")
        self.flush()
