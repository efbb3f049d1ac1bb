"""TPU50x: documented per-layer limitations — activations, constants, dilation, FC, PReLU, resize versions."""

from __future__ import annotations

from functools import partial
from operator import attrgetter
from typing import TYPE_CHECKING

from tpulint.checks._base import Context, Hit, prefilter
from tpulint.findings import TWO_D_OUTPUT, UNSPECIFIED_LIMITATION, VERSION_NOT_SUPPORTED, Confidence, Effect, Severity
from tpulint.model import Operator
from tpulint.registry import rule

if TYPE_CHECKING:
    import numpy as np

_cpu_rule = partial(rule, severity=Severity.ERROR, effect=Effect.CPU, status=UNSPECIFIED_LIMITATION)


def _nontrivial(shape: tuple[int, ...]) -> int:
    return sum(1 for d in shape if d > 1)


@_cpu_rule("TPU500", "fused-activation", confidence=Confidence.DOCUMENTED,
           opcodes=("AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION"))
def fused_activation(ctx: Context, op: Operator) -> list[Hit] | None:
    """A pooling or concatenation op has a fused activation function.

    ## Why it matters
    The table says "No fused activation function" for AveragePool2d, MaxPool2d and Concatenation; such an op is
    not mapped. (No log shows the status line; tpulint uses "otherwise supported … unspecified limitation".)

    ## How to fix
    Apply the activation as a separate RELU/RELU6 op, or before the pooling (max-pool and ReLU commute).

    ## Example
    MAX_POOL_2D with `fused_activation_function = RELU`.

    ## Sources
    coral.ai supported-operations table (COMPILER.md 1.2, AXIS7 and OLD-TABLE copies).
    """
    act = op.fused_activation
    if act in ("NONE", "0"):
        return None
    return [Hit(f"{op.opcode} has fused activation {act}", f"apply {act} as a separate op")]


@_cpu_rule("TPU501", "concat-constant-input", confidence=Confidence.DOCUMENTED,
           opcodes=("CONCATENATION",))
def concat_constant_input(ctx: Context, op: Operator) -> list[Hit] | None:
    """A CONCATENATION has a constant input that is not the documented zero-padding form.

    ## Why it matters
    A constant input is allowed only when the concatenation has exactly 2 inputs and the constant is all
    zeros (it acts as padding); otherwise the op is not mapped. tpulint reads the constant to check the zeros
    when the model file is available.

    ## How to fix
    Fold the constant into the following layer, or concatenate it on the CPU after the Edge TPU part.

    ## Example
    CONCATENATION of an activation with a constant anchor table.

    ## Sources
    coral.ai supported-operations table (COMPILER.md 1.2, 2.5).
    """
    ts = ctx.tensors
    consts = [i for i in op.inputs if i >= 0 and ts[i].data_size]
    if not consts or ts[op.outputs[0]].dtype not in ctx.profile.dtypes:  # other dtypes: TPU200 explains it
        return None
    if len(op.inputs) == 2:
        values = ctx.constant(consts[0])
        if values is None or not any(values):
            return None
        return [Hit(f"CONCATENATION's constant input {ctx.describe(ts[consts[0]])} is not all zeros",
                    "only an all-zero constant (padding) may be concatenated", tensor=consts[0])]
    return [Hit(f"CONCATENATION of {len(op.inputs)} inputs has constant input {ctx.describe(ts[consts[0]])}",
                "concatenate constants on the CPU or fold them into the next layer", tensor=consts[0])]


def _dilated(ctx: Context, ops: np.ndarray) -> np.ndarray:
    import numpy as np

    options = list(map(_options_of, map(ctx.sg.operators.__getitem__, ops.tolist())))
    # Equal option tables share one dict: each distinct dict is looked at once (C-level maps over the ops).
    distinct = dict(zip(map(id, options), options))
    dilated = {k: (o.get("dilation_w_factor", 1) or 1) != 1 or (o.get("dilation_h_factor", 1) or 1) != 1
               for k, o in distinct.items()}
    return np.fromiter(map(dilated.__getitem__, map(id, options)), bool, len(options))


_options_of = attrgetter("options")


@_cpu_rule("TPU502", "unequal-dilation", confidence=Confidence.DOCUMENTED,
           opcodes=("CONV_2D", "DEPTHWISE_CONV_2D"))
@prefilter(_dilated)
def unequal_dilation(ctx: Context, op: Operator) -> list[Hit] | None:
    """A convolution uses different dilation in x and y (or a dilated depthwise conv on runtime 12 or older).

    ## Why it matters
    The table: "Must use the same dilation in x and y dimensions"; before runtime 13 dilated depthwise kernels
    were not supported at all. A dilation along a kernel dimension of size 1 changes nothing and is ignored:
    compiler 16.0 mapped 3×1 convolutions with dilation (1, 2) and (1, 4) (corpus ext_edgetpu_tcn_sentiment).

    ## How to fix
    Use the same dilation rate in both directions, or an undilated kernel.

    ## Example
    CONV_2D with dilation_w_factor 2 and dilation_h_factor 1.

    ## Sources
    coral.ai supported-operations table (COMPILER.md 1.2; the runtime-12 row is [MEM]).
    """
    dw = op.options.get("dilation_w_factor", 1) or 1
    dh = op.options.get("dilation_h_factor", 1) or 1
    w = ctx.tensors[op.inputs[1]].shape if len(op.inputs) > 1 and op.inputs[1] >= 0 else ()
    if len(w) == 4:  # [out|1, kh, kw, in|out]: a dilation along a 1-wide kernel dimension has no effect
        dh, dw = (dh if w[1] > 1 else dw), (dw if w[2] > 1 else dh)
    if dw != dh:
        return [Hit(f"{op.opcode} dilation is {dw} in x and {dh} in y", "use the same dilation in x and y")]
    if op.opcode == "DEPTHWISE_CONV_2D" and dw != 1 and ctx.runtime <= 12:
        return [Hit(f"dilated DEPTHWISE_CONV_2D (dilation {dw}) needs runtime 13; the target is {ctx.runtime}",
                    "target runtime 13 or later")]
    return None


@rule("TPU503", "space-to-batch-dilation", severity=Severity.WARNING, confidence=Confidence.OBSERVED,
      effect=Effect.NONE, opcodes=("SPACE_TO_BATCH_ND",))
def space_to_batch_dilation(ctx: Context, op: Operator) -> list[Hit] | None:
    """A dilated convolution was lowered to SPACE_TO_BATCH_ND → conv → BATCH_TO_SPACE_ND.

    ## Why it matters
    Some TensorFlow versions (2.5–2.6, and older graphs such as Keras DeepLab) express atrous convolution this
    way. SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND are not supported, and the convolution between them works on a
    batch of block² tiles, which breaks the rank rule ("Tensor has unsupported rank"): the ASPP part of the
    model runs on the CPU.

    ## How to fix
    Convert with a TensorFlow version that keeps the dilation inside CONV_2D/DEPTHWISE_CONV_2D (TF ≥ 2.7 or
    ≤ 2.4), or use the same dilation in x and y so the converter can fuse it.

    ## Example
    SPACE_TO_BATCH_ND [1,33,33,320] → [4,17,17,320], DEPTHWISE_CONV_2D, BATCH_TO_SPACE_ND.

    ## Sources
    #75, #453, tensorflow/tensorflow#52290 (COMPILER.md 1.5).
    """
    return [Hit(f"SPACE_TO_BATCH_ND {ctx.describe(ctx.tensors[op.inputs[0]])}: a dilated convolution split into "
                "batch tiles; the ops up to BATCH_TO_SPACE_ND stay on the CPU",
                "convert with a TF version that keeps dilation inside the convolution")]


@rule("TPU509", "fully-connected-limits", severity=Severity.ERROR, confidence=Confidence.DOCUMENTED,
      effect=Effect.CPU, status=TWO_D_OUTPUT, opcodes=("FULLY_CONNECTED",), limits=("fully_connected_1d_output",))
def fully_connected_limits(ctx: Context, op: Operator) -> list[Hit] | None:
    """A FULLY_CONNECTED has a multi-dimensional output or a non-default weights format.

    ## Why it matters
    The table: "Only the default format is supported for fully-connected weights. Output tensor is
    one-dimensional." Compiler 2.0 logged a 2-D output as "For example, a fully-connected or softmax layer with
    2D output". Compiler 16.0 maps FULLY_CONNECTED with [15, 256], [2, 1000] and 3-D outputs, so there only the
    weights format is checked; 2.1–15.0 are unobserved and the finding is heuristic there (1-D output required
    here: {fully_connected_1d_output}).

    ## How to fix
    Keep the batch at 1 and do not use `keep_num_dims`; flatten before the layer. Convert without the
    shuffled weights format.

    ## Example
    FULLY_CONNECTED with output int8[4, 10].

    ## Sources
    coral.ai table (COMPILER.md 1.2); #27 (2.0.267685300); corpus ext_redax_rf_gemm_batch256,
    ext_redax_rf_batch1000_fc_transpose, ext_redax_rf_onetree_noif_pack_transpose (16.0 logs, COMPILER.md 9).
    """
    out = ctx.tensors[op.outputs[0]]
    profile = ctx.profile
    if profile.limits["fully_connected_1d_output"] and _nontrivial(out.shape) > 1:
        observed = profile.observed_here("fully_connected_1d_output")
        return [Hit(f"FULLY_CONNECTED output {ctx.describe(out)} is not one-dimensional" + ("" if observed else
                    f" (refused by compiler 2.0; compiler 16.0 maps it; compiler {profile.compiler} is unobserved, "
                    "--compiler changes this)"), "flatten so the output is [1, units]",
                    confidence=None if observed else Confidence.HEURISTIC)]
    fmt = op.options.get("weights_format", 0)
    if fmt:
        return [Hit(f"FULLY_CONNECTED uses weights format {fmt}, only DEFAULT (0) maps",
                    "convert without the shuffled weights format", status=UNSPECIFIED_LIMITATION)]
    return None


@_cpu_rule("TPU510", "prelu-alpha-shape", confidence=Confidence.DOCUMENTED, opcodes=("PRELU",))
def prelu_alpha_shape(ctx: Context, op: Operator) -> list[Hit] | None:
    """A PRELU's alpha has more than one dimension larger than 1.

    ## Why it matters
    The table: alpha must be 1-D (only the innermost dimension may exceed 1); with Keras PReLU on a 4-D input
    that means `shared_axes=[1, 2]` (one alpha per channel).

    ## How to fix
    Use `tf.keras.layers.PReLU(shared_axes=[1, 2])`.

    ## Example
    PRELU with alpha of shape [8, 8, 16] (one value per pixel and channel).

    ## Sources
    coral.ai table (COMPILER.md 1.2, AXIS7).
    """
    if len(op.inputs) < 2 or op.inputs[1] < 0:
        return None
    alpha = ctx.tensors[op.inputs[1]]
    if _nontrivial(alpha.shape) <= 1 and (not alpha.shape or alpha.shape[-1] == max(alpha.shape)):
        return None
    return [Hit(f"PRELU alpha {ctx.describe(alpha)} varies along more than the channel dimension",
                "share alpha across height and width (Keras PReLU(shared_axes=[1, 2]))", tensor=alpha.index)]


@rule("TPU511", "resize-version", severity=Severity.ERROR, confidence=Confidence.OBSERVED, effect=Effect.CPU,
      status=VERSION_NOT_SUPPORTED, opcodes=("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR"),
      limits=("resize_half_pixel_centers", "resize_max_version"))
def resize_version(ctx: Context, op: Operator) -> list[Hit] | None:
    """A RESIZE_* op uses `half_pixel_centers` or a version (above {resize_max_version}) this compiler does not map.

    ## Why it matters
    TF ≥ 2.3 emits RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR version 3+ with `half_pixel_centers`; compilers
    14.1 and 15.0 parse it but log "Operation version not supported" and leave it on the CPU. Compiler 16.0
    maps it (half_pixel_centers allowed here: {resize_half_pixel_centers}).

    ## How to fix
    Use compiler 16.0, or build the resize with `half_pixel_centers=False` (TF 2.2-style conversion).

    ## Example
    RESIZE_NEAREST_NEIGHBOR version 3 with half_pixel_centers=True on compiler 15.0.

    ## Sources
    tiny_yolo log (14.1), #206, #396, #420 (15.0); corpus ext_yolov5n_sandhya (16.0 maps it); COMPILER.md 1.4.
    """
    limits = ctx.profile.limits
    hpc = bool(op.options.get("half_pixel_centers", False))
    if hpc and not limits["resize_half_pixel_centers"]:
        return [Hit(f"{op.opcode} v{op.version} uses half_pixel_centers, not mapped by compiler "
                    f"{ctx.profile.compiler}", "resize with half_pixel_centers=False, or use compiler 16.0")]
    if op.version > limits["resize_max_version"]:
        return [Hit(f"{op.opcode} version {op.version} is not mapped by compiler {ctx.profile.compiler}",
                    "convert with TF 2.2 or use compiler 16.0")]
    return None
