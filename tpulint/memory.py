"""Edge TPU on-chip memory: estimate cached vs streamed parameter bytes and the largest activation of a model.

The estimate models how edgetpu_compiler lays parameters out, calibrated against the DWN1 packages of the
compiled models in the real-compiler corpus (`python bench/memory.py ../shared/corpus/real`):

* Weights are stored per output channel, and output channels are padded to a multiple of 16 (the chip's
  lanes); the input depth of CONV_2D / FULLY_CONNECTED / TRANSPOSE_CONV weights is padded to 16 too.
  Depthwise kernels are not padded. (A 1-output FULLY_CONNECTED with 94400 inputs takes exactly 16 x 94400
  bytes plus 16 x 4 in its package.)
  Fitted on the corpus: per-channel bytes, lane padding and alignment were chosen among a few discrete
  candidates (4/8/16/24 bytes, 1/4/8/16 lanes, 64/128 bytes) by the smallest error; no scale factor.
* Each padded output channel also carries its bias and requantization constants: 24 bytes for convolutions,
  8 bytes for FULLY_CONNECTED and LSTM gate matrices, 4 bytes for the other ops that requantize (ADD, MUL,
  PAD, CONCATENATION, pools, activations, ...).
* A PAD that changes the channel count is lowered to a 1x1 convolution (identity weights): it costs what
  that convolution costs (BlazeFace's channel pads; -25% error without this, -2% with it).
* A RESHAPE that merges trailing dimensions into a last dimension n that is not a multiple of 16 (a Flatten of
  30 channels before a Dense layer, YOLO heads' [1,144,H,W] -> [1,144,H*W]) costs a 0/1 selection matrix:
  round_up(n, 64) x (n/c positions x c channels padded to 4, + 4) bytes (see relayout_params). Exact in six
  corpus matrices, each a run of 4x4 identity blocks with one 1 per output (LeNet 270: 93,440 B, which was
  -70% without it; YOLOv8n 49 and 196, YOLOv5nu 121 and 484, YOLOv8n 100); free for every merge to a multiple
  of 16 (nine models) and for single-channel merges and segment inputs. Sure of the layout for n <= 484; the
  compiled YuNet (merges to 2380 and 510, a 6 MB matrix by this rule) is over 4 MiB for a 200 KB model,
  which fits, but its package is not in the corpus.
* A FULLY_CONNECTED with an activation as its weights operand whose [N, B] result leaves the chip untransposed,
  with N > 1 and B not a multiple of 16, costs a round_up(B, 64) x (round_up(B, 64) + 4) selection matrix
  (see transposed_output_params; seen once, the batch-300 forest: -95.9% without it, -1.4% with it).
* Every layer's block is aligned to 128 bytes.
* Constant operands of elementwise ops (ADD, MUL, ... with a constant tensor that is not a scalar) are
  always streamed, with the instructions (see constant_operands).
* Layers whose weights per output channel exceed ROW_LIMIT are streamed even when they would fit. The corpus
  brackets the limit: rows of 4608 bytes cached (ext_mistake_adain_decoder_resize256_cpu, a 3x3 conv over 512
  channels), 11520 bytes streamed (ext_coraldemo_mnv2_classifier_rt12_stream, a 3x3 conv over 1280 channels:
  598,080 bytes streamed of a model that fits), 57600 and 94400 bytes streamed (ext_ianis_cnn_fc57600_streamed,
  ext_edgetpu_tcn_sentiment, compiler 16). The first two are runtime-12 packages (compiler 15.0 or older); on
  compiler 16.0 alone the corpus only bounds the limit between 2304 and 57600 bytes, which 8 KiB fits too, so
  one limit (the same chip) is assumed for every version. ROW_LIMIT is the power of two inside the bracket; a
  model with a row between 4608 and 11520 bytes (a Keras MNIST CNN's Dense layer after a 9216-value Flatten),
  compiled by a known compiler version, would settle it. The rest fill the on-chip budget in
  execution order; what does not fit is streamed from host memory on every inference. The budget is
  6.89 MiB (CACHE_BUDGET), not the 7.98 MiB a tiny model sees free: two independent observations agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from math import prod
from typing import AbstractSet, Any, Iterable, Iterator, NamedTuple, Sequence

from tpulint.graph import Graph
from tpulint.model import Model, Subgraph, Tensor
from tpulint.model_types import columns_to_use

KIB, MIB = 1024, 1024 * 1024
LANES = 16
ALIGN = 128
CONV_CHANNEL_BYTES = 24
FC_CHANNEL_BYTES = 8
OTHER_CHANNEL_BYTES = 4
ACTIVATION_WEIGHTS_CHANNEL_BYTES = 4
HOST_FED_ALIGN = 64
RELAYOUT_TILE = 64  # output channels of a relayout matrix come in tiles of 64 (see relayout_params)
RELAYOUT_CHANNEL_ALIGN = 4
ROW_LIMIT = 8 * KIB  # bracketed by 4608 (cached) and 11520 (streamed) bytes; see above
# The on-chip (cached) estimate is within 10% for all 42 compiled corpus models that cache over 100 KiB
# (median error 3.6% over all 59), with tpulint's predicted partition; `python bench/memory.py ../shared/corpus/real`.
UNCERTAINTY_PCT = 10
# On-chip memory a tiny model leaves free ("remaining for caching model parameters", COMPILER.md 5).
CAPACITY = {"16.0": int(7.98 * MIB), "15.0": int(7.96 * MIB), "14.1": int(7.96 * MIB), "2.1": int(7.62 * MIB),
            "2.0": int(7.62 * MIB)}
# What models that do not fit actually get cached: YOLOv5s (compiler 16) 6.89 MiB used + 175 KiB streamed,
# although 7.06 MiB < 7.98 MiB; co-compiled MobileNet v1 1.0 (about 4.40 MB estimated) + v2 1.0 (2.82 MB
# cached, 1.08 MB streamed) = 7.22 MB = 6.89 MiB again. The rest of the capacity is not available to parameters.
CACHE_BUDGET = int(6.89 * MIB)

_CONV = frozenset({"CONV_2D", "TRANSPOSE_CONV", "DEPTHWISE_CONV_2D"})
_WEIGHTED = _CONV | {"FULLY_CONNECTED"}
_REQUANTIZING = frozenset("""ADD SUB MUL PAD CONCATENATION QUANTIZE MAXIMUM MINIMUM LOGISTIC TANH SOFTMAX
MAX_POOL_2D AVERAGE_POOL_2D MEAN RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR""".split())
_ITEMSIZE = {"int8": 1, "uint8": 1, "bool": 1, "int16": 2, "float16": 2, "int32": 4, "float32": 4, "uint32": 4,
             "int64": 8, "float64": 8, "complex64": 8}
METHOD = ("estimate: weights per output channel, channels padded to 16 lanes, bias/requantization bytes per "
          "channel, 128-byte aligned layers, filled into the on-chip budget in execution order")


def _round_up(x: int, multiple: int) -> int:
    return -(-x // multiple) * multiple


class LayerParams(NamedTuple):  # a NamedTuple: one per mapped op, built several times faster than a dataclass
    """Estimated parameter bytes of one mapped op; `row_bytes` is the largest per-output-channel weight row."""

    subgraph: int
    op: int
    opcode: str
    bytes: int
    row_bytes: int = 0
    constant: bool = False  # a constant operand of an elementwise op: always streamed, with the instructions
    host_fed: bool = False  # the constant operand of a FULLY_CONNECTED whose weights operand is a model input

    @property
    def always_streamed(self) -> str | None:
        """Why this block is streamed whatever the budget (None when it can be cached)."""
        if self.constant:
            return "constant operand of an elementwise op"
        if self.host_fed:
            return "multiplied with a model input as the weights operand"
        if self.row_bytes > ROW_LIMIT:
            return "weight rows too long to cache"
        return None


@dataclass(frozen=True, slots=True)
class CoCompileShare:
    """This model's share of the on-chip cache when compiled together with others, in the order given."""

    position: int  # 0-based place in the --co-compile order
    models: tuple[str, ...]
    cached_bytes: int
    streamed_bytes: int
    remaining_before: int  # cache left when the compiler reached this model

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "models": list(self.models), "cached_bytes": self.cached_bytes,
                "streamed_bytes": self.streamed_bytes, "remaining_before_bytes": self.remaining_before}


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    """Parameter bytes on chip vs streamed, and the largest activation; exact for compiled models."""

    parameter_bytes: int
    cached_bytes: int
    streamed_bytes: int
    on_chip_budget_bytes: int
    largest_activation: tuple[str, int] | None
    uncertainty_pct: int
    method: str
    source: str = "estimate"  # "estimate" (uncompiled model) or "package" (read from the compiled model)
    layers: tuple[LayerParams, ...] = field(default=(), compare=False)
    streamed_layers: tuple[LayerParams, ...] = ()
    co_compile: CoCompileShare | None = None

    @property
    def cacheable_bytes(self) -> int:
        """Parameters that would be cached if the whole budget were free."""
        if self.source == "package":
            return self.cached_bytes
        return self.parameter_bytes - sum(x.bytes for x in self.streamed_layers if x.always_streamed)

    def to_dict(self, lazy: bool = False) -> dict[str, Any]:
        """The wire form; `lazy`: "streamed_layers" as StreamedLayerRows, each dict built as it is read (for
        the streamed outputs: a 100,000-op chain streams 85,000 layers), else a list."""
        name, size = self.largest_activation or (None, 0)
        return {
            "parameter_bytes": self.parameter_bytes,
            "cached_bytes": self.cached_bytes,
            "streamed_bytes": self.streamed_bytes,
            "on_chip_budget_bytes": self.on_chip_budget_bytes,
            "largest_activation": {"name": name, "bytes": size} if self.largest_activation else None,
            "uncertainty_pct": self.uncertainty_pct,
            "method": self.method,
            "source": self.source,
            "streamed_layers": StreamedLayerRows(self.streamed_layers) if lazy
            else list(map(streamed_layer_entry, self.streamed_layers)),
            "co_compile": self.co_compile.to_dict() if self.co_compile else None,
        }


def streamed_layer_entry(x: LayerParams) -> dict[str, Any]:
    return {"subgraph": x.subgraph, "op": x.op, "opcode": x.opcode, "bytes": x.bytes,
            "reason": x.always_streamed or "on-chip budget exhausted"}


class StreamedLayerRows:
    """The wire dicts of streamed layers, built on each pass instead of held: iterate it, or take its len()."""

    __slots__ = ("_layers",)

    def __init__(self, layers: Sequence[LayerParams]) -> None:
        self._layers = layers

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(streamed_layer_entry, self._layers)


def tensor_bytes(t: Tensor) -> int:
    return t.elements * _ITEMSIZE.get(t.dtype, 1)


def layer_params(sg: Subgraph, op_index: int) -> LayerParams | None:
    """Estimated on-chip parameter bytes of one op if it runs on the Edge TPU (None when it has none)."""
    op = sg.operators[op_index]
    code = op.opcode
    tensors = sg.tensors
    inputs = op.inputs
    weights = None
    if code in _WEIGHTED and len(inputs) > 1 and inputs[1] >= 0:  # TRANSPOSE_CONV: (shape, weights, input)
        weights = tensors[inputs[1]]
    if weights is not None and weights.data_size and len(weights.shape) >= 2:
        shape = weights.shape
        inner = shape[1:-1]
        kernel = prod(inner) if not inner or min(inner) >= 1 else _product(inner)
        if code == "DEPTHWISE_CONV_2D":
            channels, row = shape[-1], kernel
        else:
            channels = shape[0]
            row = kernel * -(-shape[-1] // LANES) * LANES  # _round_up(depth, LANES), inlined (one call per op)
        per_channel = CONV_CHANNEL_BYTES if code in _CONV else FC_CHANNEL_BYTES
        size = _round_up(-(-channels // LANES) * LANES * (row + per_channel), ALIGN)
        return LayerParams(sg.index, op_index, code, size, row)
    if code == "FULLY_CONNECTED" and weights is not None and not weights.data_size and inputs[0] >= 0 \
            and tensors[inputs[0]].data_size and len(tensors[inputs[0]].shape) == 2:
        return activation_weights_params(sg, op_index)
    if code == "UNIDIRECTIONAL_SEQUENCE_LSTM":
        size, row = 0, 0
        for t in (tensors[i] for i in inputs if i >= 0):
            if t.is_constant and t.dtype in ("int8", "uint8") and len(t.shape) == 2:
                r = _round_up(t.shape[1], LANES)
                size += _round_up(_round_up(t.shape[0], LANES) * (r + FC_CHANNEL_BYTES), ALIGN)
                row = max(row, r)
        return LayerParams(sg.index, op_index, code, size, row) if size else None
    if code == "PAD" and op.outputs and inputs and inputs[0] >= 0:
        source = tensors[inputs[0]]
        out_shape = tensors[op.outputs[0]].shape
        cin, cout = (source.shape[-1] if source.shape else 1), (out_shape[-1] if out_shape else 1)
        if cin != cout:  # padding the channels: lowered to a 1x1 convolution with identity weights
            size = _round_up(_round_up(cout, LANES) * (_round_up(cin, LANES) + CONV_CHANNEL_BYTES), ALIGN)
            return LayerParams(sg.index, op_index, code, size, _round_up(cin, LANES))
    if code in _REQUANTIZING and op.outputs:
        out = sg.tensors[op.outputs[0]]
        channels = out.shape[-1] if out.shape else 1
        size = _round_up(_round_up(max(channels, 1), LANES) * OTHER_CHANNEL_BYTES, ALIGN)
        return LayerParams(sg.index, op_index, code, size, 0)
    return None


def activation_weights_params(sg: Subgraph, op_index: int) -> LayerParams:
    """A FULLY_CONNECTED whose weights operand is an activation and whose input operand is the constant.

    The constant [rows, cols] is laid out like weights: rows padded to 16 lanes, each row its columns padded to
    16 plus 4 bytes of requantization. Corpus (16.0 `-a` compiles of GEMM random forests): 16 FCs with a
    [2, 15] constant cache 5,312 bytes, 128 with [2, 16] cache 41,152 (320 each plus a SUM). When the weights
    operand is a model input itself, the compiler streams the constant with the instructions: every such FC
    (ext_redax_fc_dynamic_weights_const_output, ext_redax_rf_batch1000_fc_transpose, ...) has its constant in
    the EXECUTION_ONLY or STAND_ALONE executable, 64 bytes for [1, 8], while the later ones are cached. Not
    explained: in the two forests fed by a CPU SPLIT the middle `-a` segment is STAND_ALONE (all streamed) and
    the last one cached, although both read the SPLIT's pieces the same way.
    """
    op = sg.operators[op_index]
    rows, cols = sg.tensors[op.inputs[0]].shape
    size = _round_up(rows, LANES) * (_round_up(cols, LANES) + ACTIVATION_WEIGHTS_CHANNEL_BYTES)
    fed = op.inputs[1] in sg.inputs
    if fed:
        size = _round_up(rows * cols, HOST_FED_ALIGN)
    return LayerParams(sg.index, op_index, op.opcode, size, 0, False, fed)


def relayout_params(sg: Subgraph, op_index: int, on_chip: AbstractSet[int],
                    producer: Sequence[int]) -> LayerParams | None:
    """The 0/1 relayout matrix of a RESHAPE that merges trailing dimensions into the lanes (None when free).

    A RESHAPE whose last output dimension n is the product of the input's last k >= 2 dimensions (a Flatten
    before a Dense layer, YOLO heads' [1, 144, H, W] -> [1, 144, H*W]) moves values from positions into lanes.
    When n is not a multiple of 16 and the input is computed on chip, the compiler multiplies by a selection
    matrix: n output channels in tiles of 64, each with 4 bytes of constants and a row of the n/c merged
    positions x c input channels padded to 4 (c the input's last dimension). Exact in the corpus packages
    (16-byte 4x4 identity blocks, one 1 per output): LeNet [1,3,3,30] -> 270 (320 x (9*32 + 4) = 93,440),
    YOLOv8n [1,144,7,7] -> 49 (3,840) and [1,144,14,14] -> 196 (58,368), YOLOv5nu 11x11 -> 121 (17,408) and
    22x22 -> 484 (272,384), YOLOv8n 10x10 -> 100 (15,872). Free: every merge to a multiple of 16 (20x20 -> 400
    in four YOLOv8 models, 5x5x16 -> 400, 7x7x32 -> 1568, 30x30x64, 28x28 -> 784, 28x20 -> 560, and
    118x100x8 -> 94,400 although 8 channels are not a multiple of 16), merges of a single channel (the redax
    forests' [2,1] -> [1,2] and [4,1] -> [1,4] after a SUM on chip), and reshapes of a segment's input, which
    the host writes in the new shape (the forests' [1,15,1] -> [1,15] after a CPU SPLIT: the executable's
    input layer has the reshaped dims, (1, 1, 15)). No compile in the corpus merges more than one channel at
    a segment's input, so that case rests on the input layers alone. The largest matrix seen has 528-byte rows;
    for rows over ROW_LIMIT (a matrix of megabytes, quadratic in n) no compile shows what the compiler does,
    and none is assumed.
    """
    op = sg.operators[op_index]
    if not op.inputs or op.inputs[0] < 0 or not op.outputs:
        return None
    source = sg.tensors[op.inputs[0]]
    if source.data_size or producer[op.inputs[0]] not in on_chip:
        return None
    shape, out_shape = source.shape, sg.tensors[op.outputs[0]].shape
    if len(shape) < 2 or not out_shape or min(shape) < 1:
        return None
    n, channels = out_shape[-1], shape[-1]
    if n % LANES == 0 or n == channels or channels == 1:
        return None
    merged, k = channels, 1
    while merged < n and k < len(shape):
        k += 1
        merged *= shape[-k]
    if merged != n or k < 2:
        return None
    row = n // channels * _round_up(channels, RELAYOUT_CHANNEL_ALIGN)
    if row > ROW_LIMIT:
        return None
    size = _round_up(_round_up(n, RELAYOUT_TILE) * (row + OTHER_CHANNEL_BYTES), ALIGN)
    return LayerParams(sg.index, op_index, op.opcode, size, row)


def transposed_output_params(sg: Subgraph, op_index: int, on_chip: AbstractSet[int],
                             consumers: Sequence[Sequence[int]], outputs: AbstractSet[int]) -> LayerParams | None:
    """The 0/1 matrix that hands an activation-weights FULLY_CONNECTED's [N, B] result off the chip (or None).

    With the constant as the input operand ([N, K]) and an activation as the weights operand ([B, K]), the chip
    computes B positions of N channels, the transpose of the [N, B] tensor TFLite expects. When that result
    leaves the segment as it is (read by a CPU op, or an output) with N > 1 and B not a multiple of 16, the
    compiler moves the B positions into lanes with a selection matrix: round_up(B, 64) outputs in tiles of 64,
    each a row of round_up(B, 64) bytes plus 4. Seen once (compiler 16.0, ext_redax_rf_batch300_full_forest:
    [2, 1] x [300, 1] -> [2, 300] read by a CPU EQUAL caches 103,680 bytes of exactly this layout, 320 x 324,
    one 1 per output). Free in the same repository's compiles where B = 256 (a multiple of 16), where N = 1
    ([1, 300], [1, 1000]), where an on-chip TRANSPOSE or RESHAPE reads the result (batch 1000: 256 bytes
    cached in all), and for B = 1. A row padded to 32 would fit the one case as well; the confidence is low.
    """
    op = sg.operators[op_index]
    if op.opcode != "FULLY_CONNECTED" or len(op.inputs) < 2 or op.inputs[1] < 0 \
            or sg.tensors[op.inputs[1]].data_size or not op.outputs or op.outputs[0] < 0:
        return None  # only an activation as the weights operand computes the result transposed
    result = op.outputs[0]
    shape = sg.tensors[result].shape
    if len(shape) != 2 or shape[0] <= 1 or shape[1] <= 1 or shape[1] % LANES == 0:
        return None
    if result not in outputs and all(c in on_chip for c in consumers[result]):
        return None
    row = _round_up(shape[1], RELAYOUT_TILE)
    if row > ROW_LIMIT:
        return None
    return LayerParams(sg.index, op_index, op.opcode, _round_up(row * (row + OTHER_CHANNEL_BYTES), ALIGN), row)


def constant_operands(sg: Subgraph, op_index: int) -> LayerParams | None:
    """Streamed bytes of the constant operands of a mapped elementwise op (ADD, MUL, ... with a constant).

    A scalar folds into the requantization constants; a per-channel constant (all dimensions but the last
    are 1) takes 16 bytes per padded channel; any other constant is materialized to the output's shape.
    Observed: YOLOv5n's anchor-grid ADD/MUL constants (1x400x1x2, 1x1x3x2 ... broadcast to 1x400x3x2) are
    streamed as 24000 bytes + 64, MoveNet's 48x48x1 MUL constant as 2304 + 64, and the 23 per-channel PReLU
    MUL constants of the face landmark model (1744 channels) as exactly 16 x 1744 bytes.
    """
    op = sg.operators[op_index]
    if op.opcode not in _REQUANTIZING or not op.outputs:
        return None
    out = sg.tensors[op.outputs[0]]
    size = 0
    for i in op.inputs:
        t = sg.tensors[i] if i >= 0 else None
        if t is None or not t.is_constant or t.dtype not in ("int8", "uint8") or t.elements <= 1:
            continue
        if all(d == 1 for d in t.shape[:-1]):
            size += _round_up(t.shape[-1], LANES) * LANES
        else:
            size += out.elements
    return LayerParams(sg.index, op_index, op.opcode, size, 0, True) if size else None


def _product(dims: Iterable[int]) -> int:
    n = 1
    for d in dims:
        n *= max(d, 1)
    return n


def largest_activation(sg: Subgraph, ops: Iterable[int]) -> tuple[str, int] | None:
    """The largest non-constant tensor the given ops read or write (each tensor measured once)."""
    operators = sg.operators
    seen: set[int] = set()
    for i in ops:
        op = operators[i]
        seen.update(op.inputs)
        seen.update(op.outputs)
    seen.discard(-1)
    best: tuple[str, int] | None = None
    best_size = -1
    tensors = sg.tensors
    itemsize = _ITEMSIZE
    for i in sorted(seen):
        t = tensors[i]
        if not t.data_size:
            shape = t.shape  # tensor_bytes(t), inlined: this visits every tensor of the model
            size = (prod(shape) if shape and min(shape) >= 1 else t.elements) * itemsize.get(t.dtype, 1)
            if size > best_size:
                best, best_size = (t.name, size), size
    return best


def estimate(model: Model, graphs: Sequence[Graph], tpu_ops: Sequence[Sequence[int]], compiler: str = "16.0",
             budget: int | None = None) -> MemoryEstimate:
    """Estimate what the compiler caches and streams, given the ops predicted to map (per subgraph)."""
    budget = CACHE_BUDGET if budget is None else budget
    layers: list[LayerParams] = []
    activation: tuple[str, int] | None = None
    for g, ops in zip(graphs, tpu_ops):
        sg = g.subgraph
        on_chip = frozenset(ops)
        outputs = frozenset(sg.outputs)

        def op_layers(i: int) -> list[LayerParams]:
            """The parameter blocks of on-chip op i: its own, a FULLY_CONNECTED's output relayout, constants."""
            out = []
            if sg.operators[i].opcode == "RESHAPE":
                params = relayout_params(sg, i, on_chip, g.producer)
            else:
                params = layer_params(sg, i)
            if params is not None:
                out.append(params)
                if params.opcode == "FULLY_CONNECTED":
                    moved = transposed_output_params(sg, i, on_chip, g.consumers, outputs)
                    if moved is not None:
                        out.append(moved)
            if sg.operators[i].opcode in _REQUANTIZING:
                streamed = constant_operands(sg, i)
                if streamed is not None:
                    out.append(streamed)
            return out

        columns = columns_to_use(sg)
        if columns is not None:
            from tpulint import memory_columns

            layers += memory_columns.layers(sg, columns, sorted(ops), op_layers)
            a = memory_columns.largest_activation(sg, columns, ops)
        else:
            for i in sorted(ops):
                layers += op_layers(i)
            a = largest_activation(sg, ops)
        if a is not None and (activation is None or a[1] > activation[1]):
            activation = a
    return _fill(layers, budget, activation)


def _fill(layers: Sequence[LayerParams], budget: int, activation: tuple[str, int] | None) -> MemoryEstimate:
    remaining = budget
    streamed: list[LayerParams] = []
    for p in layers:
        if p.always_streamed or p.bytes > remaining:
            streamed.append(p)
        else:
            remaining -= p.bytes
    total = sum(p.bytes for p in layers)
    out = sum(p.bytes for p in streamed)
    return MemoryEstimate(total, total - out, out, budget, activation, UNCERTAINTY_PCT, METHOD, "estimate",
                          tuple(layers), tuple(streamed))


def from_package(model: Model, info: Any, compiler: str = "16.0") -> MemoryEstimate:
    """The exact numbers of a compiled model, read from its DWN1 packages (tpulint.compiled.CompiledInfo)."""
    io = [(x.name, x.size_bytes) for e in info.executables for x in (*e.inputs, *e.outputs)]
    largest = max(io, key=lambda x: x[1]) if io else None
    cached, streamed = info.cached_parameter_bytes, info.streamed_parameter_bytes
    return MemoryEstimate(cached + streamed, cached, streamed, CACHE_BUDGET,
                          largest, 0, "read from the DWN1 package: PARAMETER_CACHING vs EXECUTION_ONLY/STAND_ALONE "
                          "parameter lengths; largest activation among the Edge TPU boundary layers", "package")


def co_compile(entries: Sequence[tuple[str, MemoryEstimate]], budget: int | None = None) -> list[MemoryEstimate]:
    """Split one on-chip cache between models compiled together, filling it in the order given.

    Each model takes what it can cache from what the earlier models left; the rest of its parameters are streamed.
    (Compiler 16 may spread the overflow over all later models instead; the first models are never affected.)
    """
    names = tuple(path for path, _ in entries)
    remaining = budget if budget is not None else min((m.on_chip_budget_bytes for _, m in entries),
                                                      default=CACHE_BUDGET)
    out = []
    for position, (_, m) in enumerate(entries):
        wanted = m.cacheable_bytes
        cached = min(wanted, remaining)
        share = CoCompileShare(position, names, cached, m.parameter_bytes - cached, remaining)
        remaining -= cached
        out.append(replace(m, co_compile=share))
    return out


__all__ = ["CoCompileShare", "LayerParams", "MemoryEstimate", "StreamedLayerRows", "co_compile", "constant_operands",
           "estimate", "from_package", "layer_params", "relayout_params", "streamed_layer_entry",
           "transposed_output_params", "ROW_LIMIT", "UNCERTAINTY_PCT"]
