"""Read a .tflite file into tpulint's small, typed, immutable model of the graph (the only flatbuffer parser)."""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, field
from typing import Iterator, Mapping

from tpulint import _schema
from tpulint.errors import ModelError
from tpulint.flatbuf import Reader, Table, read_fields

INTEGER_8BIT = frozenset({"int8", "uint8"})
EDGETPU_CUSTOM_CODE = "edgetpu-custom-op"


@dataclass(frozen=True, slots=True)
class Quantization:
    """Affine quantization of a tensor: one scale/zero point per tensor, or per channel along `axis`."""

    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1


@dataclass(frozen=True, slots=True)
class Tensor:
    """One tensor of a subgraph; `data_size` is the byte length of its constant buffer (0 when none)."""

    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...] | None
    quantization: Quantization | None
    buffer: int
    data_size: int = 0
    is_variable: bool = False

    @property
    def is_constant(self) -> bool:
        return self.data_size > 0

    @property
    def is_quantized(self) -> bool:
        """An 8-bit integer tensor with quantization parameters."""
        return self.dtype in INTEGER_8BIT and self.quantization is not None

    @property
    def is_dynamic(self) -> bool:
        dims = self.shape_signature if self.shape_signature is not None else self.shape
        return any(d < 0 for d in dims)

    @property
    def elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= max(d, 1)
        return n

    def shape_text(self) -> str:
        return "x".join(str(d) for d in self.shape) if self.shape else "scalar"


@dataclass(frozen=True, slots=True)
class Operator:
    """One operator in execution order; input index -1 marks an omitted optional input."""

    index: int
    opcode: str
    version: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    custom_code: str | None = None
    options: Mapping[str, object] = field(default_factory=dict, compare=False)
    intermediates: tuple[int, ...] = ()
    custom_options_span: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        """Display name: the builtin name, or the custom code for custom ops."""
        return self.custom_code if self.opcode == "CUSTOM" and self.custom_code else self.opcode

    @property
    def fused_activation(self) -> str:
        value = self.options.get("fused_activation_function", 0)
        return _schema.ACTIVATION.get(value, str(value)) if isinstance(value, int) else str(value)

    @property
    def is_edgetpu(self) -> bool:
        return self.opcode == "CUSTOM" and self.custom_code == EDGETPU_CUSTOM_CODE


@dataclass(frozen=True, slots=True)
class Subgraph:
    """A TFLite subgraph: tensors, operators in execution order, and its input/output tensor indices."""

    index: int
    name: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def op_inputs(self, op: Operator) -> Iterator[Tensor]:
        """The tensors an operator reads, omitted optional inputs skipped."""
        tensors = self.tensors
        return (tensors[i] for i in op.inputs if i >= 0)

    def op_outputs(self, op: Operator) -> Iterator[Tensor]:
        tensors = self.tensors
        return (tensors[i] for i in op.outputs if i >= 0)


@dataclass(frozen=True, slots=True)
class Signature:
    """A SignatureDef: named inputs/outputs mapped to tensor indices of one subgraph."""

    key: str
    subgraph: int
    inputs: tuple[tuple[str, int], ...]
    outputs: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Model:
    """A whole .tflite file as tpulint sees it."""

    path: str
    file_size: int
    schema_version: int
    description: str
    subgraphs: tuple[Subgraph, ...]
    num_buffers: int
    metadata: tuple[str, ...] = ()
    signatures: tuple[Signature, ...] = ()
    min_runtime_version: str | None = None

    @property
    def main(self) -> Subgraph:
        return self.subgraphs[0]

    @property
    def is_compiled(self) -> bool:
        return any(op.is_edgetpu for sg in self.subgraphs for op in sg.operators)


# --- file checks ---------------------------------------------------------------------------------

_FOREIGN_SIGNATURES = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"PK\x03\x04", "a ZIP archive (a SavedModel or Keras archive?)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x89HDF", "an HDF5 file (a Keras .h5 model?)"),
    (b"version https://git-lfs", "a Git LFS pointer, not the model itself (run `git lfs pull`)"),
)


def _sniff_foreign(head: bytes) -> str | None:
    for magic, what in _FOREIGN_SIGNATURES:
        if head.startswith(magic):
            return what
    if head[:1] == b"\x08" and (b"onnx" in head[:64] or b"pytorch" in head[:64] or b"\x12" in head[2:4]):
        return "an ONNX model"
    return None


def read_model(path: str | os.PathLike[str]) -> Model:
    """Read and validate a .tflite file; raise ModelError with a one-line reason when it is not usable."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise ModelError("empty file")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return parse_model(mm, path)
    except IsADirectoryError:
        raise ModelError("is a directory") from None
    except FileNotFoundError:
        raise ModelError("no such file") from None
    except PermissionError:
        raise ModelError("permission denied") from None
    except OSError as e:
        raise ModelError(f"cannot read: {e.strerror or e}") from None


def read_model_bytes(data: bytes, path: str = "<bytes>") -> Model:
    """Parse a model held in memory (used by tests and the fixture builder)."""
    if not data:
        raise ModelError("empty file")
    return parse_model(data, path)


def parse_model(data: "bytes | mmap.mmap", path: str) -> Model:
    size = len(data)
    head = bytes(data[:64])
    foreign = _sniff_foreign(head)
    if foreign:
        raise ModelError(f"not a TFLite model: this is {foreign}")
    if size < 8:
        raise ModelError(f"not a TFLite model: only {size} bytes")
    if head[4:8] != b"TFL3":
        raise ModelError(f"not a TFLite model: file identifier is {head[4:8]!r}, expected b'TFL3'")
    reader = Reader(data, "model")
    return _ModelParser(reader, path, size).parse()


class _ModelParser:
    """One pass over the Model table; tables are decoded once and vectors unpacked in bulk."""

    def __init__(self, reader: Reader, path: str, size: int) -> None:
        self.r = reader
        self.path = path
        self.size = size

    def parse(self) -> Model:
        root = self.r.root()
        buffers = [self._buffer_size(t) for t in root.tables(4)]
        opcodes = [self._opcode(t) for t in root.tables(1)]
        subgraph_tables = root.tables(2)
        if not subgraph_tables:
            raise ModelError("corrupt model: no subgraphs")
        subgraphs = tuple(self._subgraph(i, t, opcodes, buffers) for i, t in enumerate(subgraph_tables))
        metadata, min_runtime = self._metadata(root.tables(6), buffers)
        signatures = tuple(self._signature(t, subgraphs) for t in root.tables(7))
        return Model(
            path=self.path,
            file_size=self.size,
            schema_version=root.u32(0),
            description=root.string(3) or "",
            subgraphs=subgraphs,
            num_buffers=len(buffers),
            metadata=metadata,
            signatures=signatures,
            min_runtime_version=min_runtime,
        )

    def _buffer_size(self, t: Table) -> int:
        span = t.vector_span(0, 1)
        if span is not None and span[1]:
            return span[1]
        external = t.scalar(2, "Q", 0)  # data stored after the flatbuffer (models over 2 GiB)
        return int(external) if external else 0  # type: ignore[arg-type]

    def _opcode(self, t: Table) -> tuple[str, str | None, int]:
        deprecated = t.scalar(0, "b", 0)
        builtin = t.i32(3, 0)
        code = max(int(deprecated), builtin)  # type: ignore[call-overload]
        name = _schema.BUILTIN_OPERATORS.get(code, f"UNKNOWN_{code}")
        custom = t.string(1) if name == "CUSTOM" else None
        return name, custom, t.i32(2, 1)

    def _subgraph(self, index: int, t: Table, opcodes: list, buffers: list[int]) -> Subgraph:
        tensors = tuple(self._tensor(i, tt, buffers) for i, tt in enumerate(t.tables(0)))
        n = len(tensors)
        where = f"subgraph {index}"
        inputs = self._indices(t.vector(1, "i"), n, f"{where} input")
        outputs = self._indices(t.vector(2, "i"), n, f"{where} output")
        operators = tuple(self._operator(i, ot, opcodes, n, where) for i, ot in enumerate(t.tables(3)))
        return Subgraph(index, t.string(4) or "", tensors, operators, inputs, outputs)

    def _indices(self, values: tuple, limit: int, what: str, optional: bool = False) -> tuple[int, ...]:
        for v in values:
            if v >= limit or (v < 0 and not (optional and v == -1)):
                raise ModelError(f"corrupt model: {what} refers to tensor {v}, but there are only {limit} tensors")
        return values

    def _tensor(self, index: int, t: Table, buffers: list[int]) -> Tensor:
        buffer = t.u32(2, 0)
        if buffer >= len(buffers) and buffers:
            raise ModelError(f"corrupt model: tensor {index} refers to buffer {buffer}, but there are only {len(buffers)} buffers")
        dtype_code = t.scalar(1, "b", 0)
        signature_at = t.offset(7)
        quant = t.table(4)
        return Tensor(
            index=index,
            name=t.string(3) or "",
            dtype=_schema.TENSOR_TYPES.get(dtype_code, f"type{dtype_code}"),  # type: ignore[call-overload]
            shape=t.vector(0, "i"),
            shape_signature=t.vector(7, "i") if signature_at else None,
            quantization=self._quantization(quant) if quant is not None else None,
            buffer=buffer,
            data_size=buffers[buffer] if buffer < len(buffers) else 0,
            is_variable=bool(t.scalar(5, "?", False)),
        )

    def _quantization(self, t: Table) -> Quantization | None:
        scales = t.vector(2, "f")
        if not scales:
            return None
        return Quantization(scales, t.vector(3, "q"), t.i32(6, 0))

    def _operator(self, index: int, t: Table, opcodes: list, n_tensors: int, where: str) -> Operator:
        code_index = t.u32(0, 0)
        if code_index >= len(opcodes):
            raise ModelError(
                f"corrupt model: {where} op {index} uses operator code {code_index}, but there are only {len(opcodes)}"
            )
        name, custom, version = opcodes[code_index]
        what = f"{where} op {index}"
        inputs = self._indices(t.vector(1, "i"), n_tensors, f"{what} input", optional=True)
        outputs = self._indices(t.vector(2, "i"), n_tensors, f"{what} output")
        intermediates = self._indices(t.vector(8, "i"), n_tensors, f"{what} intermediate") if t.offset(8) else ()
        options: Mapping[str, object] = {}
        options_type = t.scalar(3, "B", 0)
        if options_type:
            layout = _schema.OPTION_LAYOUTS.get(_schema.BUILTIN_OPTIONS.get(options_type, ""), ())  # type: ignore[call-overload]
            table = t.table(4) if layout else None
            if table is not None:
                options = read_fields(table, layout)
        custom_span = t.vector_span(5, 1) if name == "CUSTOM" else None
        return Operator(index, name, version, inputs, outputs, custom, options, intermediates, custom_span)

    def _metadata(self, tables: list[Table], buffers: list[int]) -> tuple[tuple[str, ...], str | None]:
        names = []
        min_runtime = None
        for t in tables:
            name = t.string(0) or ""
            names.append(name)
            if name == "min_runtime_version":
                min_runtime = self._small_buffer_text(t.u32(1, 0))
        return tuple(names), min_runtime

    def _small_buffer_text(self, buffer: int) -> str | None:
        root = self.r.root()
        tables = root.tables(4)
        if buffer >= len(tables):
            return None
        span = tables[buffer].vector_span(0, 1)
        if span is None or span[1] > 64:
            return None
        return self.r.bytes_at(*span).split(b"\0", 1)[0].decode("ascii", "backslashreplace")

    def _signature(self, t: Table, subgraphs: tuple[Subgraph, ...]) -> Signature:
        sg = t.u32(4, 0)
        if sg >= len(subgraphs):
            raise ModelError(f"corrupt model: signature refers to subgraph {sg}, but there are only {len(subgraphs)}")
        limit = len(subgraphs[sg].tensors)

        def tensor_map(slot: int) -> tuple[tuple[str, int], ...]:
            out = []
            for m in t.tables(slot):
                ti = m.u32(1, 0)
                if ti >= limit:
                    raise ModelError(f"corrupt model: signature refers to tensor {ti}, but there are only {limit}")
                out.append((m.string(0) or "", ti))
            return tuple(out)

        return Signature(t.string(2) or "", sg, tensor_map(0), tensor_map(1))
