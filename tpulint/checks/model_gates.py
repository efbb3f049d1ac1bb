"""TPU0xx: whole-model gates — conditions under which the compiler rejects the model and maps nothing."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING

from tpulint.checks._base import (
    CONTROL_FLOW,
    WEIGHTED,
    Context,
    Hit,
    ModelContext,
    columns_to_use,
    first_op_of_each_code,
    ops_with_opcode,
    prefilter,
    tensors_with_negative_dims,
)
from tpulint.findings import MODEL_REJECTED, Confidence, Effect, Severity
from tpulint.graph import Graph
from tpulint.model import Operator
from tpulint.registry import rule

if TYPE_CHECKING:
    import numpy as np

_gate = partial(rule, severity=Severity.ERROR, effect=Effect.MODEL, status=MODEL_REJECTED, scope="model")


def _release(r: tuple[int, int]) -> str:
    return f"{r[0]}.{r[1]}"


def _distinct_op_versions(ctx: ModelContext) -> Iterator[tuple[Graph, Operator, tuple[int, int] | None]]:
    """(graph, first op, first TF release emitting it) for each distinct builtin (opcode, version) per subgraph,
    except versions the profile has seen parsing."""
    for g in ctx.graphs:
        seen: set[tuple[str, int]] = set()
        for op in first_op_of_each_code(g.subgraph):
            key = (op.opcode, op.version)
            if key not in seen and op.opcode != "CUSTOM" and op.version > ctx.profile.parsed.get(op.opcode, 0):
                seen.add(key)
                yield g, op, ctx.profile.tf_release(op.opcode, op.version)


@_gate("TPU001", "op-version-unsupported", confidence=Confidence.OBSERVED)
def op_version_unsupported(ctx: ModelContext) -> list[Hit]:
    """An operator version is newer than compiler {compiler} can parse, so the model is rejected.

    ## Why it matters
    The compiler embeds a TFLite op resolver from its release. An op version it does not know fails
    registration: `ERROR: Didn't find op for builtin opcode 'CONV_2D' version '6'`, then "Model could not be
    parsed" — nothing is compiled. Versions first emitted by TensorFlow {rejects_tf} or later are known to fail
    on this compiler; those from TensorFlow {accepts_tf} or earlier parse (TPU007 covers the versions between).

    ## How to fix
    Convert with an older TensorFlow (at most {accepts_tf} for this compiler), or with
    `converter.experimental_new_converter = False` where that keeps the older op version; or target a newer
    compiler with `--compiler`.

    ## Example
    A model converted with TF 2.9 contains CONV_2D version 6; compiler 16.0 refuses it (#631).

    ## Sources
    COMPILER.md 1.4: observed rejections #34, #45, #114, #147, #210, #340, #386, #631, #845, #879; op version →
    first TF release from tensorflow/lite/tools/versioning/runtime_version.cc (rules/tflite-versions.toml).
    """
    profile = ctx.profile
    hits: list[Hit] = []
    for g, op, release in _distinct_op_versions(ctx):
        if release is not None and release >= profile.rejects_tf:
            hits.append(Hit(
                f"{op.opcode} version {op.version} (first emitted by TF {_release(release)}) is unknown to "
                f"compiler {profile.compiler}: \"Didn't find op for builtin opcode '{op.opcode}' version "
                f"'{op.version}'\"",
                f"convert with TF <= {_release(profile.accepts_tf)} so {op.opcode} is emitted at an older version",
                op=op, subgraph=g.subgraph.index))
    return hits


# Operands whose *values* decide the output shape, per TFLite kernel: when such an operand is not a constant, the
# kernel's Prepare cannot size the output and marks it dynamic (SetTensorToDynamic). From the TFLite 2.5 kernels
# (reshape, resize_*, pad, tile, broadcast_to, fill, slice, strided_slice, reduce, range, transpose, expand_dims,
# split, split_v, transpose_conv, arg_min_max, one_hot, topk_v2, space/batch_to_*_nd, where, unique, NMS, segment ops).
SHAPE_OPERANDS: dict[str, tuple[int, ...]] = {
    "RESHAPE": (1,), "RESIZE_BILINEAR": (1,), "RESIZE_NEAREST_NEIGHBOR": (1,),
    "PAD": (1,), "PADV2": (1,), "MIRROR_PAD": (1,), "TILE": (1,), "BROADCAST_TO": (1,), "FILL": (0,),
    "SLICE": (1, 2), "STRIDED_SLICE": (1, 2, 3),
    "MEAN": (1,), "SUM": (1,), "REDUCE_MAX": (1,), "REDUCE_MIN": (1,), "REDUCE_PROD": (1,), "REDUCE_ANY": (1,),
    "RANGE": (0, 1, 2), "TRANSPOSE": (1,), "EXPAND_DIMS": (1,), "SPLIT": (0,), "SPLIT_V": (1, 2),
    "TRANSPOSE_CONV": (0,), "ARG_MAX": (1,), "ARG_MIN": (1,), "ONE_HOT": (1,), "TOPK_V2": (1,),
    "SPACE_TO_BATCH_ND": (1, 2), "BATCH_TO_SPACE_ND": (1, 2),
    "WHERE": (0,), "UNIQUE": (0,), "NON_MAX_SUPPRESSION_V4": (2,), "NON_MAX_SUPPRESSION_V5": (2,),
    "SEGMENT_SUM": (1,), "UNSORTED_SEGMENT_SUM": (2,), "UNSORTED_SEGMENT_MAX": (2,), "UNSORTED_SEGMENT_MIN": (2,),
    "UNSORTED_SEGMENT_PROD": (2,), "SCATTER_ND": (2,),
}
ROLE = {"RESHAPE": "shape", "RESIZE_BILINEAR": "size", "RESIZE_NEAREST_NEIGHBOR": "size", "PAD": "paddings",
        "PADV2": "paddings", "MIRROR_PAD": "paddings", "TILE": "multiples", "TRANSPOSE": "perm", "TOPK_V2": "k"}


def value_shaped_operands(op: Operator, tensors) -> list[int]:
    """The op's operands that decide its output shape by their values and are not constants."""
    positions = SHAPE_OPERANDS.get(op.opcode, ())
    return [op.inputs[p] for p in positions
            if p < len(op.inputs) and op.inputs[p] >= 0 and not tensors[op.inputs[p]].data_size]


@_gate("TPU002", "dynamic-shape", confidence=Confidence.OBSERVED)
def dynamic_shape(ctx: ModelContext) -> list[Hit]:
    """A tensor is dynamic-sized: -1 in its stored shape, or an op's output shape computed from run-time values.

    ## Why it matters
    The compiler first loads the model into a TFLite interpreter, and the Edge TPU delegate supports only
    static-sized tensors. A tensor is dynamic-sized when its stored `shape` has a -1, or when an op's output
    shape depends on the *values* of an operand that is not a constant — a RESHAPE whose shape comes from
    SHAPE → STRIDED_SLICE → PACK, a computed resize size, paddings, multiples, slice bounds, reduction axes:
    the kernel then cannot size its output before running. Compilation stops before partitioning:
    `Attempting to use a delegate that only supports static-sized tensors with a graph that has dynamic-sized
    tensors` / "Model failed in Tflite interpreter". A -1 only in `shape_signature` (the dynamic batch of
    Keras exports) is not dynamic here: the interpreter allocates every tensor from `shape` (TPU010).

    ## How to fix
    Make the shape operand a constant: give the model a fixed input size and export so the converter folds the
    shape arithmetic (e.g. `tf.reshape(x, [1, 49, 64])` instead of `tf.reshape(x, [tf.shape(x)[0], 49, 64])`,
    `keras.Input(batch_size=1)`), then convert again.

    ## Example
    SHAPE(x) → STRIDED_SLICE → PACK → RESHAPE(x, shape): the RESHAPE output is dynamic-sized.

    ## Sources
    #829, #831 (16.0), TF#51467, TF#57905 (COMPILER.md 2.3); TFLite kernels' Prepare (SetTensorToDynamic).
    Corpus: compiler 16.0 logs of models with a -1 batch in shape_signature compiled
    (ext_jeonghwasik_lenet_float_io_dynbatch, ext_anggadharma_mnv1_keras_sigmoid_dynbatch), as did 15.0
    (ext_nrf20_mnist4/7/9, ext_franco_mnist_dense) and older compilers (ext_pinebook_lenet_*,
    ext_masterbaiter_yamnet_spectro_int8io_dynbatch).
    """
    hits: list[Hit] = []
    for g in ctx.graphs:
        sg = g.subgraph
        tensors = sg.tensors
        columns = columns_to_use(sg)
        if columns is not None:
            stored = set(tensors_with_negative_dims(columns))
        else:
            stored = {i for i, t in enumerate(tensors) if t.shape and min(t.shape) < 0}
        for i in sg.inputs:
            if i in stored:
                hits.append(Hit(f"input {tensors[i].name!r} has dynamic stored shape {list(tensors[i].shape)}",
                                "fix the input shape (batch 1) before converting", subgraph=sg.index, tensor=i))
        # Without a stored dynamic shape, only the ops with value-shaped operands can be hit.
        for op in sg.operators if stored else ops_with_opcode(sg, SHAPE_OPERANDS):
            computed = value_shaped_operands(op, tensors)
            if computed:
                t = tensors[computed[0]]
                role = ROLE.get(op.opcode, "shape operand")
                hits.append(Hit(f"{op.name} takes its {role} from {t.name!r}, which is computed at run time: its "
                                f"output {tensors[op.outputs[0]].name!r} is dynamic-sized" if op.outputs else
                                f"{op.name} takes its {role} from {t.name!r}, which is computed at run time",
                                f"make {t.name!r} a constant (fixed input size, constant {role})",
                                op=op, subgraph=sg.index, tensor=computed[0]))
            elif any(i in stored for i in op.outputs) and not any(i in stored for i in op.inputs if i >= 0):
                t = tensors[next(i for i in op.outputs if i in stored)]
                hits.append(Hit(f"{op.name} output {t.name!r} has dynamic stored shape {list(t.shape)}",
                                "make the op's output size static (constant shape inputs, fixed input size)",
                                op=op, subgraph=sg.index, tensor=t.index))
    return hits


@rule("TPU010", "dynamic-batch-signature", severity=Severity.INFO, confidence=Confidence.OBSERVED,
      effect=Effect.NONE, scope="model")
def dynamic_batch_signature(ctx: ModelContext) -> list[Hit]:
    """An input has -1 in its `shape_signature` only (a dynamic batch): the compiler uses the stored shape.

    ## Why it matters
    Keras/TF2 exports record the batch dimension as -1 in `shape_signature` while the stored `shape` says 1.
    The compiler's TFLite interpreter allocates tensors from `shape`, so the model compiles as usual (compiler
    16.0, 15.0 and older: corpus cases below); the compiled file drops the signature, and the Edge TPU runs
    batch 1 only. Feeding another batch size to the compiled model fails at run time.

    ## How to fix
    Nothing is needed to compile. To make the batch explicit, export with `keras.Input(..., batch_size=1)`.

    ## Example
    Input `serving_default_input_1:0` with shape [1, 28, 28, 1] and shape_signature [-1, 28, 28, 1].

    ## Sources
    COMPILER.md 2.3 (corrected 2026-12-01); corpus ext_jeonghwasik_lenet_float_io_dynbatch,
    ext_anggadharma_mnv1_keras_sigmoid_dynbatch (16.0 logs), ext_nrf20_mnist4 (15.0),
    ext_pinebook_lenet_uint8_io_dynbatch, ext_masterbaiter_yamnet_spectro_int8io_dynbatch.
    """
    hits: list[Hit] = []
    for g in ctx.graphs:
        sg = g.subgraph
        for i in sg.inputs:
            t = sg.tensors[i]
            if t.shape_signature and min(t.shape_signature) < 0 and t.shape and min(t.shape) >= 0:
                hits.append(Hit(f"input {t.name!r} has shape_signature {list(t.shape_signature)}; the compiler "
                                f"compiles shape {list(t.shape)} and the Edge TPU runs only that batch size",
                                "export with a fixed batch size (keras.Input(batch_size=1)) to make it explicit",
                                subgraph=sg.index, tensor=i))
    return hits


@_gate("TPU003", "model-not-quantized", confidence=Confidence.OBSERVED)
def model_not_quantized(ctx: ModelContext) -> list[Hit]:
    """No operator computes on 8-bit integers: a float, float16 or dynamic-range (hybrid) model.

    ## Why it matters
    The Edge TPU only executes 8-bit quantized operations. Compilers up to 15.0 reject such a model
    ("Invalid model" / "Model not quantized"); compiler 16.0 compiles it with "Number of Edge TPU subgraphs: 0"
    and every op "Operation is working on an unsupported data type" (then this finding is advisory and the
    per-op TPU200 findings place every op on the CPU).

    ## How to fix
    Convert with full-integer post-training quantization: set `converter.optimizations = [tf.lite.Optimize.DEFAULT]`,
    a `representative_dataset`, and `converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]`.

    ## Example
    A float32 MLP (FULLY_CONNECTED on float tensors); or int8 weights with float activations (hybrid).

    ## Sources
    COMPILER.md 2.2 (#168, #213, #238, #313 up to 15.0; #609 on 16.0); corpus log_hatef2003_lane_keeper_float and
    log_zlee113_float_mlp (16.0: every op "unsupported data type").
    """
    profile = ctx.profile
    allowed = profile.dtypes
    if ctx.model.is_compiled:  # already compiled: the Edge TPU part is the edgetpu-custom-op
        return []
    for g in ctx.graphs:
        tensors = g.subgraph.tensors
        for op in g.subgraph.operators:
            if op.opcode in ("QUANTIZE", "DEQUANTIZE", "CUSTOM"):
                continue
            if all(tensors[i].dtype in allowed or tensors[i].data_size for i in op.inputs if i >= 0) and \
                    all(tensors[i].dtype in allowed for i in op.outputs):
                return []
    if not any(g.subgraph.operators for g in ctx.graphs):
        return []
    dtypes = sorted({t.dtype for g in ctx.graphs for t in g.subgraph.tensors if not t.data_size} - set(allowed))
    reject = profile.float_model == "reject"
    message = (f"no operator works on {' or '.join(sorted(allowed))} tensors (activations are "
               f"{', '.join(dtypes) or 'not quantized'}): "
               + ("\"Model not quantized\"" if reject else f"compiler {profile.compiler} maps 0 operations"))
    return [Hit(message, "quantize the whole model to int8 (full-integer post-training quantization)", subgraph=0,
                effect=None if reject else Effect.NONE)]


def _bias_of_another_dtype(ctx: Context, ops: np.ndarray) -> np.ndarray:
    columns = ctx.sg.columns
    assert columns is not None
    bias = columns.operand(ops, WEIGHTED[ctx.sg.operators[int(ops[0])].opcode][1])
    return (bias >= 0) & ~columns.by_dtype(ctx.profile.bias_dtypes.__contains__, bias)


@_gate("TPU004", "non-int32-bias", confidence=Confidence.OBSERVED, opcodes=(
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"), scope="op")
@prefilter(_bias_of_another_dtype)
def non_int32_bias(ctx, op) -> list[Hit] | None:
    """The bias of a convolution or fully-connected op is not {bias_dtypes}; compilation aborts.

    ## Why it matters
    The compiler runs the TFLite kernels' Prepare step; for an 8-bit conv a non-int32 bias fails the check
    `bias->type != kTfLiteInt32 (INT8 != INT32)`, and the compile ends in "Internal compiler error. Aborting!".

    ## How to fix
    Re-quantize with the standard TFLite converter, which stores biases as int32 (int8 biases come from
    hand-written or third-party quantizers).

    ## Example
    CONV_2D whose third input `conv1/bias` is int8.

    ## Sources
    #212 (14.1), COMPILER.md 1.5 and 4.4.
    """
    _, bias = WEIGHTED[op.opcode]
    b = op.inputs[bias] if len(op.inputs) > bias else -1
    if b < 0:
        return None
    t = ctx.tensors[b]
    x = ctx.tensors[op.inputs[2 if op.opcode == "TRANSPOSE_CONV" else 0]]
    if t.dtype in ctx.profile.bias_dtypes or x.dtype not in ctx.profile.dtypes:
        return None
    return [Hit(f"bias {ctx.describe(t)} of {op.opcode} is {t.dtype}, the kernel requires int32",
                "store the bias as int32 (scale = input scale × weight scale)", tensor=b)]


@_gate("TPU005", "multiple-subgraphs", confidence=Confidence.HEURISTIC)
def multiple_subgraphs(ctx: ModelContext) -> list[Hit]:
    """The model has more than one TFLite subgraph or uses control flow (WHILE, IF, CALL_ONCE).

    ## Why it matters
    Every model the Edge TPU compiler is known to compile has exactly one TFLite subgraph; control-flow ops and
    the subgraphs they call are not part of the supported table. No public log shows what the compiler prints,
    so the confidence is heuristic. (The compiler's "More than one subgraph is not supported" status is about
    Edge TPU partitions, not TFLite subgraphs.)

    ## How to fix
    Unroll loops and conditionals before converting (fixed sequence length, `tf.function` without Python-level
    control flow on tensors), so the model is one flat graph.

    ## Example
    A keras LSTM converted as a WHILE loop over two subgraphs.

    ## Sources
    COMPILER.md 2.6 ([MEM]/[INF]); TD: every compiled model has one subgraph.
    """
    hits = [Hit(f"control-flow op {op.opcode} calls other subgraphs", "unroll the loop or conditional",
                op=op, subgraph=g.subgraph.index)
            for g in ctx.graphs for op in ops_with_opcode(g.subgraph, CONTROL_FLOW)]
    if not hits and len(ctx.model.subgraphs) > 1:
        hits.append(Hit(f"the model has {len(ctx.model.subgraphs)} subgraphs; the compiler handles one",
                        "export a single-subgraph model", subgraph=1))
    return hits


@_gate("TPU006", "empty-subgraph", confidence=Confidence.OBSERVED)
def empty_subgraph(ctx: ModelContext) -> list[Hit]:
    """A subgraph has no operators (or no tensors).

    ## Why it matters
    The compiler's loader stops with `ERROR: Did not get operators, tensors, or buffers in subgraph 0.`

    ## How to fix
    Check the conversion: an empty subgraph usually means the converter dropped the graph (wrong signature,
    everything folded to constants).

    ## Example
    A model whose only subgraph has inputs and outputs but no operators.

    ## Sources
    tensorflow/tensorflow#43288 (14.1), COMPILER.md 1.4 and 4.4.
    """
    return [Hit(f"subgraph {g.subgraph.index} has {len(g.subgraph.operators)} operators and "
                f"{len(g.subgraph.tensors)} tensors", "re-export the model; the converter produced an empty graph",
                subgraph=g.subgraph.index)
            for g in ctx.graphs if not g.subgraph.operators or not g.subgraph.tensors]


@rule("TPU007", "op-version-uncertain", severity=Severity.WARNING, confidence=Confidence.HEURISTIC,
      effect=Effect.NONE, scope="model")
def op_version_uncertain(ctx: ModelContext) -> list[Hit]:
    """An operator version may be too new for compiler {compiler}: it is not known to parse or to fail.

    ## Why it matters
    Versions first emitted by TensorFlow {accepts_tf} or earlier parse and those from {rejects_tf} on are
    rejected (TPU001); versions in between, and versions tpulint's table does not list, have no evidence
    either way. If the compiler does not know the version, the whole model fails to parse.

    ## How to fix
    Compile once to confirm; if it fails with "Didn't find op for builtin opcode", convert with an older
    TensorFlow.

    ## Example
    STRIDED_SLICE version 6 (TF 2.6) on compiler 16.0.

    ## Sources
    COMPILER.md 1.4 ([INF] on which versions compiler 16.0 accepts); rules/tflite-versions.toml.
    """
    profile = ctx.profile
    hits: list[Hit] = []
    for g, op, release in _distinct_op_versions(ctx):
        if op.opcode.startswith("UNKNOWN"):
            continue
        if release is None and op.version > 1 and op.opcode in profile.op_versions:
            hits.append(Hit(f"{op.opcode} version {op.version} is newer than tpulint's version table",
                            "compile once to confirm the compiler parses it", op=op, subgraph=g.subgraph.index))
        elif release is not None and profile.accepts_tf < release < profile.rejects_tf:
            hits.append(Hit(f"{op.opcode} version {op.version} (TF {_release(release)}) may not parse on compiler "
                            f"{profile.compiler}", "compile once to confirm, or convert with TF <= "
                            f"{_release(profile.accepts_tf)}", op=op, subgraph=g.subgraph.index))
    return hits


@rule("TPU008", "unwritten-tensor", severity=Severity.WARNING, confidence=Confidence.HEURISTIC,
      effect=Effect.NONE, scope="model")
def unwritten_tensor(ctx: ModelContext) -> list[Hit]:
    """An operator reads a tensor that no operator writes and that is neither a model input nor a constant.

    ## Why it matters
    Such a tensor has no defined value: the TFLite interpreter reads uninitialized memory, and the compiler,
    which first loads the model into a TFLite interpreter, may refuse it or compile a graph that computes
    garbage. It usually means the file was edited by hand or cut with a tool that dropped the producing op
    or forgot to list the tensor as an input.

    ## How to fix
    Re-export the model, or list the tensor among the subgraph's inputs if it is meant to be fed.

    ## Example
    A RELU reading tensor `features`, which no op produces and which is not in the subgraph's inputs.

    ## Sources
    TFLite schema (subgraph inputs, buffers); no compiler log shows this case, hence the heuristic confidence
    and no effect on the predicted placement.
    """
    hits: list[Hit] = []
    for g in ctx.graphs:
        sg = g.subgraph
        seen: set[int] = set()
        for op_index, t in g.unwritten_reads:
            if t in seen:
                continue
            seen.add(t)
            hits.append(Hit(f"op {op_index} {sg.operators[op_index].name} reads {sg.tensors[t].name!r}, which no op "
                            "writes and which is not a model input", "re-export the model, or make the tensor an input",
                            op=sg.operators[op_index], subgraph=sg.index, tensor=t))
    return hits


@rule("TPU009", "unknown-intermediate-tensor", severity=Severity.WARNING, confidence=Confidence.HEURISTIC,
      effect=Effect.NONE, scope="model")
def unknown_intermediate_tensor(ctx: ModelContext) -> list[Hit]:
    """A tensor named with `-i` / `--intermediate-tensors` does not exist in the model.

    ## Why it matters
    `edgetpu_compiler -i` ends the Edge TPU segment at the named tensors. A name that matches no tensor cuts
    nothing, so the prediction (and the real compile) maps more than you meant — or the compiler refuses the
    option; its behaviour with an unknown name is not documented.

    ## How to fix
    Use the exact tensor name Netron or `tpulint --format full` shows (the output tensor of the op to cut after),
    separating several names with commas and no spaces.

    ## Example
    `tpulint -i conv_5/Relu model.tflite` on a model whose tensor is called `model/conv_5/Relu`.

    ## Sources
    coral.ai compiler options (`--intermediate_tensors`, COMPILER.md 3.3); nothing public shows the compiler's
    answer to an unknown name, hence the heuristic confidence.
    """
    wanted = ctx.config.intermediate_tensors
    if not wanted:
        return []
    names = {t.name for g in ctx.graphs for t in g.subgraph.tensors}
    return [Hit(f"-i names tensor {name!r}, which this model does not have; nothing is cut there",
                "use the exact tensor name (tpulint --format full lists each op's output tensor)")
            for name in wanted if name not in names]
