"""Read a .tflite file into tpulint's small, typed, immutable model of the graph (the only flatbuffer parser)."""

from __future__ import annotations

import dataclasses
import gc
import mmap
import os
import stat
import struct
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import prod
from operator import attrgetter
from typing import Any, BinaryIO, Callable, Iterator, Mapping

from tpulint import _schema
from tpulint.errors import ModelError
from tpulint.flatbuf import _I32, _U32, COLD_FILE_SIZE, OFFSET, Layout, Reader

INTEGER_8BIT = frozenset({"int8", "uint8"})
# A generous bound (TFLite kernels handle 4 to 6 dimensions): with it, the element count of any tensor stays a
# number every later stage can compute with (2^992 at most), whatever the file claims.
MAX_RANK = 32
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
        """Element count; unknown (-1) and zero dimensions count as 1."""
        shape = self.shape
        if not shape:
            return 1
        if min(shape) >= 1:
            return prod(shape)
        return prod(max(d, 1) for d in shape)

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


_custom_code = attrgetter("custom_code")


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
    # Where each buffer's data starts in the file (0: no data), for the few rules that read parameter values.
    buffer_offsets: tuple[int, ...] = field(default=(), compare=False, repr=False)
    # The bytes of a model parsed from memory (read_model_bytes); None for a file, which is reopened instead.
    source: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def main(self) -> Subgraph:
        return self.subgraphs[0]

    @property
    def is_compiled(self) -> bool:
        return any(EDGETPU_CUSTOM_CODE in map(_custom_code, sg.operators)  # the common "no" at C speed
                   and any(op.custom_code == EDGETPU_CUSTOM_CODE and op.opcode == "CUSTOM" for op in sg.operators)
                   for sg in self.subgraphs)


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
        with open(path, "rb", buffering=0, opener=open_nonblocking) as f:
            fd = f.fileno()
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ModelError("not a regular file")
            if info.st_size == 0:
                raise ModelError("empty file")
            if info.st_size <= COLD_FILE_SIZE:
                # Read, not mapped: a mapped file that is truncated meanwhile kills the process (SIGBUS).
                data = f.read()
                if not data:
                    raise ModelError("empty file")
                with gc_paused():
                    return parse_model(data, path)
            with _truncation_blocked(fd) as blocked:
                if not blocked:  # a mapping could shrink under the parse (SIGBUS kills the process): read it
                    data = f.read()
                    if len(data) != info.st_size:
                        raise ModelError("the file changed while it was read")
                    with gc_paused():
                        return parse_model(data, path)
                with gc_paused(), mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mm:
                    return parse_model(mm, path, fd)
    except IsADirectoryError:
        raise ModelError("is a directory") from None
    except FileNotFoundError:
        raise ModelError("no such file") from None
    except PermissionError:
        raise ModelError("permission denied") from None
    except OSError as e:
        raise ModelError(f"cannot read: {e.strerror or e}") from None


@contextmanager
def _truncation_blocked(fd: int) -> Iterator[bool]:
    """Hold a read lease on the file while the block runs (Linux; the file's owner): another process that
    truncates the file or opens it for writing then waits until the block ends, so a mapping of it cannot
    shrink. Yields False where no lease can be had (another OS, a file someone has open for writing, a
    thread other than the main one, which cannot take the lease-break signal); True on Windows, where a
    mapped file cannot be truncated."""
    import signal
    import threading

    try:
        import fcntl
    except ImportError:  # Windows: a mapped file cannot be truncated there
        yield True
        return
    try:
        set_lease, read_lease, unlock = fcntl.F_SETLEASE, fcntl.F_RDLCK, fcntl.F_UNLCK  # type: ignore[attr-defined]
    except AttributeError:
        yield False
        return
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    # The lease-break signal (SIGIO) terminates by default; the block is short, so it is just noted.
    previous = signal.signal(signal.SIGIO, lambda *_: None)
    try:
        try:
            fcntl.fcntl(fd, set_lease, read_lease)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.fcntl(fd, set_lease, unlock)
    finally:
        signal.signal(signal.SIGIO, previous)


def open_nonblocking(path: str, flags: int) -> int:
    """os.open with O_NONBLOCK: a FIFO or a device named like a model must not block the open."""
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def reopen(model: Model) -> BinaryIO:
    """The model's file opened again (unbuffered), for the few reads after parsing (parameter values, Edge
    TPU packages); OSError unless it is still a regular file of the size parsed (a FIFO must not hang)."""
    f = open(model.path, "rb", buffering=0, opener=open_nonblocking)
    try:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size != model.file_size:
            raise OSError("the file changed since it was read")
    except OSError:
        f.close()
        raise
    return f


def read_model_bytes(data: bytes, path: str = "<bytes>") -> Model:
    """Parse a model held in memory (used by tests and the fixture builder)."""
    if not data:
        raise ModelError("empty file")
    with gc_paused():
        return parse_model(data, path, source=data)


@contextmanager
def gc_paused(promote: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic structures (restored on exit).

    Reading a 30,000-op model allocates ~300,000 objects, none in a reference cycle; with the collector
    running, its full collections make reading superlinear in the model size (+60% at 30,000 ops).

    `promote`: on exit, move the objects still alive to the oldest generation (gc.freeze + gc.unfreeze: a
    list splice, no traversal), where surviving two collections would have put them anyway; otherwise the
    first allocation after the pause runs a young collection over every one of them (5% of an analysis).
    Skipped when the process has frozen objects of its own, whose state unfreeze would change (counting
    them walks them: a caller that freezes after each model, like tpulint.runner, leaves `promote` off).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if promote and not gc.get_freeze_count():
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def parse_model(data: "bytes | mmap.mmap", path: str, fd: int | None = None, source: bytes | None = None) -> Model:
    """Parse a model from its bytes (or a mapping of the file `fd`, used to read weight lengths unmapped);
    `source`: the bytes the Model keeps to read parameter values from, when it has no file."""
    size = len(data)
    head = bytes(data[:64])
    foreign = _sniff_foreign(head)
    if foreign:
        raise ModelError(f"not a TFLite model: this is {foreign}")
    if size < 8:
        raise ModelError(f"not a TFLite model: only {size} bytes")
    if head[4:8] != b"TFL3":
        raise ModelError(f"not a TFLite model: file identifier is {head[4:8]!r}, expected b'TFL3'")
    reader = Reader(data, "model", fd)
    return _ModelParser(reader, path, size, source).parse()


# Table layouts of the TFLite schema fields tpulint reads: (vtable slot, struct code or OFFSET, default).
_MODEL = Layout("Model", ((0, "I", 0), (1, OFFSET, 0), (2, OFFSET, 0), (3, OFFSET, 0), (4, OFFSET, 0),
                          (6, OFFSET, 0), (7, OFFSET, 0)))
_OPCODE = Layout("OperatorCode", ((0, "b", 0), (1, OFFSET, 0), (2, "i", 1), (3, "i", 0)))
_BUFFER = Layout("Buffer", ((0, OFFSET, 0), (2, "Q", 0)))
_SUBGRAPH = Layout("SubGraph", ((0, OFFSET, 0), (1, OFFSET, 0), (2, OFFSET, 0), (3, OFFSET, 0), (4, OFFSET, 0)))
_TENSOR = Layout("Tensor", ((0, OFFSET, 0), (1, "b", 0), (2, "I", 0), (3, OFFSET, 0), (4, OFFSET, 0),
                            (5, "?", False), (7, OFFSET, 0)))
_QUANT = Layout("QuantizationParameters", ((2, OFFSET, 0), (3, OFFSET, 0), (6, "i", 0)))
_OPERATOR = Layout("Operator", ((0, "I", 0), (1, OFFSET, 0), (2, OFFSET, 0), (3, "B", 0), (4, OFFSET, 0),
                                (5, OFFSET, 0), (8, OFFSET, 0)))
_METADATA = Layout("Metadata", ((0, OFFSET, 0), (1, "I", 0)))
_SIGNATURE = Layout("SignatureDef", ((0, OFFSET, 0), (1, OFFSET, 0), (2, OFFSET, 0), (4, "I", 0)))
_TENSOR_MAP = Layout("TensorMap", ((0, OFFSET, 0), (1, "I", 0)))


class _Options:
    """How to decode one builtin options table: its Layout, field names and which fields are vectors."""

    __slots__ = ("layout", "names", "vectors")

    def __init__(self, table: str, fields: tuple[tuple[str, int, str, object], ...]) -> None:
        self.layout = Layout(table, tuple(
            (slot, OFFSET if fmt.startswith("vec:") else fmt, default) for _, slot, fmt, default in fields))
        self.names = tuple(f[0] for f in fields)
        self.vectors = tuple((i, f[2][4:]) for i, f in enumerate(fields) if f[2].startswith("vec:"))


_OPTIONS: dict[int, _Options | None] = {}


def _options_of(options_type: int) -> _Options | None:
    """The decoder of builtin options type `options_type`; None for unknown types and tables without fields."""
    if options_type not in _OPTIONS:
        table = _schema.BUILTIN_OPTIONS.get(options_type, "")
        fields = _schema.OPTION_LAYOUTS.get(table, ())
        _OPTIONS[options_type] = _Options(table, fields) if fields else None
    return _OPTIONS[options_type]


_TENSOR_TYPES = _schema.TENSOR_TYPES
_VECTORS: dict[str, dict[int, Callable]] = {"i": {}, "f": {}, "q": {}}


def _vector(fmt: str, n: int) -> Callable:
    """The unpacker of a vector of `n` scalars (cached for short vectors: shapes, per-tensor quantization)."""
    unpack = struct.Struct(f"<{n}{fmt}").unpack_from
    if n <= 16:
        _VECTORS[fmt][n] = unpack
    return unpack


def fast_constructor(cls: type) -> Callable:
    """A positional constructor for a frozen slots dataclass that sets the slots directly.

    Equivalent to `cls(*fields)` (these classes have no __post_init__ or converters) at a quarter of the
    cost: the dataclass __init__ of a frozen class goes through object.__setattr__ for every field, and the
    reader builds tens of thousands of tensors. The object is built as an instance of an unfrozen twin class
    with the same slots (plain attribute stores, the interpreter's fastest), which then becomes a `cls`.
    """
    names = [f.name for f in dataclasses.fields(cls)]
    slots = tuple(cls.__slots__)  # type: ignore[attr-defined]
    env: dict[str, object] = {"_cls": cls}
    # Only the dataclass's own field names are interpolated into the source.
    source = (f"class Twin:\n    __slots__ = {slots!r}\n    def __init__(self, {', '.join(names)}):\n"
              + "".join(f"        self.{n} = {n}\n" for n in names) + "        self.__class__ = _cls\n")
    exec(source, env)  # noqa: S102
    make = env["Twin"]
    try:
        probe = make(*range(len(names)))  # type: ignore[operator]
        if type(probe) is cls and all(getattr(probe, n) == i for i, n in enumerate(names)):
            return make  # type: ignore[return-value]
    except TypeError:  # pragma: no cover - an interpreter that refuses the __class__ assignment
        pass
    env = {"_new": object.__new__, "_cls": cls}  # pragma: no cover - the slower, always valid fallback
    env.update({f"_set_{n}": getattr(cls, n).__set__ for n in names})
    source = (f"def make({', '.join(names)}):\n    self = _new(_cls)\n"
              + "".join(f"    _set_{n}(self, {n})\n" for n in names) + "    return self\n")
    exec(source, env)  # noqa: S102
    return env["make"]  # type: ignore[return-value]


_new_tensor = fast_constructor(Tensor)
_new_quantization = fast_constructor(Quantization)
_new_operator = fast_constructor(Operator)
_NO_OPTIONS: Mapping[str, object] = {}


class _ModelParser:
    """One pass over the Model table: each table is decoded once, with one struct call, and vectors in bulk.

    Every position comes from Reader methods that check it (tables, vectors, strings) or is compared with
    the buffer size before use; every tensor, buffer, operator-code and subgraph index is range-checked.
    """

    def __init__(self, reader: Reader, path: str, size: int, source: bytes | None = None) -> None:
        self.r = reader
        self.path = path
        self.size = size
        self.source = source
        self.buffer_positions: list[int] = []

    def parse(self) -> Model:
        r = self.r
        root = r.u32(0)
        (version, opcodes_r, subgraphs_r, description_r, buffers_r, metadata_r, signatures_r), fo = r.decode(
            root, _MODEL)
        buffers = self._buffers(r.table_positions(root + fo[4] + buffers_r) if buffers_r else [])
        opcodes = [self._opcode(p) for p in (r.table_positions(root + fo[1] + opcodes_r) if opcodes_r else [])]
        subgraph_positions = r.table_positions(root + fo[2] + subgraphs_r) if subgraphs_r else []
        if not subgraph_positions:
            raise ModelError("corrupt model: no subgraphs")
        subgraphs = tuple(self._subgraph(i, p, opcodes, buffers) for i, p in enumerate(subgraph_positions))
        metadata, min_runtime = self._metadata(r.table_positions(root + fo[5] + metadata_r) if metadata_r else [])
        signatures = tuple(self._signature(p, subgraphs)
                           for p in (r.table_positions(root + fo[6] + signatures_r) if signatures_r else []))
        return Model(
            path=self.path,
            file_size=self.size,
            schema_version=version,
            description=r.text(root + fo[3] + description_r) if description_r else "",
            subgraphs=subgraphs,
            num_buffers=len(buffers),
            metadata=metadata,
            signatures=signatures,
            min_runtime_version=min_runtime,
            buffer_offsets=tuple(self.buffer_positions),
            source=self.source,
        )

    def _buffers(self, positions: list[int]) -> list[int]:
        """Byte length of every buffer; the data itself is never read."""
        r = self.r
        data, size = r.data, r.size
        plans = r.plans(_BUFFER)
        sizes = []
        data_positions = []
        cold = r.fd is not None  # a large file: Buffer tables sit next to the weights, read them unmapped
        last = size - 4
        for pos in positions:
            vt = pos - _I32(r.cold(pos, 4) if cold else data, 0 if cold else pos)[0]
            unpack, table_size, fo, pick, defaults = plans.get(vt) or r.plan(vt, _BUFFER)
            if pos + table_size > size:
                raise r.fail(f"Buffer table at {pos} runs past the end of the buffer")
            raw = unpack(r.cold(pos, table_size)) if cold else unpack(data, pos)
            data_r, external = pick(raw + defaults)
            if data_r:
                at = pos + fo[0] + data_r
                if cold or at > last or (n := _U32(data, at)[0]) > last - at:
                    n = r.length(at, 1, cold=True)  # checks (and raises) like the inline test above
                data_positions.append(at + 4)
                sizes.append(n if n else external)
            else:
                data_positions.append(0)
                sizes.append(external)  # data stored after the flatbuffer (models over 2 GiB)
        self.buffer_positions = data_positions
        return sizes

    def _opcode(self, pos: int) -> tuple[str, str | None, int]:
        r = self.r
        (deprecated, custom_r, version, builtin), fo = r.decode(pos, _OPCODE)
        code = max(deprecated, builtin)
        name = _schema.BUILTIN_OPERATORS.get(code, f"UNKNOWN_{code}")
        custom = r.text(pos + fo[1] + custom_r) if name == "CUSTOM" and custom_r else None
        return name, custom, version

    def _subgraph(self, index: int, pos: int, opcodes: list, buffers: list[int]) -> Subgraph:
        r = self.r
        (tensors_r, inputs_r, outputs_r, operators_r, name_r), fo = r.decode(pos, _SUBGRAPH)
        tensors = self._tensors(r.table_positions(pos + fo[0] + tensors_r) if tensors_r else [], buffers)
        n = len(tensors)
        where = f"subgraph {index}"
        inputs = self._indices(r.vector(pos + fo[1] + inputs_r, "i") if inputs_r else (), n, f"{where} input")
        outputs = self._indices(r.vector(pos + fo[2] + outputs_r, "i") if outputs_r else (), n, f"{where} output")
        operators = self._operators(r.table_positions(pos + fo[3] + operators_r) if operators_r else [],
                                    opcodes, n, where)
        name = r.text(pos + fo[4] + name_r) if name_r else ""
        return Subgraph(index, name, tensors, operators, inputs, outputs)

    @staticmethod
    def _indices(values: tuple, limit: int, what: str, optional: bool = False) -> tuple[int, ...]:
        """`values` unchanged when every one is a tensor index below `limit` (or -1 for an omitted input)."""
        if values and (max(values) >= limit or min(values) < (-1 if optional else 0)):
            for v in values:
                if v >= limit or (v < 0 and not (optional and v == -1)):
                    raise ModelError(
                        f"corrupt model: {what} refers to tensor {v}, but there are only {limit} tensors")
        return values

    def _tensors(self, positions: list[int], buffers: list[int]) -> tuple[Tensor, ...]:
        # The hottest loop of the reader. Vectors and strings are decoded inline with the same checks as
        # Reader.vector/Reader.text: the count word inside the buffer, the elements inside the buffer, and
        # the total decoded length within the budget (checked once at the end: it only bounds the work).
        r = self.r
        data, size = r.data, r.size
        plans, qplans = r.plans(_TENSOR), r.plans(_QUANT)
        n_buffers = len(buffers)
        types = _TENSOR_TYPES
        ints, floats, longs = _VECTORS["i"], _VECTORS["f"], _VECTORS["q"]
        new_tensor, new_quantization = _new_tensor, _new_quantization
        # Equal shapes and quantization parameters are shared (they are immutable): a real model repeats
        # them often, and a 30,000-op model then needs a third less memory.
        shapes: dict[Any, tuple[int, ...]] = {}  # keyed by the raw bytes of the vector
        quantizations: dict[tuple[Any, Any, int], Quantization] = {}
        decoded = 0
        out: list[Any] = []
        append = out.append
        last = size - 4
        for index, pos in enumerate(positions):
            vt = pos - _I32(data, pos)[0]  # table_positions checked pos + 4 <= size
            unpack, table_size, fo, pick, defaults = plans.get(vt) or r.plan(vt, _TENSOR)
            if pos + table_size > size:
                raise r.fail(f"Tensor table at {pos} runs past the end of the buffer")
            shape_r, dtype_code, buffer, name_r, quant_r, is_variable, signature_r = pick(unpack(data, pos) + defaults)
            if buffer >= n_buffers and (buffer or n_buffers):
                raise ModelError(f"corrupt model: tensor {index} refers to buffer {buffer}, "
                                 f"but there are only {n_buffers} buffers")
            shape: tuple[int, ...] | None = ()
            if shape_r:
                at = pos + fo[0] + shape_r
                if at > last or (n := _U32(data, at)[0]) > (last - at) >> 2:
                    raise r.fail(f"the shape of tensor {index} lies outside the buffer")
                if n > MAX_RANK:
                    raise r.fail(f"tensor {index} has {n} dimensions (TFLite tensors have at most {MAX_RANK})")
                decoded += n
                raw = data[at + 4:at + 4 + 4 * n]
                shape = shapes.get(raw)
                if shape is None:
                    shape = shapes[raw] = (ints.get(n) or _vector("i", n))(raw)
            name = ""
            if name_r:
                at = pos + fo[3] + name_r
                if at > last or (n := _U32(data, at)[0]) > last - at:
                    raise r.fail(f"the name of tensor {index} lies outside the buffer")
                decoded += n
                name = str(data[at + 4:at + 4 + n], "utf-8", "backslashreplace")
            quantization = None
            if quant_r:
                q = pos + fo[4] + quant_r
                if q > last:
                    raise r.fail(f"the quantization of tensor {index} lies outside the buffer")
                qvt = q - _I32(data, q)[0]
                qunpack, qsize, qfo, qpick, qdefaults = qplans.get(qvt) or r.plan(qvt, _QUANT)
                if q + qsize > size:
                    raise r.fail(f"QuantizationParameters table at {q} runs past the end of the buffer")
                scales_r, zero_points_r, axis = qpick(qunpack(data, q) + qdefaults)
                if scales_r:
                    at = q + qfo[0] + scales_r
                    if at > last or (n := _U32(data, at)[0]) > (last - at) >> 2:
                        raise r.fail(f"the quantization scales of tensor {index} lie outside the buffer")
                    if n:
                        decoded += n
                        raw_scales = data[at + 4:at + 4 + 4 * n]
                        raw_zero_points: Any = b""
                        if zero_points_r:
                            at = q + qfo[1] + zero_points_r
                            if at > last or (m := _U32(data, at)[0]) > (last - at) >> 3:
                                raise r.fail(f"the zero points of tensor {index} lie outside the buffer")
                            decoded += m
                            raw_zero_points = data[at + 4:at + 4 + 8 * m]
                        key = (raw_scales, raw_zero_points, axis)
                        quantization = quantizations.get(key)
                        if quantization is None:
                            quantization = quantizations[key] = new_quantization(
                                (floats.get(n) or _vector("f", n))(raw_scales),
                                (longs.get(m) or _vector("q", m))(raw_zero_points) if raw_zero_points else (), axis)
            signature = None
            if signature_r:
                at = pos + fo[6] + signature_r
                if at > last or (n := _U32(data, at)[0]) > (last - at) >> 2:
                    raise r.fail(f"the shape signature of tensor {index} lies outside the buffer")
                if n > MAX_RANK:
                    raise r.fail(f"tensor {index} has {n} dimensions (TFLite tensors have at most {MAX_RANK})")
                decoded += n
                signature = (ints.get(n) or _vector("i", n))(data, at + 4)
            append(new_tensor(index, name, types.get(dtype_code) or f"type{dtype_code}", shape, signature,
                              quantization, buffer, buffers[buffer] if n_buffers else 0, is_variable))
        r.budget -= decoded
        if r.budget < 0:
            raise r.fail("vectors overlap: decoding them would read more than the whole file")
        return tuple(out)

    def _operators(self, positions: list[int], opcodes: list, n_tensors: int, where: str) -> tuple[Operator, ...]:
        r = self.r
        data, size = r.data, r.size
        plans = r.plans(_OPERATOR)
        ints = _VECTORS["i"]
        new_operator = _new_operator
        n_opcodes = len(opcodes)
        decoded = 0
        last = size - 4
        shared_options: dict = {}
        out: list[Any] = []
        append = out.append
        for index, pos in enumerate(positions):
            vt = pos - _I32(data, pos)[0]  # table_positions checked pos + 4 <= size
            unpack, table_size, fo, pick, defaults = plans.get(vt) or r.plan(vt, _OPERATOR)
            if pos + table_size > size:
                raise r.fail(f"Operator table at {pos} runs past the end of the buffer")
            code_index, inputs_r, outputs_r, options_type, options_r, custom_r, intermediates_r = pick(
                unpack(data, pos) + defaults)
            if code_index >= n_opcodes:
                raise ModelError(f"corrupt model: {where} op {index} uses operator code {code_index}, "
                                 f"but there are only {n_opcodes}")
            name, custom, version = opcodes[code_index]
            inputs = outputs = ()
            if inputs_r:
                at = pos + fo[1] + inputs_r
                if at > last or (n := _U32(data, at)[0]) > (last - at) >> 2:
                    raise r.fail(f"the inputs of {where} op {index} lie outside the buffer")
                decoded += n
                inputs = (ints.get(n) or _vector("i", n))(data, at + 4)
                if inputs and (max(inputs) >= n_tensors or min(inputs) < -1):
                    self._indices(inputs, n_tensors, f"{where} op {index} input", optional=True)
            if outputs_r:
                at = pos + fo[2] + outputs_r
                if at > last or (n := _U32(data, at)[0]) > (last - at) >> 2:
                    raise r.fail(f"the outputs of {where} op {index} lie outside the buffer")
                decoded += n
                outputs = (ints.get(n) or _vector("i", n))(data, at + 4)
                if outputs and (max(outputs) >= n_tensors or min(outputs) < 0):
                    self._indices(outputs, n_tensors, f"{where} op {index} output")
            intermediates: tuple[int, ...] = ()
            if intermediates_r:
                intermediates = self._indices(r.vector(pos + fo[6] + intermediates_r, "i"), n_tensors,
                                              f"{where} op {index} intermediate")
            options = _NO_OPTIONS
            if options_type and options_r:
                spec = _OPTIONS.get(options_type) or _options_of(options_type)
                if spec is not None:
                    options = self._options(pos + fo[4] + options_r, spec, shared_options)
            custom_span = None
            if custom_r and name == "CUSTOM":
                at = pos + fo[5] + custom_r
                custom_span = (at + 4, r.length(at, 1, cold=True))
            append(new_operator(index, name, version, inputs, outputs, custom, options, intermediates, custom_span))
        r.budget -= decoded
        if r.budget < 0:
            raise r.fail("vectors overlap: decoding them would read more than the whole file")
        return tuple(out)

    def _options(self, pos: int, spec: _Options, shared: dict) -> dict[str, object]:
        """The options dict of the table at `pos`. Tables without vector fields that have the same vtable and
        the same bytes decode to one shared dict (`shared`): most convolutions of a model have equal options."""
        r = self.r
        data = r.data
        if pos > r.size - 4:
            raise r.fail(f"{spec.layout.name} table at {pos} outside the {r.size}-byte buffer")
        vt = pos - _I32(data, pos)[0]
        plan = r.plans(spec.layout).get(vt) or r.plan(vt, spec.layout)
        unpack, table_size, fo, pick, defaults = plan
        if pos + table_size > r.size:
            raise r.fail(f"{spec.layout.name} table at {pos} runs past the end of the buffer")
        if not spec.vectors:
            key = (id(plan), data[pos + 4:pos + table_size])  # plans live as long as the parse
            options = shared.get(key)
            if options is None:
                options = shared[key] = dict(zip(spec.names, pick(unpack(data, pos) + defaults)))
            return options  # type: ignore[no-any-return]
        values = list(pick(unpack(data, pos) + defaults))
        for i, fmt in spec.vectors:
            values[i] = r.vector(pos + fo[i] + values[i], fmt) if values[i] else ()
        return dict(zip(spec.names, values))

    def _metadata(self, positions: list[int]) -> tuple[tuple[str, ...], str | None]:
        r = self.r
        names = []
        min_runtime = None
        for pos in positions:
            (name_r, buffer), fo = r.decode(pos, _METADATA)
            name = r.text(pos + fo[0] + name_r) if name_r else ""
            names.append(name)
            if name == "min_runtime_version":
                min_runtime = self._small_buffer_text(buffer)
        return tuple(names), min_runtime

    def _small_buffer_text(self, buffer: int) -> str | None:
        if buffer >= len(self.buffer_positions):
            return None
        start = self.buffer_positions[buffer]
        if not start:
            return None
        n = self.r.length(start - 4, 1)
        if n > 64:
            return None
        return self.r.bytes_at(start, n).split(b"\0", 1)[0].decode("ascii", "backslashreplace")

    def _signature(self, pos: int, subgraphs: tuple[Subgraph, ...]) -> Signature:
        r = self.r
        (inputs_r, outputs_r, key_r, sg), fo = r.decode(pos, _SIGNATURE)
        if sg >= len(subgraphs):
            raise ModelError(f"corrupt model: signature refers to subgraph {sg}, but there are only {len(subgraphs)}")
        limit = len(subgraphs[sg].tensors)

        def tensor_map(at: int) -> tuple[tuple[str, int], ...]:
            out = []
            for m in r.table_positions(at):
                (name_r, ti), mfo = r.decode(m, _TENSOR_MAP)
                if ti >= limit:
                    raise ModelError(f"corrupt model: signature refers to tensor {ti}, but there are only {limit}")
                out.append((r.text(m + mfo[0] + name_r) if name_r else "", ti))
            return tuple(out)

        return Signature(r.text(pos + fo[2] + key_r) if key_r else "", sg,
                         tensor_map(pos + fo[0] + inputs_r) if inputs_r else (),
                         tensor_map(pos + fo[1] + outputs_r) if outputs_r else ())
