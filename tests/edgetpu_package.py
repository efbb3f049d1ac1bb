"""Build Edge TPU packages (DWN1, field layout of COMPILER.md 7.1) and compiled TFLite models for the tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import flatbuffers
from flatbuffers import flexbuffers

from tpulint.testing import ModelBuilder


@dataclass
class LayerSpec:
    name: str
    dims: tuple[int, int, int]
    zero_point: int = 0
    scale: float = 0.5
    data_type: int = 8  # SIGNED_FIXED_POINT8


@dataclass
class ExecutableSpec:
    type: int  # 0 STAND_ALONE, 1 PARAMETER_CACHING, 2 EXECUTION_ONLY
    parameter_bytes: int
    name: str = "model"
    token: int = 0
    scratch: int = 0
    narrow: int = 0
    chip: str = "beagle"
    bitstreams: int = 1
    inputs: list[LayerSpec] = field(default_factory=list)
    outputs: list[LayerSpec] = field(default_factory=list)


def _layer(b: flatbuffers.Builder, spec: LayerSpec) -> int:
    name = b.CreateString(spec.name)
    b.StartObject(2)  # NumericsConstants
    b.PrependInt32Slot(0, spec.zero_point, 0)
    b.PrependFloat32Slot(1, spec.scale, 0.0)
    numerics = b.EndObject()
    b.StartObject(12)
    b.PrependUOffsetTRelativeSlot(0, name, 0)
    b.PrependInt32Slot(1, spec.dims[0] * spec.dims[1] * spec.dims[2], 0)
    b.PrependInt32Slot(2, spec.dims[0], 0)
    b.PrependInt32Slot(3, spec.dims[1], 0)
    b.PrependInt32Slot(4, spec.dims[2], 0)
    b.PrependUOffsetTRelativeSlot(5, numerics, 0)
    b.PrependInt16Slot(6, spec.data_type, 0)
    return b.EndObject()


def _table_vector(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def executable(spec: ExecutableSpec) -> bytes:
    b = flatbuffers.Builder(1024)
    name = b.CreateString(spec.name)
    chip = b.CreateString(spec.chip)
    params = b.CreateByteVector(bytes(spec.parameter_bytes))
    bitstreams = []
    for _ in range(spec.bitstreams):
        b.StartObject(2)
        bitstreams.append(b.EndObject())
    bitstream_vec = _table_vector(b, bitstreams)
    ins = _table_vector(b, [_layer(b, x) for x in spec.inputs])
    outs = _table_vector(b, [_layer(b, x) for x in spec.outputs])
    b.StartObject(17)
    b.PrependInt32Slot(0, 0, 0)
    b.PrependUOffsetTRelativeSlot(1, name, 0)
    b.PrependInt32Slot(3, 1, 0)
    b.PrependInt32Slot(4, spec.scratch, 0)
    b.PrependUOffsetTRelativeSlot(5, bitstream_vec, 0)
    b.PrependUOffsetTRelativeSlot(6, params, 0)
    b.PrependUOffsetTRelativeSlot(8, ins, 0)
    b.PrependUOffsetTRelativeSlot(9, outs, 0)
    b.PrependUOffsetTRelativeSlot(10, chip, 0)
    b.PrependInt32Slot(12, spec.narrow, 0)
    b.PrependInt16Slot(13, spec.type, 0)
    b.PrependUint64Slot(14, spec.token, 0)
    b.Finish(b.EndObject())
    return bytes(b.Output())


def package(executables: list[ExecutableSpec], min_runtime: int = 14, compiler: str = "cl/123",
            identifier: bytes = b"DWN1") -> bytes:
    blobs = [executable(e) for e in executables]
    me = flatbuffers.Builder(1024)
    strings = [me.CreateString(x) for x in blobs]
    vec = _table_vector(me, strings)
    me.StartObject(1)
    me.PrependUOffsetTRelativeSlot(0, vec, 0)
    me.Finish(me.EndObject())
    b = flatbuffers.Builder(1024)
    multi = b.CreateByteVector(bytes(me.Output()))
    signature = b.CreateByteVector(b"\x01" * 32)
    version = b.CreateString(compiler)
    b.StartObject(8)
    b.PrependInt32Slot(0, min_runtime, 0)
    b.PrependUOffsetTRelativeSlot(1, multi, 0)
    b.PrependUOffsetTRelativeSlot(2, signature, 0)
    b.PrependUOffsetTRelativeSlot(4, version, 0)
    b.Finish(b.EndObject(), file_identifier=identifier)
    return bytes(b.Output())


def custom_options(pkg: bytes, chip_ids: tuple[int, ...] = (18,), as_blob: bool = False) -> bytes:
    """The edgetpu-custom-op FlexBuffer map (libedgetpu custom_op_data.cc): the package under key "4"."""
    fb = flexbuffers.Builder()
    with fb.Map():
        fb.Int("1", 0)
        fb.Key("4")
        if as_blob:
            fb.Blob(pkg)
        else:  # the compiler stores the binary package as a FlexBuffer string
            fb._WriteBlob(pkg, append_zero=True, type_=flexbuffers.Type.STRING)
        fb.Int("5", -1)
        fb.Key("6")
        fb.TypedVectorFromElements(list(chip_ids))
        with fb.Vector("7"):
            pass
    return bytes(fb.Finish())


def standard_package(cached: int = 3000, streamed: int = 500, token: int = 0x1234_5678_9ABC_DEF0,
                     min_runtime: int = 14) -> bytes:
    """A PARAMETER_CACHING + EXECUTION_ONLY pair like every compiler-16 output."""
    io = dict(inputs=[LayerSpec("input", (8, 8, 3), -128, 0.05)], outputs=[LayerSpec("logits", (1, 1, 10), 3, 0.25)])
    return package([
        ExecutableSpec(2, streamed, "model", token, scratch=4096, narrow=2048, **io),
        ExecutableSpec(1, cached, "Unknown", token),
    ], min_runtime=min_runtime)


def compiled_model(options: bytes, cpu_tail: bool = True) -> bytes:
    """A compiled model: one edgetpu-custom-op (input -> logits), then (cpu_tail) a DEQUANTIZE left on the CPU."""
    return compiled_builder(options, cpu_tail).build()


def compiled_builder(options: bytes, cpu_tail: bool = True) -> ModelBuilder:
    b = ModelBuilder("Exported from Subgraph.")
    b.tensor("input", [1, 8, 8, 3], "int8", quant=(0.05, -128))
    b.tensor("logits", [1, 10], "int8", quant=(0.25, 3))
    b.op("CUSTOM", ["input"], ["logits"], custom_code="edgetpu-custom-op", custom_options=options)
    if cpu_tail:
        b.tensor("probs", [1, 10], "float32")
        b.op("DEQUANTIZE", ["logits"], ["probs"])
    return b.io(["input"], ["probs" if cpu_tail else "logits"])


__all__ = ["ExecutableSpec", "LayerSpec", "compiled_builder", "compiled_model", "custom_options", "executable", "package",
           "standard_package"]
