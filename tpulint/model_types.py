"""The typed, immutable model of a .tflite file: Model, Subgraph, Operator, Tensor, Quantization, Signature."""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass, field
from math import prod
from operator import attrgetter
from typing import Any, Callable, Iterator, Mapping, Sequence

from tpulint import _schema


INTEGER_8BIT = frozenset({"int8", "uint8"})
# A generous bound (TFLite kernels handle 4 to 6 dimensions): with it, the element count of any tensor stays a
# number every later stage can compute with (2^992 at most), whatever the file claims.
MAX_RANK = 32
EDGETPU_CUSTOM_CODE = "edgetpu-custom-op"


@dataclass(frozen=True, slots=True)
class Quantization:
    """Affine quantization of a tensor: one scale/zero point per tensor, or per channel along `axis`.

    Held as the file's bytes (little-endian float32 scales, int64 zero points), decoded when read: no rule reads
    the values, and a real model's per-channel parameters are tens of thousands of numbers (an SSD with 378
    quantized tensors has 47,036 scales, 15% of its read time as Python floats and ints).
    """

    scale_bytes: bytes
    zero_point_bytes: bytes
    axis: int = 0

    @classmethod
    def of(cls, scales: Sequence[float], zero_points: Sequence[int], axis: int = 0) -> "Quantization":
        """The quantization with these values (scales stored as float32, as in a .tflite file)."""
        return cls(struct.pack(f"<{len(scales)}f", *scales), struct.pack(f"<{len(zero_points)}q", *zero_points),
                   axis)

    @property
    def scales(self) -> tuple[float, ...]:
        return struct.unpack(f"<{len(self.scale_bytes) // 4}f", self.scale_bytes)

    @property
    def zero_points(self) -> tuple[int, ...]:
        return struct.unpack(f"<{len(self.zero_point_bytes) // 8}q", self.zero_point_bytes)

    @property
    def per_channel(self) -> bool:
        return len(self.scale_bytes) > 4


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
class SubgraphColumns:
    """A subgraph's tensors and operators as numpy columns: flat int32 vectors with offsets (vector i is
    `values[offsets[i]:offsets[i + 1]]`) and one array per scalar field, in index order."""

    shapes: Any  # int32, all tensor shapes end to end
    shape_offsets: Any  # int64, n_tensors + 1
    dtype_code: Any  # int16 TensorType code per tensor
    is_constant: Any  # bool per tensor: its buffer holds data
    is_variable: Any  # bool per tensor
    has_signature: Any  # bool per tensor: a shape_signature is present
    opcode_index: Any  # int32 operator-code index per op
    inputs: Any  # int32, all op inputs end to end (-1: omitted)
    input_offsets: Any  # int64, n_ops + 1
    outputs: Any  # int32
    output_offsets: Any  # int64, n_ops + 1

    def operand(self, ops: Any, position: int) -> Any:
        """Per op of the index array `ops`: its input tensor at `position`, or -1 (omitted, or fewer inputs)."""
        import numpy as np

        start = self.input_offsets[ops]
        present = self.input_offsets[ops + 1] - start > position
        out = np.full(len(ops), -1, np.int64)
        out[present] = self.inputs[start[present] + position]
        return out

    def first_output(self, ops: Any) -> Any:
        """Per op of `ops`: its first output tensor, or -1 when it has none."""
        import numpy as np

        start = self.output_offsets[ops]
        present = self.output_offsets[ops + 1] > start
        out = np.full(len(ops), -1, np.int64)
        out[present] = self.outputs[start[present]]
        return out

    def by_dtype(self, value: Callable[[str], Any], tensors: Any = None, dtype: Any = bool) -> Any:
        """`value(dtype name)` per tensor of `tensors` (all when None; -1 allowed, its answer meaningless),
        computed once per TensorType code; unknown codes are named "type<code>", as the reader names them."""
        import numpy as np

        table = np.array([value(_schema.TENSOR_TYPES.get(code) or f"type{code}") for code in range(-128, 128)], dtype)
        codes = self.dtype_code if tensors is None else self.dtype_code[tensors]
        return table[codes.astype(np.int64) + 128]

    def dim(self, tensors: Any, from_end: int, default: int) -> Any:
        """Per tensor of `tensors` (all >= 0): its shape's dimension `from_end` from the end (1: the last), or
        `default` where its rank is smaller."""
        import numpy as np

        end = self.shape_offsets[tensors + 1]
        present = end - self.shape_offsets[tensors] >= from_end
        out = np.full(len(tensors), default, np.int64)
        out[present] = self.shapes[end[present] - from_end]
        return out


# Below this many tensors, loops over a subgraph's objects are faster than numpy's per-call cost.
COLUMNS_FROM_TENSORS = 256


def columns_to_use(sg: Subgraph) -> SubgraphColumns | None:
    """The subgraph's columns when the reader kept them and it is large enough for array math to pay, else None."""
    return sg.columns if sg.columns is not None and len(sg.tensors) >= COLUMNS_FROM_TENSORS else None


def opcode_names(sg: Subgraph, columns: SubgraphColumns) -> list[str]:
    """Per operator-code index (the values of `columns.opcode_index`): the opcode of the ops using it, "" for
    an entry no op of the subgraph uses."""
    import numpy as np

    codes, first = np.unique(columns.opcode_index, return_index=True)
    names = [""] * (int(codes[-1]) + 1 if len(codes) else 0)
    operators = sg.operators
    for code, i in zip(codes.tolist(), first.tolist()):
        names[code] = operators[i].opcode
    return names


@dataclass(frozen=True, slots=True)
class Subgraph:
    """A TFLite subgraph: tensors, operators in execution order, and its input/output tensor indices."""

    index: int
    name: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    # The columnar decoder's arrays (None from the object decoder): the analysis core computes over them.
    columns: SubgraphColumns | None = field(default=None, compare=False, repr=False)

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
    _compiled: bool | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def main(self) -> Subgraph:
        return self.subgraphs[0]

    @property
    def is_compiled(self) -> bool:
        if self._compiled is None:  # asked by several rules and the pipeline: looked up once
            object.__setattr__(self, "_compiled", any(
                EDGETPU_CUSTOM_CODE in map(_custom_code, sg.operators)  # the common "no" at C speed
                and any(op.custom_code == EDGETPU_CUSTOM_CODE and op.opcode == "CUSTOM" for op in sg.operators)
                for sg in self.subgraphs))
        return self._compiled  # type: ignore[return-value]



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

