"""Hand-built hostile inputs (issue #12): FlexBuffer DAGs, shared Edge TPU package parts, hostile constants and
rank-0 tensors; used by tests/test_hostile_input.py and as generators by bench/fuzz.py."""

from __future__ import annotations

import random
import struct
from typing import Callable

import flatbuffers
import numpy as np

from tpulint.testing import ModelBuilder

# FlexBuffer value types (tpulint.flexbuffer) and the bit-width code of 4-byte values.
INT, KEY, STRING, MAP, VECTOR, VECTOR_INT = 1, 4, 5, 9, 10, 11
W4 = 2
EDGETPU = "edgetpu-custom-op"


class Flex:
    """A FlexBuffer written by hand, 4-byte values throughout, so that children can be shared (a DAG)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def _u32(self, value: int) -> None:
        self.buf += struct.pack("<I", value & 0xFFFFFFFF)

    def key(self, text: str) -> int:
        pos = len(self.buf)
        self.buf += text.encode() + b"\0"
        return pos

    def string(self, data: bytes) -> int:
        self._u32(len(data))
        pos = len(self.buf)
        self.buf += data + b"\0"
        return pos

    def _elements(self, elements: list[tuple[int, int]]) -> None:
        """Each element: (value type, target position for an offset type, else the scalar value)."""
        for kind, value in elements:
            self._u32(len(self.buf) - value if kind not in (INT,) else value)
        self.buf += bytes((kind << 2) | W4 for kind, _ in elements)

    def vector(self, elements: list[tuple[int, int]]) -> int:
        self._u32(len(elements))
        pos = len(self.buf)
        self._elements(elements)
        return pos

    def int_vector(self, values: list[int]) -> int:
        self._u32(len(values))
        pos = len(self.buf)
        for v in values:
            self._u32(v)
        return pos

    def map(self, items: list[tuple[int, int, int]]) -> int:
        """items: (key position, value type, value); sorted by key bytes by the caller."""
        self._u32(len(items))
        keys = len(self.buf)
        for key_pos, _, _ in items:
            self._u32(len(self.buf) - key_pos)
        self._u32(len(self.buf) - keys)
        self._u32(4)
        self._u32(len(items))
        pos = len(self.buf)
        self._elements([(kind, value) for _, kind, value in items])
        return pos

    def finish(self, kind: int, pos: int) -> bytes:
        self._u32(len(self.buf) - pos)
        self.buf += bytes(((kind << 2) | W4, 4))
        return bytes(self.buf)

    def dag(self, levels: int, fan_out: int) -> int:
        """`levels` vectors of `fan_out` elements that all point at the vector below: fan_out**levels leaves."""
        node = self.vector([(INT, 7)])
        for _ in range(levels - 1):
            node = self.vector([(VECTOR, node)] * fan_out)
        return node


def fanout_bomb(levels: int = 16, fan_out: int = 4, under_key: str | None = None) -> bytes:
    """The FlexBuffer DAG, as the whole buffer or (under_key) as one value of an options map."""
    f = Flex()
    node = f.dag(levels, fan_out)
    if under_key is None:
        return f.finish(VECTOR, node)
    key = f.key(under_key)
    return f.finish(MAP, f.map([(key, VECTOR, node)]))


def edgetpu_options(package: bytes, keys: int = 0) -> bytes:
    """The edgetpu-custom-op options map with `package` under key "4"; `keys` > 0 adds a map whose key vector
    holds that many references to one key string (a key vector amplification)."""
    f = Flex()
    names = {k: f.key(k) for k in ("1", "4", "5", "6")}
    pkg = f.string(package)
    chips = f.int_vector([18])
    items = [(names["1"], INT, 0), (names["4"], STRING, pkg), (names["5"], INT, 0xFFFFFFFF),
             (names["6"], VECTOR_INT, chips)]
    if keys:
        extra = f.key("9")
        items += [(extra, INT, i) for i in range(keys)]
    return f.finish(MAP, f.map(items))


def executable(name: str = "model", kind: int = 2, parameter_bytes: int = 0) -> bytes:
    """A DarwiNN executable with a name and a parameter vector of `parameter_bytes` zeros."""
    b = flatbuffers.Builder(1024)
    name_at = b.CreateString(name)
    params = b.CreateByteVector(bytes(parameter_bytes))
    b.StartObject(17)
    b.PrependUOffsetTRelativeSlot(1, name_at, 0)
    b.PrependUOffsetTRelativeSlot(6, params, 0)
    b.PrependInt16Slot(13, kind, 0)
    b.Finish(b.EndObject())
    return bytes(b.Output())


def package(executables: list[bytes], compiler: str = "cl/123", repeat: int = 1) -> bytes:
    """A DWN1 package; `repeat` lists every executable that many times (one copy, many references)."""
    me = flatbuffers.Builder(1024)
    strings = [me.CreateString(x) for x in executables]
    me.StartVector(4, len(strings) * repeat, 4)
    for off in reversed(strings * repeat):
        me.PrependUOffsetTRelative(off)
    vec = me.EndVector()
    me.StartObject(1)
    me.PrependUOffsetTRelativeSlot(0, vec, 0)
    me.Finish(me.EndObject())
    b = flatbuffers.Builder(1024)
    multi = b.CreateByteVector(bytes(me.Output()))
    version = b.CreateString(compiler)
    b.StartObject(8)
    b.PrependInt32Slot(0, 14, 0)
    b.PrependUOffsetTRelativeSlot(1, multi, 0)
    b.PrependUOffsetTRelativeSlot(4, version, 0)
    b.Finish(b.EndObject(), file_identifier=b"DWN1")
    return bytes(b.Output())


def compiled_model(options: bytes, ops: int = 1) -> bytes:
    """A compiled model of `ops` edgetpu-custom-ops that all point at one copy of `options`."""
    b = ModelBuilder("Exported from Subgraph.")
    b.tensor("input", [1, 8], "int8", quant=(0.05, -128))
    for i in range(ops):
        b.tensor(f"out{i}", [1, 8], "int8", quant=(0.25, 3))
        b.op("CUSTOM", ["input"], [f"out{i}"], custom_code=EDGETPU, custom_options=options)
    return b.io(["input"], [f"out{i}" for i in range(ops)]).build()


# --- valid models whose values or shapes are hostile --------------------------------------------------------

HOSTILE_FLOATS = (float("inf"), float("-inf"), float("nan"), 1e30, -1e30, 3.5)
HOSTILE_INTS = (2**31 - 1, -(2**31), -1, 0, 99)

# Every op whose check reads a constant operand: (opcode, input shapes, constant operand index, its shape,
# output shape, builtin options).
CONSTANT_READERS: tuple[tuple[str, list[list[int]], int, list[int], list[int], dict], ...] = (
    ("MEAN", [[1, 4, 4, 8]], 1, [2], [1, 1, 1, 8], {}),
    ("SUM", [[1, 4, 4, 8]], 1, [1], [1, 4, 8], {}),
    ("REDUCE_MAX", [[1, 4, 4, 8]], 1, [1], [1, 4, 4], {}),
    ("REDUCE_MIN", [[1, 4, 4, 8]], 1, [1], [1, 4, 4], {}),
    ("REDUCE_PROD", [[1, 4, 4, 8]], 1, [1], [1, 4, 4], {}),
    ("PAD", [[1, 4, 4, 8]], 1, [4, 2], [1, 6, 6, 8], {}),
    ("PADV2", [[1, 4, 4, 8]], 1, [4, 2], [1, 6, 6, 8], {}),
    ("MIRROR_PAD", [[1, 4, 4, 8]], 1, [4, 2], [1, 6, 6, 8], {}),
    ("SPLIT", [[1, 4, 4, 8]], 0, [1], [1, 4, 4, 4], {"num_splits": 2}),
    ("SPLIT_V", [[1, 4, 4, 8]], 2, [1], [1, 4, 4, 4], {"num_splits": 2}),
    ("STRIDED_SLICE", [[1, 4, 4, 8], [4], [4]], 3, [4], [1, 2, 2, 8], {}),
    ("CONCATENATION", [[1, 4, 4, 8]], 1, [1, 4, 4, 8], [1, 4, 4, 16], {"axis": 3}),
    ("RESHAPE", [[1, 4, 4, 8]], 1, [2], [16, 8], {}),
    ("TRANSPOSE", [[1, 4, 4, 8]], 1, [4], [1, 8, 4, 4], {}),
    ("TILE", [[1, 4, 4, 8]], 1, [4], [1, 8, 8, 8], {}),
    ("RESIZE_BILINEAR", [[1, 4, 4, 8]], 1, [2], [1, 8, 8, 8], {}),
    ("GATHER", [[1, 4, 4, 8]], 1, [2], [2, 4, 4, 8], {}),
)

# Every op a check looks at, for rank-0 (scalar) tensors in every operand and output.
SCALAR_OPS = ("ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM", "RELU", "RELU6", "LOGISTIC", "TANH", "SOFTMAX", "PAD",
              "MEAN", "SUM", "REDUCE_MAX", "RESHAPE", "SQUEEZE", "CONCATENATION", "FULLY_CONNECTED", "CONV_2D",
              "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "TRANSPOSE", "SPLIT", "STRIDED_SLICE",
              "QUANTIZE", "DEQUANTIZE", "RESIZE_BILINEAR", "L2_NORMALIZATION", "PACK", "GATHER", "HARD_SWISH",
              "LEAKY_RELU", "PRELU", "BATCH_MATMUL", "TRANSPOSE_CONV", "SLICE", "TILE")


def hostile_constant(rng: random.Random) -> tuple[bytes, str]:
    """A valid model: one op whose constant operand holds inf, NaN, huge or negative values (float32, int32
    or int64, at random)."""
    opcode, shapes, at, const_shape, out_shape, options = rng.choice(CONSTANT_READERS)
    dtype = rng.choice(("float32", "int32", "int64"))
    n = int(np.prod(const_shape))
    if dtype == "float32":
        values = np.array([rng.choice(HOSTILE_FLOATS) for _ in range(n)], np.float32)
    else:
        values = np.array([rng.choice(HOSTILE_INTS) for _ in range(n)], np.int64).astype(dtype)
    b = ModelBuilder()
    names = []
    for i, shape in enumerate(shapes):
        b.tensor(f"in{i}", shape, "int8", quant=(0.5, 0))
        names.append(f"in{i}")
    b.tensor("const", const_shape, dtype, data=values.reshape(const_shape))
    names.insert(min(at, len(names)), "const")
    outputs = ["out"] if opcode not in ("SPLIT", "SPLIT_V") else ["out", "out2"]
    for name in outputs:
        b.tensor(name, out_shape, "int8", quant=(0.5, 0))
    b.op(opcode, names, outputs, **options)
    b.io([n for n in names if n != "const"], outputs)
    return b.build(), f"{opcode} with {dtype} constant {values.tolist()}"


def scalar_model(rng: random.Random) -> tuple[bytes, str]:
    """A valid model: one op (of those the checks look at) with rank-0 tensors among its inputs and outputs."""
    opcode = rng.choice(SCALAR_OPS)
    b = ModelBuilder()
    inputs = []
    for i in range(rng.randint(1, 3)):
        shape = [] if rng.random() < 0.6 else rng.choice(([1], [1, 4], [1, 4, 4, 8]))
        constant = rng.random() < 0.3
        dtype = rng.choice(("int8", "int8", "int32", "float32"))
        data = np.zeros(shape or [], dtype=dtype) if constant else None
        b.tensor(f"in{i}", shape, dtype, quant=(0.5, 0) if dtype == "int8" else None, data=data)
        inputs.append(f"in{i}")
    b.tensor("out", [] if rng.random() < 0.7 else [1, 4], "int8", quant=(0.5, 0))
    b.op(opcode, inputs, ["out"])
    b.io([n for n in inputs], ["out"])
    return b.build(), f"{opcode} with rank-0 tensors"


def flexbuffer_dag(rng: random.Random) -> tuple[bytes, str]:
    """A compiled model whose options are a FlexBuffer DAG (the root, or under one of the Edge TPU keys)."""
    levels, fan_out = rng.randint(2, 24), rng.randint(2, 6)
    key = rng.choice((None, "1", "4", "5", "6", "7"))
    return compiled_model(fanout_bomb(levels, fan_out, key)), f"FlexBuffer DAG {fan_out}^{levels} under {key}"


def shared_package(rng: random.Random) -> tuple[bytes, str]:
    """A compiled model whose package parts are repeated: many ops sharing one payload, one executable listed
    many times, long strings in the shared parts, or a key vector of many references to one key."""
    name = "n" * rng.choice((1, 100, 5000, 100_000))
    exe = executable(name, rng.choice((0, 1, 2)), rng.choice((0, 64)))
    pkg = package([exe], compiler="c" * rng.choice((6, 20_000)), repeat=rng.choice((1, 2, 300)))
    keys = rng.choice((0, 0, 20_000))
    ops = rng.choice((1, 2, 300))
    return compiled_model(edgetpu_options(pkg, keys), ops), (
        f"{ops} ops sharing a package of {len(pkg)} bytes, {keys} repeated keys")


GENERATORS: tuple[Callable[[random.Random], tuple[bytes, str]], ...] = (
    flexbuffer_dag, shared_package, hostile_constant, scalar_model)

__all__ = ["Flex", "GENERATORS", "compiled_model", "edgetpu_options", "executable", "fanout_bomb", "package"]
