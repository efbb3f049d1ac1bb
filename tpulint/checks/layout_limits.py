"""TPU504-508: documented layout limitations — batch-dimension ops, MEAN depth, SOFTMAX and STRIDED_SLICE."""

from __future__ import annotations

from functools import partial

from tpulint.checks._base import Context, Hit, integer_values, normalize_axes, reduced_axes, seen_only_on
from tpulint.findings import TWO_D_OUTPUT, UNSPECIFIED_LIMITATION, Confidence, Effect, Severity
from tpulint.model import Operator
from tpulint.registry import rule

_documented_rule = partial(rule, severity=Severity.ERROR, confidence=Confidence.DOCUMENTED, effect=Effect.CPU,
            status=UNSPECIFIED_LIMITATION)
REDUCERS = ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN")


@_documented_rule("TPU504", "reduce-batch-axis", opcodes=REDUCERS)
def reduce_batch_axis(ctx: Context, op: Operator) -> list[Hit] | None:
    """A MEAN, SUM, REDUCE_MAX or REDUCE_MIN reduces over the batch dimension.

    ## Why it matters
    The table: "No reduction in batch dimension" (Mean, Sum) and "Cannot operate on the batch dimension"
    (ReduceMax, ReduceMin). Such an op is not mapped.

    ## How to fix
    Reduce over height, width or channels only; keep batch 1.

    ## Example
    MEAN over axes [0, 1, 2] of int8[1, 7, 7, 1280].

    ## Sources
    coral.ai table (COMPILER.md 1.2, AXIS7).
    """
    x = ctx.tensors[op.inputs[0]]
    axes = reduced_axes(ctx, op)
    if not axes or len(x.shape) < 4 or 0 not in axes:
        return None
    return [Hit(f"{op.opcode} over axes {axes} of {ctx.describe(x)} includes the batch dimension",
                "reduce over the spatial or channel axes only")]


@_documented_rule("TPU505", "mean-depth-multiple", opcodes=("MEAN",), limits=("mean_z_multiple",))
def mean_depth_multiple(ctx: Context, op: Operator) -> list[Hit] | None:
    """A MEAN reduces over the channel (z) dimension whose size is not a multiple of {mean_z_multiple}.

    ## Why it matters
    The table: "If a z-reduction, the z-dimension must be multiple of {mean_z_multiple}." Otherwise the op is
    not mapped.

    ## How to fix
    Pad the channels to a multiple of {mean_z_multiple} (a zero-weight conv output channel) or reduce over
    x/y only.

    ## Example
    MEAN over the last axis of int8[1, 8, 8, 6].

    ## Sources
    coral.ai table, Mean row (COMPILER.md 1.2, AXIS7).
    """
    x = ctx.tensors[op.inputs[0]]
    axes = reduced_axes(ctx, op)
    multiple = ctx.profile.limits["mean_z_multiple"]
    if not axes or len(x.shape) < 3 or len(x.shape) - 1 not in axes or x.shape[-1] % multiple == 0:
        return None
    return [Hit(f"MEAN over the channel axis of {ctx.describe(x)}: {x.shape[-1]} is not a multiple of {multiple}",
                f"pad the channels to a multiple of {multiple}, or reduce over height/width only")]


def _split_axis(ctx: Context, op: Operator) -> int | None:
    ts = ctx.tensors
    x = ts[op.inputs[1] if op.opcode == "SPLIT" else op.inputs[0]]
    axis_input = op.inputs[0] if op.opcode == "SPLIT" else op.inputs[2] if len(op.inputs) > 2 else -1
    values = ctx.constant(axis_input) if axis_input >= 0 else None
    axis = integer_values(values) if values is not None and len(values) == 1 else None
    if axis is not None:
        axes = normalize_axes(axis, len(x.shape))
        return axes[0] if axes else None
    out = ts[op.outputs[0]].shape
    diff = [i for i, (a, b) in enumerate(zip(x.shape, out)) if a != b]
    return diff[0] if len(diff) == 1 else None


@_documented_rule("TPU506", "batch-dimension-op", opcodes=("PAD", "PACK", "SPLIT", "SPLIT_V"))
def batch_dimension_op(ctx: Context, op: Operator) -> list[Hit] | None:
    """A PAD, PACK or SPLIT works along the batch dimension.

    ## Why it matters
    The table: "No padding in batch dimension" (Pad), "No packing in batch dimension" (Pack), and no splitting
    in the batch dimension (Split, [MEM]). Such an op is not mapped.

    The batch dimension is the first of a 4-D (or larger) tensor: compiler 16.0 maps a PACK along axis 0 of a
    3-D output ([16, 15, 1], corpus ext_redax_rf_gemm_16trees_split2d); a SPLIT along axis 0 of a 3-D tensor
    is TPU512.

    ## How to fix
    Pad, pack or split along height, width or channels; keep batch 1. (A SPLIT into one piece is a no-op and
    maps: corpus ext_coralmicro_yamnet_spectra_in.)

    ## Example
    PAD with paddings [[1, 1], [0, 0], [0, 0], [0, 0]] on int8[1, 8, 8, 3].

    ## Sources
    coral.ai table (COMPILER.md 1.2, AXIS7).
    """
    ts = ctx.tensors
    if op.opcode == "PACK":
        out = ts[op.outputs[0]]
        axis = normalize_axes([int(op.options.get("axis", 0))], len(out.shape))  # type: ignore[call-overload]
        if axis == [0] and len(out.shape) >= 4:
            return [Hit(f"PACK along axis 0 makes {ctx.describe(out)}", "pack along an inner axis")]
        return None
    if op.opcode == "PAD":
        x, out = ts[op.inputs[0]], ts[op.outputs[0]]
        pads = ctx.constant(op.inputs[1]) if len(op.inputs) > 1 else None
        batch_padded = any(pads[:2]) if pads is not None and len(pads) >= 2 else \
            bool(x.shape and out.shape and x.shape[0] != out.shape[0])
        if len(x.shape) >= 4 and batch_padded:
            return [Hit(f"PAD pads the batch dimension of {ctx.describe(x)}", "pad height, width or channels only")]
        return None
    if op.opcode == "SPLIT" and (len(op.inputs) < 2 or op.inputs[1] < 0):
        return None
    x = ts[op.inputs[1] if op.opcode == "SPLIT" else op.inputs[0]]
    if len(x.shape) >= 4 and len(op.outputs) > 1 and _split_axis(ctx, op) == 0:
        return [Hit(f"{op.opcode} splits {ctx.describe(x)} along the batch dimension",
                    "split along an inner axis")]
    return None


@rule("TPU512", "split-outer-axis", severity=Severity.ERROR, confidence=Confidence.OBSERVED, effect=Effect.CPU,
      status=TWO_D_OUTPUT, opcodes=("SPLIT", "SPLIT_V"))
def split_outer_axis(ctx: Context, op: Operator) -> list[Hit] | None:
    """A SPLIT cuts a tensor of at most 3 dimensions along its first axis (of size > 1).

    ## Why it matters
    Compiler 16.0 left SPLIT int8[16, 14, 1] → 16 × [1, 14, 1] (axis 0) on the CPU with the status "For example,
    a fully-connected or softmax layer with 2D output", in two models, while SPLITs along the channel axis of
    4-D feature maps (YOLO, td_split_concat) and a one-piece SPLIT map. A PACK along the same axis maps
    (TPU506 has the batch-dimension rule for 4-D tensors). Only compiler 16.0 was seen: on older compilers the
    finding is heuristic.

    ## How to fix
    Split along the innermost axis (transpose or reshape so the pieces lie along the channels), or gather the
    pieces with STRIDED_SLICE/SLICE ops.

    ## Example
    SPLIT(axis=0) of int8[16, 14, 1] into 16 pieces.

    ## Sources
    Corpus ext_redax_rf_gemm_16trees_split2d and ext_redax_rf_gemm_128trees_532ops (16.0 logs: SPLIT 2 "For
    example, a fully-connected or softmax layer with 2D output"), COMPILER.md 9.
    """
    ts = ctx.tensors
    position = 1 if op.opcode == "SPLIT" else 0
    data = op.inputs[position] if len(op.inputs) > position else -1
    if data < 0 or (op.opcode == "SPLIT_V" and len(op.inputs) < 3) or op.inputs[0] < 0:
        return None
    x = ts[data]
    if not 2 <= len(x.shape) <= 3 or x.shape[0] <= 1 or len(op.outputs) < 2 or _split_axis(ctx, op) != 0:
        return None
    confidence, note = seen_only_on(ctx, ("16.0",))
    return [Hit(f"{op.opcode} cuts {ctx.describe(x)} along axis 0 into {len(op.outputs)} pieces{note}",
                "split along the innermost axis instead", confidence=confidence)]


@_documented_rule("TPU507", "softmax-limits", opcodes=("SOFTMAX",),
                  limits=("softmax_max_axis_elements", "softmax_1d_only"))
def softmax_limits(ctx: Context, op: Operator) -> list[Hit] | None:
    """A SOFTMAX runs over more than {softmax_max_axis_elements} elements (or is not 1-D, on compiler 2.0).

    ## Why it matters
    The 2019 table: "Supports only 1D input tensor with a max of 16,000 elements." Compiler 2.0 refused a 2-D
    softmax ("… softmax layer with 2D output"); compiler 16.0 maps 2-D and 4-D softmax whose softmax axis is
    small (YuNet [1076, 2], YOLOv8 [1, 4, 8400, 16]), so tpulint applies the element limit to the softmax
    (innermost) axis and the 1-D rule only where the profile says so (here: {softmax_1d_only}).

    ## How to fix
    Keep the class dimension at most {softmax_max_axis_elements}; split a huge softmax or run it on the CPU.

    ## Example
    SOFTMAX over int8[1, 21843] (ImageNet-21k classes).

    ## Sources
    OLD-TABLE (COMPILER.md 1.2), #27 (2.0); corpus ext_yunet_face_detector_tsuden, ext_yolov8n_* (16.0).
    """
    x = ctx.tensors[op.inputs[0]]
    limits = ctx.profile.limits
    depth = x.shape[-1] if x.shape else 1
    if depth > limits["softmax_max_axis_elements"]:
        return [Hit(f"SOFTMAX over {depth:,} elements of {ctx.describe(x)} exceeds "
                    f"{limits['softmax_max_axis_elements']:,}", "reduce the number of classes or split the softmax")]
    if limits["softmax_1d_only"] and sum(1 for d in x.shape if d > 1) > 1:
        return [Hit(f"SOFTMAX input {ctx.describe(x)} is not one-dimensional", "flatten to [1, N] first",
                    status=TWO_D_OUTPUT)]
    return None


@_documented_rule("TPU508", "strided-slice-limits", opcodes=("STRIDED_SLICE",))
def strided_slice_limits(ctx: Context, op: Operator) -> list[Hit] | None:
    """A STRIDED_SLICE has a stride other than 1, or an ellipsis or new-axis mask.

    ## Why it matters
    The 2019 table maps STRIDED_SLICE only when it is a plain slice: all strides 1, `ellipsis_mask` and
    `new_axis_mask` 0. (Current wording not re-verified.) tpulint reads the strides when the model file is
    available.

    ## How to fix
    Use a SLICE (strides 1); subsample with a strided convolution or pooling instead of a strided slice.

    ## Example
    STRIDED_SLICE with strides [1, 2, 2, 1] (a space-to-depth written by hand).

    ## Sources
    OLD-TABLE (COMPILER.md 1.2).
    """
    masks = [m for m in ("ellipsis_mask", "new_axis_mask") if op.options.get(m, 0)]
    if masks:
        return [Hit(f"STRIDED_SLICE uses {' and '.join(masks)}", "express the slice without ellipsis/new axes")]
    strides = ctx.constant(op.inputs[3]) if len(op.inputs) > 3 and op.inputs[3] >= 0 else None
    if strides is not None and any(s != 1 for s in strides):
        return [Hit(f"STRIDED_SLICE strides {list(strides)} are not all 1", "use strides of 1 (a plain slice)",
                    tensor=op.inputs[3])]
    return None
