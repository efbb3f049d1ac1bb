"""TPU6xx: size heuristics — thresholds inferred from what the real compiler did to the corpus models."""

from __future__ import annotations

from functools import partial

from tpulint.checks._base import Context, F_ROW, Hit, elements, needs, reduced_axes
from tpulint.findings import UNSPECIFIED_LIMITATION, Confidence, Effect, Severity
from tpulint.model import Operator
from tpulint.registry import rule

_heuristic_rule = partial(rule, severity=Severity.WARNING, confidence=Confidence.HEURISTIC, effect=Effect.CPU,
                  status=UNSPECIFIED_LIMITATION)


def input_elements(ctx: Context, op: Operator) -> int:
    return elements(ctx.tensors[op.inputs[0]].shape)


def output_elements(ctx: Context, op: Operator) -> int:
    return elements(ctx.tensors[op.outputs[0]].shape)


def longest_row(ctx: Context, op: Operator) -> int:
    """The most elements in the two innermost dimensions of any activation the op reads or writes."""
    rows, ts = ctx.rows, ctx.tensors
    return max([rows[i] for i in op.inputs if i >= 0 and not ts[i].data_size] + [rows[i] for i in op.outputs],
               default=0)


def reduced_elements(ctx: Context, op: Operator) -> int | None:
    """Values a MEAN averages into each output value."""
    axes = reduced_axes(ctx, op)
    if not axes:
        return None
    x = ctx.tensors[op.inputs[0]]
    n = 1
    for a in axes:
        n *= max(x.shape[a], 1)
    return n


def output_units(ctx: Context, op: Operator) -> int:
    out = ctx.tensors[op.outputs[0]]
    return out.shape[-1] if out.shape else 1


@_heuristic_rule("TPU600", "large-tensor-row", limits=("tensor_row_max_elements",))
@needs(F_ROW)
def large_tensor_row(ctx: Context, op: Operator) -> list[Hit] | None:
    """A tensor's two innermost dimensions hold more than {tensor_row_max_elements} elements.

    ## Why it matters
    Detection heads flatten feature maps into long rows ([1, 144, 8400], [1, 25200, 85]); the compiler refuses
    ops on them with "Operation is otherwise supported, but not mapped due to some unspecified limitation"
    while the same ops on feature maps of many more elements ([1, 80, 80, 144]) map. Across the corpus the
    deciding quantity is the size of the two innermost dimensions: the longest row seen mapped is SSD's
    [1, 1917, 91] (174,447: CONCATENATION and LOGISTIC), the shortest refused one that no other limit explains
    is YOLOv5n@640's RESHAPE to [1, 4800, 85] (408,000). `bench/fit.py` places the threshold
    ({tensor_row_max_elements}) at the geometric mean of the two; EfficientDet-Lite's final LOGISTIC on
    1×20736×90 (#490) fits it. A mapped op with a row between the two, or a refused one below, would settle it.

    ## How to fix
    Use a smaller input size (YOLOv8n@160 maps completely), or export the model without the head's
    flatten/concat and decoding and run those on the CPU.

    ## Example
    CONCATENATION of [1, 144, 6400], [1, 144, 1600], [1, 144, 400] into [1, 144, 8400].

    ## Sources
    Corpus ext_yolov5n_sandhya, ext_yolov8n_goalbuddy, ext_yolov8n_nerbivol, ext_ssd_mnv1_detect_nipitpol;
    logs log_jveitch_yolov8n_160_full, #490, #512, ultralytics#20351 (COMPILER.md 1.5).
    """
    limit = ctx.profile.limits["tensor_row_max_elements"]
    rows = ctx.rows
    ts = ctx.tensors
    worst = -1
    for i in op.inputs:
        if i >= 0 and rows[i] > limit and not ts[i].data_size and (worst < 0 or rows[i] > rows[worst]):
            worst = i
    for i in op.outputs:
        if rows[i] > limit and (worst < 0 or rows[i] > rows[worst]):
            worst = i
    if worst < 0:
        return None
    t = ts[worst]
    return [Hit(f"{ctx.describe(t)}: its two innermost dimensions hold {rows[worst]:,} elements (> {limit:,})",
                "use a smaller input size, or export without the detection decode and run it on the CPU",
                threshold=(rows[worst], limit, 2 if len(t.shape) <= 3 else 1))]  # [1, C, H*W] vs [.., W, C]


@_heuristic_rule("TPU601", "large-transpose", opcodes=("TRANSPOSE",), limits=("transpose_max_elements",))
def large_transpose(ctx: Context, op: Operator) -> list[Hit] | None:
    """A TRANSPOSE moves more than {transpose_max_elements} elements.

    ## Why it matters
    Compiler 16.0 maps TRANSPOSE, but not large ones: in the YOLO heads the NHWC→NCHW transpose maps up to
    22×22×144 (69,696 elements, YOLOv5nu@352) and is refused at 40×40×65 (104,000, a custom YOLOv8) and larger,
    as is the [1, 4, 16, 2100] box transpose (134,400). `bench/fit.py` places the threshold
    ({transpose_max_elements}) at the geometric mean of 69,696 and 104,000; a mapped transpose in that range, or
    a refused smaller one, would settle it. Large transposes near the input (#433) are refused the same way.

    ## How to fix
    Avoid layout transposes on large feature maps (export in NHWC), or cut the model before them.

    ## Example
    TRANSPOSE int8[1, 40, 40, 144] → [1, 144, 40, 40].

    ## Sources
    Corpus ext_edward_yolov5nu_352_int8, ext_edward_yolov8n_224_int8, ext_yolov8n_goalbuddy, ext_yolov8n_nerbivol,
    ext_yolov8_best_ddu, ext_yolov8_best_smart_parking; #433; log_hatef2003_model_int8_transpose_break.
    """
    limit = ctx.profile.limits["transpose_max_elements"]
    x = ctx.tensors[op.inputs[0]]
    n = input_elements(ctx, op)
    if n <= limit:
        return None
    return [Hit(f"TRANSPOSE of {ctx.describe(x)} moves {n:,} elements (> {limit:,})",
                "transpose a smaller tensor, or run this part on the CPU", threshold=(n, limit, 2))]


@_heuristic_rule("TPU602", "large-reshape", opcodes=("RESHAPE",), limits=("reshape_max_elements",))
def large_reshape(ctx: Context, op: Operator) -> list[Hit] | None:
    """A RESHAPE changes the layout of more than {reshape_max_elements} elements.

    ## Why it matters
    The table warns "certain reshapes might not be mapped for large tensor sizes". In YOLOv5n@640 the
    [1, 80, 80, 255] → [1, 6400, 3, 85] reshape (1,632,000 elements) is refused although its rows are short,
    while [1, 40, 40, 255] → [1, 1600, 3, 85] (408,000) maps. `bench/fit.py` places the threshold
    ({reshape_max_elements}) at the geometric mean of the two (long rows are covered by TPU600).

    ## How to fix
    Cut the model before the detection head's reshapes, or use a smaller input size.

    ## Example
    RESHAPE int8[1, 80, 80, 255] → [1, 6400, 3, 85].

    ## Sources
    Corpus ext_yolov5n_sandhya (16.0 log: 3 RESHAPE "otherwise supported"); coral.ai table Reshape row.
    """
    limit = ctx.profile.limits["reshape_max_elements"]
    x = ctx.tensors[op.inputs[0]]
    n = input_elements(ctx, op)
    if n <= limit:
        return None
    return [Hit(f"RESHAPE of {ctx.describe(x)} ({n:,} elements, > {limit:,})",
                "use a smaller input size, or export without the detection decode and run it on the CPU",
                threshold=(n, limit, 2))]


@_heuristic_rule("TPU603", "large-resize-bilinear", opcodes=("RESIZE_BILINEAR",),
                 limits=("resize_bilinear_max_ratio", "resize_bilinear_max_output_elements"))
def large_resize_bilinear(ctx: Context, op: Operator) -> list[Hit] | None:
    """A RESIZE_BILINEAR scales by more than {resize_bilinear_max_ratio}× or outputs more than {resize_bilinear_max_output_elements} elements.

    ## Why it matters
    The table: "Depending on input/output size, this operation might not be mapped to the Edge TPU to avoid loss
    in precision"; a maintainer: it is refused "if loss of precision is higher than threshold". In DeepLab v3
    the 1×1 → 33×33 and 33×33 → 513×513 resizes stay on the CPU while 33×33 → 33×33 and MoveNet's 2× resizes
    map; #31 saw a 2× resize map at 128×128 input and fail at 512×512. tpulint flags a ratio above
    {resize_bilinear_max_ratio} (mapped: ≤ 2, refused: ≥ 15.5) or an output above
    {resize_bilinear_max_output_elements} elements (mapped: 196,608, refused: 3,145,728).

    ## How to fix
    Upsample in steps of 2× (or use RESIZE_NEAREST_NEIGHBOR / TILE for a 1×1 source), and do the final
    full-resolution resize on the CPU.

    ## Example
    RESIZE_BILINEAR uint8[1, 1, 1, 256] → [1, 33, 33, 256] (DeepLab's image-pooling branch).

    ## Sources
    TD/corpus deeplabv3_mnv2_pascal_quant, deeplab_mobilenet_edgetpu_slim, movenet; #31, #63 (COMPILER.md 1.5).
    """
    limits = ctx.profile.limits
    x, out = ctx.tensors[op.inputs[0]], ctx.tensors[op.outputs[0]]
    if len(x.shape) < 3 or len(out.shape) < 3:
        return None
    ratio = max(out.shape[-3] / max(x.shape[-3], 1), out.shape[-2] / max(x.shape[-2], 1))
    n = elements(out.shape)
    if ratio > limits["resize_bilinear_max_ratio"]:
        return [Hit(f"RESIZE_BILINEAR {x.shape_text()} → {out.shape_text()} scales by {ratio:.1f}× "
                    f"(> {limits['resize_bilinear_max_ratio']}×)", "upsample in 2× steps, or resize on the CPU")]
    if n > limits["resize_bilinear_max_output_elements"]:
        return [Hit(f"RESIZE_BILINEAR output {ctx.describe(out)} has {n:,} elements "
                    f"(> {limits['resize_bilinear_max_output_elements']:,})", "do the final resize on the CPU",
                    threshold=(n, limits["resize_bilinear_max_output_elements"], 2))]
    return None


@_heuristic_rule("TPU606", "large-resize-nearest", opcodes=("RESIZE_NEAREST_NEIGHBOR",),
                 limits=("resize_nearest_max_output_elements",))
def large_resize_nearest(ctx: Context, op: Operator) -> list[Hit] | None:
    """A RESIZE_NEAREST_NEIGHBOR outputs more than {resize_nearest_max_output_elements} elements.

    ## Why it matters
    The table gives nearest-neighbour resizes the same note as bilinear ones ("depending on input/output size,
    this operation might not be mapped"). In an AdaIN decoder three identical 2× upsamplings map at
    1×64×64×256 and 1×128×128×128 (2,097,152 elements) and the last one, to 1×256×256×64 (4,194,304), stays on
    the CPU with everything after it. The threshold ({resize_nearest_max_output_elements}) lies between the
    two; a mapped resize in between, or a refused smaller one, would settle it.

    ## How to fix
    Do the last, largest upsampling on the CPU (cut the model before it), or upsample fewer channels.

    ## Example
    RESIZE_NEAREST_NEIGHBOR int8[1, 128, 128, 64] → [1, 256, 256, 64].

    ## Sources
    Corpus ext_mistake_adain_decoder_resize256_cpu (COMPILER.md 9); coral.ai table ResizeNearestNeighbor row.
    """
    out = ctx.tensors[op.outputs[0]]
    n = output_elements(ctx, op)
    limit = ctx.profile.limits["resize_nearest_max_output_elements"]
    if n <= limit:
        return None
    return [Hit(f"RESIZE_NEAREST_NEIGHBOR output {ctx.describe(out)} has {n:,} elements (> {limit:,})",
                "do the largest upsampling on the CPU, or upsample fewer channels", threshold=(n, limit, 2))]


@_heuristic_rule("TPU604", "large-mean", opcodes=("MEAN",), limits=("mean_max_reduced_elements",))
def large_mean(ctx: Context, op: Operator) -> list[Hit] | None:
    """A MEAN averages more than {mean_max_reduced_elements} elements into each output value.

    ## Why it matters
    #461: MEAN over 1×256×128×3 (32,768 values per channel) was not mapped; split into four MEANs over
    1×64×128×3 (8,192) everything mapped. A global average over 256×256 crashed compiler 14.1 (#183). The
    threshold ({mean_max_reduced_elements}) lies between 8,192 and 32,768.

    ## How to fix
    Pool in stages (AVERAGE_POOL_2D, then a smaller MEAN), or split the MEAN over tiles and average the results.

    ## Example
    MEAN over axes [1, 2] of int8[1, 256, 128, 3].

    ## Sources
    #461 (16.0, maintainer), #183 (14.1) (COMPILER.md 1.5).
    """
    x = ctx.tensors[op.inputs[0]]
    axes = reduced_axes(ctx, op)
    n = reduced_elements(ctx, op)
    if n is None:
        return None
    limit = ctx.profile.limits["mean_max_reduced_elements"]
    if n <= limit:
        return None
    return [Hit(f"MEAN over axes {axes} of {ctx.describe(x)} averages {n:,} values each (> {limit:,})",
                "pool in stages (AVERAGE_POOL_2D first) or split the reduction", threshold=(n, limit, 2))]


@_heuristic_rule("TPU605", "large-fully-connected", opcodes=("FULLY_CONNECTED",),
                 limits=("fully_connected_max_units",))
def large_fully_connected(ctx: Context, op: Operator) -> list[Hit] | None:
    """A FULLY_CONNECTED has more than {fully_connected_max_units} output units.

    ## Why it matters
    Huge fully-connected layers (e.g. 100,000 classes) are cut from the Edge TPU delegate; Coral ships `split_fc`
    to block-split them. Dense layers of 12,288 units compiled and mapped (LIBRE). The threshold
    ({fully_connected_max_units}) lies between those; a mapped layer above it or a refused one below would
    settle it.

    ## How to fix
    Split the layer with libcoral's `split_fc` tool, or run the classifier on the CPU.

    ## Example
    FULLY_CONNECTED with weights [100000, 1280].

    ## Sources
    LIBCORAL-CHANGES (split_fc), LibrEdgeTPU hardware analysis, #663 (COMPILER.md 1.5).
    """
    units = output_units(ctx, op)
    limit = ctx.profile.limits["fully_connected_max_units"]
    if units <= limit:
        return None
    return [Hit(f"FULLY_CONNECTED with {units:,} output units (> {limit:,})",
                "split the layer (libcoral split_fc) or run it on the CPU")]


# What each fitted limit bounds, measured the way its rule measures it: limit -> (opcodes or None = every op, measure).
# bench/fit.py re-fits the limits from the corpus with these (COMPILER.md evidence, leave-one-repository-out).
MEASURES = {
    "tensor_row_max_elements": (None, longest_row),
    "transpose_max_elements": (frozenset({"TRANSPOSE"}), input_elements),
    "reshape_max_elements": (frozenset({"RESHAPE"}), input_elements),
    "resize_bilinear_max_output_elements": (frozenset({"RESIZE_BILINEAR"}), output_elements),
    "resize_nearest_max_output_elements": (frozenset({"RESIZE_NEAREST_NEIGHBOR"}), output_elements),
    "mean_max_reduced_elements": (frozenset({"MEAN"}), reduced_elements),
    "fully_connected_max_units": (frozenset({"FULLY_CONNECTED"}), output_units),
}
