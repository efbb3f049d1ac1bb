"""ModelBuilder: make small .tflite models in code, for tests, fixtures and benchmarks (uses the `tflite` builders);
array_paths(): analyse them over the reader's columns however small they are."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Sequence

import flatbuffers
import numpy as np
import tflite

from tpulint import _schema

_TYPE_CODES = {name: code for code, name in _schema.TENSOR_TYPES.items()}
_OP_CODES = {name: code for code, name in _schema.BUILTIN_OPERATORS.items()}
_OPTION_CODES = {name: code for code, name in _schema.BUILTIN_OPTIONS.items()}
_ACTIVATIONS = {name: code for code, name in _schema.ACTIVATION.items()}
_PADDINGS = {name: code for code, name in _schema.PADDING.items()}

# Which options table each builtin uses (only the ops whose options tpulint reads or tests set).
OPTIONS_OF = {
    "CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions", "L2_POOL_2D": "Pool2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions", "SOFTMAX": "SoftmaxOptions",
    "CONCATENATION": "ConcatenationOptions", "ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions",
    "DIV": "DivOptions", "RESHAPE": "ReshapeOptions", "SQUEEZE": "SqueezeOptions",
    "STRIDED_SLICE": "StridedSliceOptions", "MEAN": "ReducerOptions", "SUM": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions", "REDUCE_MIN": "ReducerOptions", "REDUCE_PROD": "ReducerOptions",
    "RESIZE_BILINEAR": "ResizeBilinearOptions", "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighborOptions",
    "PACK": "PackOptions", "UNPACK": "UnpackOptions", "SPLIT": "SplitOptions", "SPLIT_V": "SplitVOptions",
    "TRANSPOSE_CONV": "TransposeConvOptions", "L2_NORMALIZATION": "L2NormOptions",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "UnidirectionalSequenceLSTMOptions", "LSTM": "LSTMOptions",
    "BIDIRECTIONAL_SEQUENCE_LSTM": "BidirectionalSequenceLSTMOptions", "SPACE_TO_DEPTH": "SpaceToDepthOptions",
    "DEPTH_TO_SPACE": "DepthToSpaceOptions", "GATHER": "GatherOptions", "CAST": "CastOptions",
    "LEAKY_RELU": "LeakyReluOptions", "ARG_MAX": "ArgMaxOptions", "WHILE": "WhileOptions", "IF": "IfOptions",
    "CALL_ONCE": "CallOnceOptions", "SHAPE": "ShapeOptions", "BATCH_MATMUL": "BatchMatMulOptions",
}

QuantSpec = Any  # (scale, zero_point) | (scales, zero_points, axis) | None


@dataclass
class _Tensor:
    name: str
    shape: list[int]
    dtype: str
    quant: QuantSpec = None
    data: bytes | None = None
    shape_signature: list[int] | None = None
    is_variable: bool = False
    buffer_index: int | None = None


@dataclass
class _Op:
    opcode: str
    inputs: list[str | None]
    outputs: list[str]
    version: int
    custom_code: str | None
    custom_options: bytes | None
    options: dict[str, Any]
    options_type: str | None
    intermediates: list[str] = field(default_factory=list)
    opcode_index: int | None = None


@dataclass
class _Subgraph:
    name: str = ""
    tensors: dict[str, _Tensor] = field(default_factory=dict)
    ops: list[_Op] = field(default_factory=list)
    inputs: list[str] | None = None
    outputs: list[str] | None = None


class ModelBuilder:
    """Builds a TFLite flatbuffer from named tensors and ops; the same calls always give the same bytes.

    >>> b = ModelBuilder()
    >>> b.tensor("in", [1, 8, 8, 3], "int8", quant=(0.5, 0))
    >>> b.op("RELU", ["in"], ["out"]) ...
    """

    def __init__(self, description: str = "tpulint test model") -> None:
        self.description = description
        self.subgraphs: list[_Subgraph] = [_Subgraph()]
        self.metadata_entries: list[tuple[str, bytes]] = []
        self.signatures: list[tuple[str, int, list[tuple[str, str]], list[tuple[str, str]]]] = []

    @property
    def current(self) -> _Subgraph:
        return self.subgraphs[-1]

    def new_subgraph(self, name: str = "") -> "ModelBuilder":
        self.subgraphs.append(_Subgraph(name))
        return self

    def tensor(
        self,
        name: str,
        shape: Sequence[int],
        dtype: str = "int8",
        quant: QuantSpec = None,
        data: "bytes | np.ndarray | int | None" = None,
        shape_signature: Sequence[int] | None = None,
        is_variable: bool = False,
        buffer_index: int | None = None,
    ) -> "ModelBuilder":
        """Declare a tensor. `data` makes it constant: bytes, an array, or a byte count of zeros.

        `buffer_index` writes a raw buffer index instead (hostile-input tests).
        """
        if isinstance(data, np.ndarray):
            data = data.tobytes()
        elif isinstance(data, int):
            data = bytes(data)
        if dtype in ("int8", "uint8") and quant is None and data is None and not is_variable:
            quant = (1.0, 0)
        sig = list(shape_signature) if shape_signature is not None else None
        self.current.tensors[name] = _Tensor(name, list(shape), dtype, quant, data, sig, is_variable, buffer_index)
        return self

    def op(
        self,
        opcode: str,
        inputs: Sequence[str | None],
        outputs: Sequence[str],
        version: int = 1,
        custom_code: str | None = None,
        custom_options: bytes | None = None,
        options_type: str | None = None,
        intermediates: Sequence[str] = (),
        opcode_index: int | None = None,
        **options: Any,
    ) -> "ModelBuilder":
        """Add an operator in execution order; `None` in inputs is an omitted optional input (-1).

        For hostile-input tests, an int in inputs/outputs is written as a raw tensor index and
        `opcode_index` overrides the operator-code index, out of range or not.
        """
        for name in [*inputs, *outputs, *intermediates]:
            if name is not None and not isinstance(name, int) and name not in self.current.tensors:
                raise KeyError(f"unknown tensor {name!r}; declare it with .tensor() first")
        if opcode != "CUSTOM" and opcode not in _OP_CODES:
            raise KeyError(f"unknown builtin operator {opcode!r}")
        self.current.ops.append(
            _Op(opcode, list(inputs), list(outputs), version, custom_code, custom_options, dict(options),
                options_type or (OPTIONS_OF.get(opcode) if options else None), list(intermediates), opcode_index)
        )
        return self

    def io(self, inputs: Sequence[str], outputs: Sequence[str]) -> "ModelBuilder":
        self.current.inputs = list(inputs)
        self.current.outputs = list(outputs)
        return self

    def metadata(self, name: str, data: bytes) -> "ModelBuilder":
        self.metadata_entries.append((name, data))
        return self

    def signature(self, key: str, inputs: Sequence[tuple[str, str]], outputs: Sequence[tuple[str, str]],
                  subgraph: int = 0) -> "ModelBuilder":
        self.signatures.append((key, subgraph, list(inputs), list(outputs)))
        return self

    # --- serialisation ---------------------------------------------------------------------------

    def build(self) -> bytes:
        b = flatbuffers.Builder(1024)
        self._shared: dict[int, int] = {}  # id(custom options bytes) -> its vector in `b`
        buffers: list[bytes] = [b""]  # buffer 0 is the empty sentinel
        opcode_keys: list[tuple[str, str | None, int]] = []
        subgraph_offsets = [self._subgraph(b, sg, buffers, opcode_keys) for sg in self.subgraphs]
        for name, data in self.metadata_entries:
            buffers.append(data)
        opcode_offsets = [self._opcode(b, key) for key in opcode_keys]
        buffer_offsets = [self._buffer(b, data) for data in buffers]
        metadata_offsets = []
        first_metadata_buffer = len(buffers) - len(self.metadata_entries)
        for i, (name, _) in enumerate(self.metadata_entries):
            name_off = b.CreateString(name)
            tflite.MetadataStart(b)
            tflite.MetadataAddName(b, name_off)
            tflite.MetadataAddBuffer(b, first_metadata_buffer + i)
            metadata_offsets.append(tflite.MetadataEnd(b))
        signature_offsets = [self._signature(b, s) for s in self.signatures]
        description = b.CreateString(self.description)
        vectors = {
            "opcodes": self._table_vector(b, tflite.ModelStartOperatorCodesVector, opcode_offsets),
            "subgraphs": self._table_vector(b, tflite.ModelStartSubgraphsVector, subgraph_offsets),
            "buffers": self._table_vector(b, tflite.ModelStartBuffersVector, buffer_offsets),
            "metadata": self._table_vector(b, tflite.ModelStartMetadataVector, metadata_offsets) if metadata_offsets else None,
            "signatures": self._table_vector(b, tflite.ModelStartSignatureDefsVector, signature_offsets) if signature_offsets else None,
        }
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, vectors["opcodes"])
        tflite.ModelAddSubgraphs(b, vectors["subgraphs"])
        tflite.ModelAddDescription(b, description)
        tflite.ModelAddBuffers(b, vectors["buffers"])
        if vectors["metadata"] is not None:
            tflite.ModelAddMetadata(b, vectors["metadata"])
        if vectors["signatures"] is not None:
            tflite.ModelAddSignatureDefs(b, vectors["signatures"])
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    @staticmethod
    def _table_vector(b: flatbuffers.Builder, start: Any, offsets: list[int]) -> int:
        start(b, len(offsets))
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    @staticmethod
    def _int_vector(b: flatbuffers.Builder, values: Sequence[int]) -> int:
        return b.CreateNumpyVector(np.asarray(values, dtype=np.int32))

    def _subgraph(self, b: flatbuffers.Builder, sg: _Subgraph, buffers: list[bytes], opcode_keys: list) -> int:
        names = list(sg.tensors)
        index = {name: i for i, name in enumerate(names)}
        tensor_offsets = []
        for t in sg.tensors.values():
            buffer_index = 0
            if t.data is not None:
                buffers.append(t.data)
                buffer_index = len(buffers) - 1
            tensor_offsets.append(self._tensor(b, t, t.buffer_index if t.buffer_index is not None else buffer_index))
        op_offsets = []
        for op in sg.ops:
            key = (op.opcode, op.custom_code, op.version)
            if key not in opcode_keys:
                opcode_keys.append(key)
            code_index = op.opcode_index if op.opcode_index is not None else opcode_keys.index(key)
            op_offsets.append(self._operator(b, op, code_index, index))
        produced = {o for op in sg.ops for o in op.outputs if isinstance(o, str)}
        consumed = {i for op in sg.ops for i in op.inputs if isinstance(i, str)}
        inputs = sg.inputs if sg.inputs is not None else [
            n for n, t in sg.tensors.items() if n not in produced and t.data is None and not t.is_variable and n in consumed]
        outputs = sg.outputs if sg.outputs is not None else [n for n in names if n in produced and n not in consumed]
        tensors_vec = self._table_vector(b, tflite.SubGraphStartTensorsVector, tensor_offsets)
        ops_vec = self._table_vector(b, tflite.SubGraphStartOperatorsVector, op_offsets)
        inputs_vec = self._int_vector(b, [index[n] for n in inputs])
        outputs_vec = self._int_vector(b, [index[n] for n in outputs])
        name = b.CreateString(sg.name) if sg.name else None
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, tensors_vec)
        tflite.SubGraphAddInputs(b, inputs_vec)
        tflite.SubGraphAddOutputs(b, outputs_vec)
        tflite.SubGraphAddOperators(b, ops_vec)
        if name is not None:
            tflite.SubGraphAddName(b, name)
        return tflite.SubGraphEnd(b)

    def _tensor(self, b: flatbuffers.Builder, t: _Tensor, buffer_index: int) -> int:
        name = b.CreateString(t.name)
        shape = self._int_vector(b, t.shape)
        signature = self._int_vector(b, t.shape_signature) if t.shape_signature is not None else None
        quant = self._quantization(b, t.quant) if t.quant is not None else None
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, _TYPE_CODES[t.dtype])
        tflite.TensorAddBuffer(b, buffer_index)
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        if t.is_variable:
            tflite.TensorAddIsVariable(b, True)
        if signature is not None:
            tflite.TensorAddShapeSignature(b, signature)
        return tflite.TensorEnd(b)

    @staticmethod
    def _quantization(b: flatbuffers.Builder, spec: QuantSpec) -> int:
        if len(spec) == 2 and not isinstance(spec[0], (list, tuple, np.ndarray)):
            scales, zero_points, axis = [spec[0]], [spec[1]], 0
        else:
            scales, zero_points, axis = spec
        scale_vec = b.CreateNumpyVector(np.asarray(scales, dtype=np.float32))
        zp_vec = b.CreateNumpyVector(np.asarray(zero_points, dtype=np.int64))
        tflite.QuantizationParametersStart(b)
        tflite.QuantizationParametersAddScale(b, scale_vec)
        tflite.QuantizationParametersAddZeroPoint(b, zp_vec)
        tflite.QuantizationParametersAddQuantizedDimension(b, axis)
        return tflite.QuantizationParametersEnd(b)

    def _operator(self, b: flatbuffers.Builder, op: _Op, opcode_index: int, index: dict[str, int]) -> int:
        def ref(n: str | int | None) -> int:
            return -1 if n is None else n if isinstance(n, int) else index[n]

        inputs = self._int_vector(b, [ref(n) for n in op.inputs])
        outputs = self._int_vector(b, [ref(n) for n in op.outputs])
        intermediates = self._int_vector(b, [index[n] for n in op.intermediates]) if op.intermediates else None
        options = self._options(b, op.options_type, op.options) if op.options_type else None
        custom = None
        if op.custom_options is not None:
            # The same bytes object given to several ops is written once, every op pointing at it: a valid
            # flatbuffer that no converter writes (hostile-input tests of shared payloads).
            custom = self._shared.get(id(op.custom_options))
            if custom is None:
                custom = b.CreateNumpyVector(np.frombuffer(op.custom_options, np.uint8))
                self._shared[id(op.custom_options)] = custom
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, opcode_index)
        tflite.OperatorAddInputs(b, inputs)
        tflite.OperatorAddOutputs(b, outputs)
        if options is not None and op.options_type is not None:
            tflite.OperatorAddBuiltinOptionsType(b, _OPTION_CODES[op.options_type])
            tflite.OperatorAddBuiltinOptions(b, options)
        if custom is not None:
            tflite.OperatorAddCustomOptions(b, custom)
        if intermediates is not None:
            tflite.OperatorAddIntermediates(b, intermediates)
        return tflite.OperatorEnd(b)

    @staticmethod
    def _options(b: flatbuffers.Builder, table: str, values: dict[str, Any]) -> int:
        layout = {f[0]: f for f in _schema.OPTION_LAYOUTS[table]}
        unknown = set(values) - set(layout)
        if unknown:
            raise KeyError(f"{table} has no field(s) {sorted(unknown)}; known: {sorted(layout)}")
        camel = {name: "".join(part.capitalize() for part in name.split("_")) for name in values}
        vectors = {}
        for name, value in values.items():
            if layout[name][2].startswith("vec:"):
                vectors[name] = ModelBuilder._int_vector(b, value)
        getattr(tflite, f"{table}Start")(b)
        for name, value in values.items():
            if name == "fused_activation_function" and isinstance(value, str):
                value = _ACTIVATIONS[value]
            elif name == "padding" and isinstance(value, str):
                value = _PADDINGS[value]
            getattr(tflite, f"{table}Add{camel[name]}")(b, vectors.get(name, value))
        return getattr(tflite, f"{table}End")(b)

    @staticmethod
    def _opcode(b: flatbuffers.Builder, key: tuple[str, str | None, int]) -> int:
        opcode, custom_code, version = key
        code = _OP_CODES[opcode]
        custom = b.CreateString(custom_code) if custom_code is not None else None
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        if custom is not None:
            tflite.OperatorCodeAddCustomCode(b, custom)
        tflite.OperatorCodeAddVersion(b, version)
        tflite.OperatorCodeAddBuiltinCode(b, code)
        return tflite.OperatorCodeEnd(b)

    @staticmethod
    def _buffer(b: flatbuffers.Builder, data: bytes) -> int:
        vec = b.CreateNumpyVector(np.frombuffer(data, np.uint8)) if data else None
        tflite.BufferStart(b)
        if vec is not None:
            tflite.BufferAddData(b, vec)
        return tflite.BufferEnd(b)

    def _signature(self, b: flatbuffers.Builder, sig: tuple) -> int:
        key, sg_index, inputs, outputs = sig
        index = {name: i for i, name in enumerate(self.subgraphs[sg_index].tensors)}

        def maps(pairs: list[tuple[str, str]]) -> int:
            offsets = []
            for public, tensor in pairs:
                n = b.CreateString(public)
                tflite.TensorMapStart(b)
                tflite.TensorMapAddName(b, n)
                tflite.TensorMapAddTensorIndex(b, index[tensor])
                offsets.append(tflite.TensorMapEnd(b))
            return self._table_vector(b, tflite.SignatureDefStartInputsVector, offsets)

        in_vec, out_vec = maps(inputs), maps(outputs)
        key_off = b.CreateString(key)
        tflite.SignatureDefStart(b)
        tflite.SignatureDefAddInputs(b, in_vec)
        tflite.SignatureDefAddOutputs(b, out_vec)
        tflite.SignatureDefAddSignatureKey(b, key_off)
        tflite.SignatureDefAddSubgraphIndex(b, sg_index)
        return tflite.SignatureDefEnd(b)


def int8_cnn(builder: ModelBuilder | None = None) -> ModelBuilder:
    """A tiny fully int8 CNN: CONV_2D -> DEPTHWISE_CONV_2D -> AVERAGE_POOL_2D -> RESHAPE -> FULLY_CONNECTED -> SOFTMAX."""
    b = builder or ModelBuilder()
    q = (0.05, -128)
    b.tensor("input", [1, 8, 8, 3], "int8", quant=q)
    b.tensor("conv/weights", [4, 3, 3, 3], "int8", quant=([0.02] * 4, [0] * 4, 0), data=np.arange(108, dtype=np.int8))
    b.tensor("conv/bias", [4], "int32", quant=([0.001] * 4, [0] * 4, 0), data=np.zeros(4, np.int32))
    b.tensor("conv", [1, 8, 8, 4], "int8", quant=q)
    b.op("CONV_2D", ["input", "conv/weights", "conv/bias"], ["conv"], padding="SAME", stride_w=1, stride_h=1,
         fused_activation_function="RELU6")
    b.tensor("dw/weights", [1, 3, 3, 4], "int8", quant=([0.02] * 4, [0] * 4, 3), data=np.ones(36, np.int8))
    b.tensor("dw/bias", [4], "int32", quant=([0.001] * 4, [0] * 4, 0), data=np.zeros(4, np.int32))
    b.tensor("dw", [1, 8, 8, 4], "int8", quant=q)
    b.op("DEPTHWISE_CONV_2D", ["conv", "dw/weights", "dw/bias"], ["dw"], padding="SAME", stride_w=1, stride_h=1,
         depth_multiplier=1)
    b.tensor("pool", [1, 1, 1, 4], "int8", quant=q)
    b.op("AVERAGE_POOL_2D", ["dw"], ["pool"], padding="VALID", stride_w=8, stride_h=8, filter_width=8, filter_height=8)
    b.tensor("flat/shape", [2], "int32", data=np.array([1, 4], np.int32))
    b.tensor("flat", [1, 4], "int8", quant=q)
    b.op("RESHAPE", ["pool", "flat/shape"], ["flat"], new_shape=[1, 4])
    b.tensor("fc/weights", [10, 4], "int8", quant=(0.02, 0), data=np.ones(40, np.int8))
    b.tensor("fc/bias", [10], "int32", quant=(0.001, 0), data=np.zeros(10, np.int32))
    b.tensor("logits", [1, 10], "int8", quant=q)
    b.op("FULLY_CONNECTED", ["flat", "fc/weights", "fc/bias"], ["logits"])
    b.tensor("probs", [1, 10], "int8", quant=(1 / 256, -128))
    b.op("SOFTMAX", ["logits"], ["probs"], beta=1.0)
    return b


@contextlib.contextmanager
def array_paths(columns_from: int = 0, reader: str | None = "columnar") -> Iterator[None]:
    """Within: every stage computes over the reader's columns from `columns_from` tensors (0: always), and the
    reader uses the `reader` strategy (None: as configured); both restored on exit."""
    from tpulint import model_types
    from tpulint.model import READER_ENV

    saved = os.environ.get(READER_ENV), model_types.COLUMNS_FROM_TENSORS
    if reader is not None:
        os.environ[READER_ENV] = reader
    model_types.COLUMNS_FROM_TENSORS = columns_from
    try:
        yield
    finally:
        if saved[0] is None:
            os.environ.pop(READER_ENV, None)
        else:
            os.environ[READER_ENV] = saved[0]
        model_types.COLUMNS_FROM_TENSORS = saved[1]
