"""Decode what edgetpu_compiler wrote into a compiled model: each edgetpu-custom-op's options and DWN1 package."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, replace
from typing import Any, Iterator, Sequence

from tpulint.errors import ModelError
from tpulint.flatbuf import Reader, Table
from tpulint.flexbuffer import Buffer, Span, lookup
from tpulint.model import Model, Operator, reopen

PACKAGE_IDENTIFIER = b"DWN1"
EXECUTABLE_TYPES = {0: "STAND_ALONE", 1: "PARAMETER_CACHING", 2: "EXECUTION_ONLY"}
DATA_TYPES = {0: "FIXED_POINT8", 1: "FIXED_POINT16", 2: "SIGNED_FIXED_POINT32", 3: "BFLOAT", 4: "HALF", 5: "SINGLE",
              8: "SIGNED_FIXED_POINT8", 9: "SIGNED_FIXED_POINT16"}
# Custom-op option keys (libedgetpu tflite/custom_op_data.cc).
KEY_VERSION, KEY_CHIP, KEY_PACKAGE, KEY_PREFERENCE, KEY_CHIP_IDS, KEY_EXTRA = "1", "2", "4", "5", "6", "7"
MAX_NESTED_PACKAGES = 64
MAX_TEXT = 1024  # characters kept of a version, chip or executable name decoded from a package
# Layer names are tensor names of the source model, which the compiler joins with ';' when it fuses ops: a real
# one has 1,495 characters (corpus ext_redax_rf_gemm_128trees_532ops). They are matched against the model's
# tensor names, so they are kept whole up to this much.
MAX_LAYER_NAME = 65536


@dataclass(frozen=True, slots=True)
class Layer:
    """An input or output of an Edge TPU executable, with its quantization as the chip sees it."""

    name: str
    size_bytes: int
    dims: tuple[int, int, int]  # y, x, z
    data_type: str
    zero_point: int
    scale: float
    execution_count: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size_bytes": self.size_bytes, "shape": list(self.dims),
                "data_type": self.data_type, "zero_point": self.zero_point,
                "scale": self.scale if math.isfinite(self.scale) else None,
                "execution_count_per_inference": self.execution_count}


@dataclass(frozen=True, slots=True)
class Executable:
    """One DarwiNN executable; only the length of its parameters is read, never the bytes."""

    type: str
    name: str
    version: int
    batch_size: int
    parameter_bytes: int
    scratch_bytes: int
    narrow_memory_bytes_per_tile: int
    caching_token: int
    chip: str
    estimated_cycles: int
    instruction_bitstreams: int
    use_tpu_dram_for_parameters: bool
    inputs: tuple[Layer, ...]
    outputs: tuple[Layer, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type, "name": self.name, "version": self.version, "batch_size": self.batch_size,
            "parameter_bytes": self.parameter_bytes, "scratch_bytes": self.scratch_bytes,
            "narrow_memory_bytes_per_tile": self.narrow_memory_bytes_per_tile,
            "caching_token": token_text(self.caching_token), "chip": self.chip,
            "estimated_cycles": self.estimated_cycles, "instruction_bitstreams": self.instruction_bitstreams,
            "use_tpu_dram_for_parameters": self.use_tpu_dram_for_parameters,
            "inputs": [x.to_dict() for x in self.inputs], "outputs": [x.to_dict() for x in self.outputs],
        }


@dataclass(frozen=True, slots=True)
class Package:
    """The DWN1 package: runtime requirement, compiler version and the executables."""

    min_runtime_version: int
    compiler_version: str
    virtual_chip_id: int
    model_identifier: str
    signature_bytes: int
    keypair_version: int
    executables: tuple[Executable, ...]
    chip_packages: tuple["Package", ...] = ()  # multi_chip_package entries

    def all_executables(self) -> Iterator[Executable]:
        yield from self.executables
        for p in self.chip_packages:
            yield from p.all_executables()


@dataclass(frozen=True, slots=True)
class EdgeTpuOp:
    """One edgetpu-custom-op (one Edge TPU subgraph); `problem` says why its payload could not be decoded."""

    subgraph: int
    op: int
    options_version: int | None
    execution_preference: int | None
    chip_ids: tuple[int, ...]
    chip_name: str | None
    package: Package | None
    problem: str | None = None

    @property
    def executables(self) -> tuple[Executable, ...]:
        return tuple(self.package.all_executables()) if self.package else ()

    def to_dict(self) -> dict[str, Any]:
        p = self.package
        return {
            "subgraph": self.subgraph, "op": self.op, "options_version": self.options_version,
            "execution_preference": self.execution_preference, "chip_ids": list(self.chip_ids),
            "problem": self.problem,
            "min_runtime_version": p.min_runtime_version if p else None,
            "compiler_version": p.compiler_version if p else None,
            "virtual_chip_id": p.virtual_chip_id if p else None,
            "model_identifier": p.model_identifier if p else None,
            "signature_bytes": p.signature_bytes if p else None,
            "multi_chip_packages": len(p.chip_packages) if p else 0,
            "cached_parameter_bytes": cached_bytes(self.executables),
            "streamed_parameter_bytes": streamed_bytes(self.executables),
            "executable_types": [e.type for e in self.executables],
        }


def cached_bytes(executables: tuple[Executable, ...]) -> int:
    """Parameters uploaded once into on-chip memory (PARAMETER_CACHING executables)."""
    return sum(e.parameter_bytes for e in executables if e.type == "PARAMETER_CACHING")


def streamed_bytes(executables: tuple[Executable, ...]) -> int:
    """Parameters sent from the host with every inference (EXECUTION_ONLY and STAND_ALONE executables)."""
    return sum(e.parameter_bytes for e in executables if e.type != "PARAMETER_CACHING")


def token_text(token: int) -> str | None:
    return f"0x{token:016x}" if token else None


@dataclass(frozen=True, slots=True)
class CompiledInfo:
    """What the compiler already did to a *_edgetpu.tflite file."""

    ops: tuple[EdgeTpuOp, ...]
    cpu_ops: int  # operators left outside the Edge TPU custom ops

    @property
    def edgetpu_subgraphs(self) -> int:
        return len(self.ops)

    @property
    def packages(self) -> tuple[Package, ...]:
        return tuple(o.package for o in self.ops if o.package is not None)

    @property
    def executables(self) -> tuple[Executable, ...]:
        """Every executable once: ops sharing one payload (a hostile file) share its decoded executables."""
        return tuple({id(e): e for o in self.ops for e in o.executables}.values())

    @property
    def problems(self) -> tuple[EdgeTpuOp, ...]:
        return tuple(o for o in self.ops if o.problem is not None)

    @property
    def min_runtime_version(self) -> int | None:
        versions = [p.min_runtime_version for p in self.packages]
        return max(versions) if versions else None

    @property
    def compiler_versions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.compiler_version for p in self.packages))

    @property
    def cached_parameter_bytes(self) -> int:
        return cached_bytes(self.executables)

    @property
    def streamed_parameter_bytes(self) -> int:
        return streamed_bytes(self.executables)

    @property
    def caching_tokens(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(e.caching_token for e in self.executables if e.caching_token))

    @property
    def chips(self) -> tuple[str, ...]:
        names = [e.chip for e in self.executables if e.chip] + [o.chip_name for o in self.ops if o.chip_name]
        return tuple(dict.fromkeys(names))

    def _owned(self) -> list[tuple[int, Executable]]:
        """(op, executable) for each executable, with the first op that holds it."""
        owned: dict[int, tuple[int, Executable]] = {}
        for o in self.ops:
            for e in o.executables:
                owned.setdefault(id(e), (o.op, e))
        return list(owned.values())

    def _io(self, outputs: bool) -> list[Layer]:
        """Boundary layers of the executables that run (EXECUTION_ONLY / STAND_ALONE), one per name."""
        seen: dict[str, Layer] = {}
        for e in self.executables:
            if e.type == "PARAMETER_CACHING":
                continue
            for layer in (e.outputs if outputs else e.inputs):
                seen.setdefault(layer.name, layer)
        return list(seen.values())

    def to_dict(self) -> dict[str, Any]:
        tokens = self.caching_tokens
        versions = self.compiler_versions
        return {
            "edgetpu_subgraphs": self.edgetpu_subgraphs,
            "cpu_ops": self.cpu_ops,
            "min_runtime_version": self.min_runtime_version,
            "compiler_version": versions[0] if len(versions) == 1 else (list(versions) or None),
            "cached_parameter_bytes": self.cached_parameter_bytes,
            "streamed_parameter_bytes": self.streamed_parameter_bytes,
            "executables": [dict(e.to_dict(), op=op) for op, e in self._owned()],
            "caching_token": token_text(tokens[0]) if len(tokens) == 1 else ([token_text(t) for t in tokens] or None),
            "chip": self.chips[0] if len(self.chips) == 1 else (list(self.chips) or None),
            "inputs": [x.to_dict() for x in self._io(False)],
            "outputs": [x.to_dict() for x in self._io(True)],
            "problems": [{"subgraph": o.subgraph, "op": o.op, "message": o.problem} for o in self.problems],
            "edgetpu_ops": [o.to_dict() for o in self.ops],
        }


# --- decoding ------------------------------------------------------------------------------------

def inspect(model: Model, data: Buffer | None = None) -> CompiledInfo | None:
    """Decode every edgetpu-custom-op of `model`; None for an uncompiled model.

    `data` is the model file's bytes; by default those the model was parsed from when it came from memory,
    else the region of the file holding the custom options, read (never mapped: a file truncated meanwhile
    gives a short read, not SIGBUS). A damaged or foreign payload never raises: the op carries a `problem`.
    Ops sharing one payload share its decoded package, and the payloads decoded never add up to more than
    the file: a hostile file cannot multiply the work by repeating references.
    """
    found = [(sg.index, op) for sg in model.subgraphs for op in sg.operators if op.is_edgetpu]
    if not found:
        return None
    cpu_ops = sum(len(sg.operators) for sg in model.subgraphs) - len(found)
    if data is None:
        data = model.source
    base = 0
    if data is None:
        spans = [op.custom_options_span for _, op in found if op.custom_options_span]
        base = min((start for start, _ in spans), default=0)
        end = min(max((start + n for start, n in spans), default=0), model.file_size)
        try:
            data = _read_region(model, base, max(base, end))
        except OSError as e:
            reason = f"cannot reopen the model file to read the Edge TPU package: {e.strerror or e}"
            return CompiledInfo(tuple(_broken(sg, op, reason) for sg, op in found), cpu_ops)
    decoder = _Decoder(data, base, model.file_size if model.source is None else len(data))
    return CompiledInfo(tuple(decoder.op(sg, op) for sg, op in found), cpu_ops)


def _read_region(model: Model, start: int, end: int) -> bytes:
    """Bytes [start, end) of the model's file, read again; OSError when the file changed meanwhile."""
    with reopen(model) as f:
        f.seek(start)
        data = f.read(end - start)
    if len(data) != end - start:
        raise OSError("the file changed since it was read")
    return data


def _broken(subgraph: int, op: Operator, problem: str) -> EdgeTpuOp:
    return EdgeTpuOp(subgraph, op.index, None, None, (), None, None, problem)


class _Decoder:
    """Decodes edgetpu-custom-ops' options from `data` (the file's bytes from offset `base`), each distinct
    payload once, within a total of `limit` bytes (the file size)."""

    def __init__(self, data: Buffer, base: int, limit: int) -> None:
        self.data = data
        self.base = base
        self.left = limit
        self.done: dict[tuple[int, int], EdgeTpuOp] = {}

    def op(self, subgraph: int, op: Operator) -> EdgeTpuOp:
        span = op.custom_options_span
        if span is None or span[1] == 0:
            return _broken(subgraph, op, "the edgetpu-custom-op has no custom options (no Edge TPU package)")
        known = self.done.get(span)
        if known is not None:
            return replace(known, subgraph=subgraph, op=op.index)
        start, length = span[0] - self.base, span[1]
        if start < 0 or start + length > len(self.data):
            return _broken(subgraph, op, "the custom options lie outside the file")
        if length > self.left:
            return _broken(subgraph, op, "the custom options overlap other edgetpu-custom-ops' (decoding them "
                                         "would read more than the whole file)")
        self.left -= length
        options = memoryview(self.data)[start:start + length]
        try:
            decoded = decode_options(options, subgraph, op.index)
        except ModelError as e:
            decoded = _broken(subgraph, op, str(e))
        finally:
            options.release()
        self.done[span] = decoded
        return decoded


def decode_op(data: Buffer, subgraph: int, op: Operator) -> EdgeTpuOp:
    """Decode one edgetpu-custom-op from the model file's bytes."""
    return _Decoder(data, 0, len(data)).op(subgraph, op)


def decode_options(options: Buffer, subgraph: int = 0, op: int = 0) -> EdgeTpuOp:
    """Decode the FlexBuffer options map of an edgetpu-custom-op and the package inside; raises ModelError."""
    values = lookup(options, (KEY_VERSION, KEY_CHIP, KEY_PACKAGE, KEY_PREFERENCE, KEY_CHIP_IDS),
                    "custom options (not an Edge TPU FlexBuffer map)")
    if values is None:
        raise ModelError("custom options are not a FlexBuffer map: not written by edgetpu_compiler")
    blob = values.get(KEY_PACKAGE)
    if not isinstance(blob, Span):
        raise ModelError("custom options have no Edge TPU package (key \"4\")")
    chip = values.get(KEY_CHIP)
    chip_ids = values.get(KEY_CHIP_IDS, [])
    version = values.get(KEY_VERSION)
    preference = values.get(KEY_PREFERENCE)
    view = memoryview(options)[blob.start:blob.start + blob.length]
    try:
        package = decode_package(view)
    finally:
        view.release()
    return EdgeTpuOp(
        subgraph, op,
        version if isinstance(version, int) else None,
        preference if isinstance(preference, int) else None,
        tuple(c for c in chip_ids if isinstance(c, int)) if isinstance(chip_ids, list) else (),
        chip.text(options, 64) if isinstance(chip, Span) else None,
        package,
    )


def _nested(parent: Table, slot: int, what: str) -> Reader | None:
    """A [ubyte] field holding another flatbuffer, as a Reader over the same memory (no copy)."""
    span = parent.vector_span(slot, 1)
    if span is None:
        return None
    start, count = span
    return Reader(memoryview(parent.buf.data)[start:start + count], what)


def _text(table: Table, slot: int, limit: int = MAX_TEXT) -> str:
    """A string field, cut to `limit` characters."""
    value = table.string(slot) or ""
    return value if len(value) <= limit else value[:limit] + f"... ({len(value)} characters)"


def decode_package(data: Buffer, depth: int = 0) -> Package:
    """Decode a DWN1 package (libedgetpu executable.fbs, field order in COMPILER.md 7.1).

    An executable listed several times is decoded and listed once; the executables decoded never add up to
    more than the package (overlapping ones are an error)."""
    if len(data) < 8 or bytes(data[4:8]) != PACKAGE_IDENTIFIER:
        ident = bytes(data[4:8]) if len(data) >= 8 else b""
        raise ModelError(f"Edge TPU package has file identifier {ident!r}, expected b'DWN1'")
    r = Reader(memoryview(data), "Edge TPU package")
    root = r.root()
    multi = _nested(root, 1, "Edge TPU multi-executable")
    executables: dict[tuple[int, int], Executable] = {}
    if multi is not None:
        me = multi.root()
        left = len(data)
        for i, (start, count) in enumerate(_blob_vector(me, 0)):
            if (start, count) in executables:
                continue
            left -= count
            if left < 0:
                raise ModelError("corrupt Edge TPU package: its executables overlap (more bytes than the package)")
            blob = memoryview(me.buf.data)[start:start + count]
            executables[start, count] = decode_executable(Reader(blob, f"Edge TPU executable {i}"))
    nested: list[Package] = []
    tables = root.tables(6)
    if tables and depth == 0:
        seen: set[int] = set()
        for t in tables[:MAX_NESTED_PACKAGES]:
            span = t.vector_span(0, 1)
            if span is None or span[0] in seen:
                continue
            seen.add(span[0])
            sub = _nested(t, 0, "nested Edge TPU package")
            if sub is not None:
                nested.append(decode_package(sub.data, depth + 1))
    return Package(
        min_runtime_version=root.i32(0),
        compiler_version=_text(root, 4),
        virtual_chip_id=root.i32(5),
        model_identifier=_text(root, 7),
        signature_bytes=root.vector_length(2),
        keypair_version=root.i32(3),
        executables=tuple(executables.values()),
        chip_packages=tuple(nested),
    )


def _blob_vector(table: Table, slot: int) -> list[tuple[int, int]]:
    """A [string] field whose strings are binary flatbuffers, as (start, length) in the table's buffer."""
    at = table.offset(slot)
    if not at:
        return []
    r = table.buf
    start, count = r.vector_span(r.indirect(at), 4)
    return [r.vector_span(r.indirect(start + 4 * i), 1) for i in range(count)]


def decode_executable(r: Reader) -> Executable:
    t = r.root()
    kind = int(t.scalar(13, "h", 0))  # type: ignore[call-overload]
    return Executable(
        type=EXECUTABLE_TYPES.get(kind, f"UNKNOWN_{kind}"),
        name=_text(t, 1),
        version=t.i32(0),
        batch_size=t.i32(3),
        parameter_bytes=t.vector_length(6),
        scratch_bytes=t.i32(4),
        narrow_memory_bytes_per_tile=t.i32(12),
        caching_token=int(t.scalar(14, "Q", 0)),  # type: ignore[call-overload]
        chip=_text(t, 10),
        estimated_cycles=int(t.scalar(16, "q", 0)) or t.i32(11),  # type: ignore[call-overload]
        instruction_bitstreams=t.vector_length(5, 4),
        use_tpu_dram_for_parameters=bool(t.scalar(15, "?", False)),
        inputs=tuple(decode_layer(x) for x in t.tables(8)),
        outputs=tuple(decode_layer(x) for x in t.tables(9)),
    )


def _float32(value: float) -> float:
    """The shortest decimal that reads back as the same float32 (0.05, not 0.05000000074505806)."""
    packed = struct.pack("<f", value)
    for digits in range(6, 10):
        short = float(f"{value:.{digits}g}")
        if struct.pack("<f", short) == packed:
            return short
    return value


def decode_layer(t: Table) -> Layer:
    numerics = t.table(5)
    dtype = int(t.scalar(6, "h", 0))  # type: ignore[call-overload]
    return Layer(
        name=_text(t, 0, MAX_LAYER_NAME),
        size_bytes=t.i32(1),
        dims=(t.i32(2), t.i32(3), t.i32(4)),
        data_type=DATA_TYPES.get(dtype, f"UNKNOWN_{dtype}"),
        zero_point=numerics.i32(0) if numerics is not None else 0,
        scale=_float32(numerics.scalar(1, "f", 0.0)) if numerics is not None else 0.0,  # type: ignore[arg-type]
        execution_count=t.i32(9, 1),
    )


def compiler_version_text(versions: Sequence[str | None]) -> str:
    """The packages' compiler version field in words: compilers mostly write a bare `cl/` (no changelist) there."""
    if not any(versions):
        return "unknown (no readable package)"
    named = [v for v in versions if v and v != "cl/"]
    if not named:
        return "not recorded (the package says 'cl/')"
    return ", ".join(f"changelist {v[3:]}" if v.startswith("cl/") else v for v in named)


__all__ = ["CompiledInfo", "compiler_version_text",
           "EdgeTpuOp", "Executable", "Layer", "Package", "decode_options", "decode_package",
           "inspect"]
