"""Where the TFLite schema fields tpulint reads sit in their tables: one Layout per table type, and the options tables."""

from __future__ import annotations

from tpulint import _schema
from tpulint.flatbuf import OFFSET, Layout

# Table layouts of the TFLite schema fields tpulint reads: (vtable slot, struct code or OFFSET, default).
MODEL = Layout("Model", ((0, "I", 0), (1, OFFSET, 0), (2, OFFSET, 0), (3, OFFSET, 0), (4, OFFSET, 0),
                          (6, OFFSET, 0), (7, OFFSET, 0)))
OPCODE = Layout("OperatorCode", ((0, "b", 0), (1, OFFSET, 0), (2, "i", 1), (3, "i", 0)))
BUFFER = Layout("Buffer", ((0, OFFSET, 0), (2, "Q", 0)))
SUBGRAPH = Layout("SubGraph", ((0, OFFSET, 0), (1, OFFSET, 0), (2, OFFSET, 0), (3, OFFSET, 0), (4, OFFSET, 0)))
TENSOR = Layout("Tensor", ((0, OFFSET, 0), (1, "b", 0), (2, "I", 0), (3, OFFSET, 0), (4, OFFSET, 0),
                            (5, "?", False), (7, OFFSET, 0)))
QUANT = Layout("QuantizationParameters", ((2, OFFSET, 0), (3, OFFSET, 0), (6, "i", 0)))
OPERATOR = Layout("Operator", ((0, "I", 0), (1, OFFSET, 0), (2, OFFSET, 0), (3, "B", 0), (4, OFFSET, 0),
                                (5, OFFSET, 0), (8, OFFSET, 0)))
METADATA = Layout("Metadata", ((0, OFFSET, 0), (1, "I", 0)))
SIGNATURE = Layout("SignatureDef", ((0, OFFSET, 0), (1, OFFSET, 0), (2, OFFSET, 0), (4, "I", 0)))
TENSOR_MAP = Layout("TensorMap", ((0, OFFSET, 0), (1, "I", 0)))


class Options:
    """How to decode one builtin options table: its Layout, field names and which fields are vectors."""

    __slots__ = ("layout", "names", "vectors")

    def __init__(self, table: str, fields: tuple[tuple[str, int, str, object], ...]) -> None:
        self.layout = Layout(table, tuple(
            (slot, OFFSET if fmt.startswith("vec:") else fmt, default) for _, slot, fmt, default in fields))
        self.names = tuple(f[0] for f in fields)
        self.vectors = tuple((i, f[2][4:]) for i, f in enumerate(fields) if f[2].startswith("vec:"))


OPTIONS: dict[int, Options | None] = {}


def options_of(options_type: int) -> Options | None:
    """The decoder of builtin options type `options_type`; None for unknown types and tables without fields."""
    if options_type not in OPTIONS:
        table = _schema.BUILTIN_OPTIONS.get(options_type, "")
        fields = _schema.OPTION_LAYOUTS.get(table, ())
        OPTIONS[options_type] = Options(table, fields) if fields else None
    return OPTIONS[options_type]

