"""TPU1xx: operator support — the compiler's op table, the runtime each op needs, custom and undocumented ops."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tpulint.checks._base import CONTROL_FLOW, LSTM_VARIANTS, Context, Hit, applies, prefilter, seen_only_on
from tpulint.config import DEFAULT_COMPILER
from tpulint.findings import NOT_SUPPORTED, UNSUPPORTED_DATA_TYPE, VERSION_NOT_SUPPORTED, Confidence, Effect, Severity
from tpulint.model import Operator
from tpulint.profile import load_profile
from tpulint.registry import rule

if TYPE_CHECKING:
    import numpy as np

# Concrete replacements for common unsupported ops (#272, #353, #508, #386).
_REPLACEMENTS = {
    "LEAKY_RELU": "use PRELU with a constant alpha, or MAXIMUM(x, alpha * x)",
    "HARD_SWISH": "use the model's 'minimalistic' variant (ReLU instead of hard-swish), or x * RELU6(x + 3) / 6",
    "ELU": "use PRELU or RELU instead",
    "DEPTH_TO_SPACE": "upsample with RESIZE_NEAREST_NEIGHBOR or TRANSPOSE_CONV instead",
    "BATCH_MATMUL": "use FULLY_CONNECTED with constant weights",
    "GELU": "approximate with LOGISTIC: x * sigmoid(1.702 * x)",
    "SQRT": "use RSQRT and MUL, or move it to post-processing",
    "DIV": "multiply by a constant reciprocal, or move it to post-processing",
}

# Ops with a rule of their own that explains them better than "not in the table".
_OWN_RULE = CONTROL_FLOW | LSTM_VARIANTS | {"CUSTOM", "DEQUANTIZE"}


@rule("TPU100", "unsupported-op", severity=Severity.ERROR, confidence=Confidence.DOCUMENTED, effect=Effect.CPU,
      status=NOT_SUPPORTED)
@applies(lambda ctx, code: code not in ctx.profile.ops and code not in _OWN_RULE
          and code not in ctx.profile.absorbed)
def unsupported_op(ctx: Context, op: Operator) -> list[Hit] | None:
    """The operator is not in compiler {compiler}'s supported-operations table.

    ## Why it matters
    The compiler maps only the operations in its table. This op runs on the CPU, and by default every op that
    depends on it does too ("More than one subgraph is not supported"), because the compiler builds a single
    Edge TPU subgraph.

    ## How to fix
    Replace the op with supported ones (e.g. LEAKY_RELU → PRELU or MAXIMUM(x, αx); HARD_SWISH → the
    "minimalistic" model variant), or move it after the last op you need on the Edge TPU. (`edgetpu_compiler -i`
    only ends the Edge TPU part in front of it, which the compiler does anyway: a clean split, not a fix.)

    ## Example
    A FLOOR between two convolutions splits the model: the convolutions after it stay on the CPU.

    ## Sources
    coral.ai "TensorFlow models on the Edge TPU", supported operations (COMPILER.md 1.1-1.3); #242, #342
    (TRANSPOSE "Operation not supported" on 14.1/15.0); #272 (HARD_SWISH, LEAKY_RELU); #386 (DEPTH_TO_SPACE).
    """
    code = op.opcode
    profile = ctx.profile
    if code in profile.ops or code in _OWN_RULE or code in profile.absorbed:
        return None
    latest = load_profile(DEFAULT_COMPILER)
    if code in latest.ops and profile.compiler != latest.compiler:
        fix = f"compile with compiler {latest.compiler} (--compiler {latest.compiler}), which maps {code}"
    else:
        fix = _REPLACEMENTS.get(code, "replace it with supported ops, or move it after the ops that should run on the "
                                      "Edge TPU")
    return [Hit(f"{code} is not supported by Edge TPU compiler {profile.compiler}", fix)]


@rule("TPU101", "op-needs-newer-runtime", severity=Severity.ERROR, confidence=Confidence.DOCUMENTED,
      effect=Effect.CPU, status=NOT_SUPPORTED)
@applies(lambda ctx, code: code in ctx.profile.ops and ctx.profile.ops[code].min_runtime > ctx.runtime)
def op_needs_newer_runtime(ctx: Context, op: Operator) -> list[Hit] | None:
    """The operator needs a newer Edge TPU runtime than the target `--min-runtime`.

    ## Why it matters
    `edgetpu_compiler -m N` promises the output runs on runtime N; ops added in a later runtime (ExpandDims,
    Pack, Quantize, Sum, TransposeConv, PReLU: 13; LSTM, ReduceMax/Min, Rsqrt, SquaredDifference, Transpose:
    14) are then left on the CPU. With `-m 10`/`-m 11` whole models have compiled to 0 Edge TPU subgraphs.
    The exact status line for this case was never seen in a log; tpulint prints "Operation not supported".

    ## How to fix
    Raise `--min-runtime` (the compiler's `-m`) if your devices run a newer libedgetpu, or replace the op.

    ## Example
    PACK with `--min-runtime 12`.

    ## Sources
    CHANGES.md (runtime v13 additions), coral.ai table runtime column (COMPILER.md 1.2, partly [MEM]);
    #225, #358, #439 (`-m 10/11`).
    """
    spec = ctx.profile.ops.get(op.opcode)
    if spec is None or spec.min_runtime <= ctx.runtime:
        return None
    return [Hit(f"{op.opcode} needs Edge TPU runtime {spec.min_runtime}; the target is runtime {ctx.runtime}",
                f"target runtime {spec.min_runtime} or later (--min-runtime {spec.min_runtime})")]


def _newer_version(ctx: Context, ops: np.ndarray) -> np.ndarray:
    import numpy as np

    columns = ctx.sg.columns
    assert columns is not None
    operators = ctx.sg.operators
    limit = ctx.profile.ops[operators[int(ops[0])].opcode].max_version
    assert limit is not None  # the check applies to such opcodes only
    codes = columns.opcode_index[ops]
    distinct, first = np.unique(codes, return_index=True)  # the version is the operator-code entry's
    newer = [code for code, i in zip(distinct.tolist(), first.tolist()) if operators[int(ops[i])].version > limit]
    return np.isin(codes, newer)


@rule("TPU105", "op-version-not-mapped", severity=Severity.ERROR, confidence=Confidence.OBSERVED, effect=Effect.CPU,
      status=VERSION_NOT_SUPPORTED)
@applies(lambda ctx, code: code in ctx.profile.ops and ctx.profile.ops[code].max_version is not None)
@prefilter(_newer_version)
def op_version_not_mapped(ctx: Context, op: Operator) -> list[Hit] | None:
    """The operator's version parses but is newer than the versions compiler {compiler} maps.

    ## Why it matters
    The compiler's parser knows more op versions than its mapper: such an op stays on the CPU, and every op
    that depends on it is cut off the Edge TPU subgraph. Ultralytics' YOLOv10n export has ADD at version 4: every
    ADD stays on the CPU and the first one ends the Edge TPU segment after 19 ops, while the same pipeline's
    YOLOv8n/YOLOv5nu exports with ADD version 2 map. No log of that compile exists, so the status line is
    tpulint's guess ("Operation version not supported", seen for RESIZE_* versions on 14.1/15.0).

    ## How to fix
    Convert with the TensorFlow version whose converter emits the older op version (the other exports of the
    same repository, with ADD v2), or replace the op.

    ## Example
    ADD version 4 (int8) in a TF 2.x export.

    ## Sources
    Corpus ext_edward_yolov10n_192_attention against ext_edward_yolov8n_224_int8, ext_edward_yolov5nu_352_int8
    (same repository and commit); rules/*.toml `ops.*.max_version`.
    """
    spec = ctx.profile.ops.get(op.opcode)
    if spec is None or spec.max_version is None or op.version <= spec.max_version:
        return None
    if any(t.dtype not in ctx.profile.dtypes for t in ctx.activations(op)):
        return None  # e.g. ADD v4 on int64 (corpus ext_redax_rf_treetraversal_gather_19seg): TPU200 says why
    confidence, note = seen_only_on(ctx, ("16.0",))
    return [Hit(f"{op.opcode} version {op.version} parses but compiler {ctx.profile.compiler} maps only versions up "
                f"to {spec.max_version}{note}", f"convert so {op.opcode} is emitted at version {spec.max_version} "
                "or older", confidence=confidence)]


@rule("TPU102", "custom-op", severity=Severity.ERROR, confidence=Confidence.OBSERVED, effect=Effect.CPU,
      status=UNSUPPORTED_DATA_TYPE, opcodes=("CUSTOM",))
def custom_op(ctx: Context, op: Operator) -> list[Hit] | None:
    """A custom operator (TFLite_Detection_PostProcess, PosenetDecoderOp, …) always runs on the CPU.

    ## Why it matters
    The compiler maps only builtin operators. Custom ops stay in the output model for the CPU; the compiler
    logs them as `CUSTOM … Operation is working on an unsupported data type` in every observed log. At the end
    of a model that costs only CPU time; in the middle it cuts the Edge TPU subgraph.

    ## How to fix
    Keep custom ops at the end of the model (post-processing). If one sits in the middle, replace it with
    builtin ops or split the model around it.

    ## Example
    SSD's `TFLite_Detection_PostProcess` after the box and class heads.

    ## Sources
    f0cal/google-coral#53 (2.0), corpus ext_ssd_mnv2_detect_cmpss (2.1), ext_ssd_mnv1_detect_nipitpol and
    EfficientDet logs (16.0): 7 logs, all "unsupported data type".
    """
    if op.is_edgetpu:
        return None
    return [Hit(f"custom op {op.custom_code or '(unnamed)'!r} runs on the CPU",
                "none needed at the end of the model (post-processing costs only CPU time); before ops that should "
                "run on the Edge TPU, replace it with builtin ops")]


@rule("TPU103", "undocumented-op-may-map", severity=Severity.WARNING, confidence=Confidence.OBSERVED,
      effect=Effect.NONE)
@applies(lambda ctx, code: code in ctx.profile.absorbed)
def undocumented_op_may_map(ctx: Context, op: Operator) -> list[Hit] | None:
    """The operator is not in the supported table, but the compiler has been seen mapping it.

    ## Why it matters
    The compiler lowers some undocumented ops into the Edge TPU subgraph: in Google's own DeepLab-EdgeTPU model
    a TILE (1×1×1×128 → 1×33×33×128) sits inside the compiled edgetpu-custom-op. tpulint predicts it maps,
    but whether another instance maps is not documented.

    ## How to fix
    Nothing to do if it maps; if the compiler leaves it on the CPU, replace TILE by a broadcasting op
    (e.g. ADD/MUL with a constant) or by RESIZE_NEAREST_NEIGHBOR.

    ## Example
    TILE of a pooled 1×1 feature map to 33×33 before a CONCATENATION.

    ## Sources
    TD deeplab_mobilenet_edgetpu_slim_cityscapes_quant (corpus), COMPILER.md 1.5 (TILE).
    """
    if op.opcode not in ctx.profile.absorbed:
        return None
    return [Hit(f"{op.opcode} is undocumented for the Edge TPU; the compiler has mapped it before",
                "check the compiler's log; if it stays on the CPU, replace it by a broadcasting op")]


@rule("TPU104", "lstm-not-unidirectional", severity=Severity.ERROR, confidence=Confidence.DOCUMENTED,
      effect=Effect.CPU, status=NOT_SUPPORTED, opcodes=sorted(LSTM_VARIANTS))
def lstm_not_unidirectional(ctx: Context, op: Operator) -> list[Hit] | None:
    """An LSTM that is not UNIDIRECTIONAL_SEQUENCE_LSTM (plain LSTM or bidirectional) runs on the CPU.

    ## Why it matters
    The table's LSTM row says "Unidirectional LSTM only"; the mapped form is the fused
    UNIDIRECTIONAL_SEQUENCE_LSTM op (runtime 14, compiler 16.0).

    ## How to fix
    Use a unidirectional `tf.keras.layers.LSTM` with a fixed sequence length and convert with TF 2.x so it
    becomes UNIDIRECTIONAL_SEQUENCE_LSTM; for a bidirectional layer run two unidirectional LSTMs (one on the
    reversed sequence) and concatenate.

    ## Example
    BIDIRECTIONAL_SEQUENCE_LSTM from `tf.keras.layers.Bidirectional(LSTM(...))`.

    ## Sources
    coral.ai table (AXIS7 copy); TD keras_lstm_mnist_ptq (UNIDIRECTIONAL_SEQUENCE_LSTM mapped).
    """
    return [Hit(f"{op.opcode} is not supported; only UNIDIRECTIONAL_SEQUENCE_LSTM maps",
                "use a unidirectional LSTM converted to UNIDIRECTIONAL_SEQUENCE_LSTM")]
