"""TPU2xx: data types and quantization — every tensor a mapped op touches must be 8-bit quantized."""

from __future__ import annotations

from tpulint.checks._base import F_DTYPE, F_INT16, Context, Hit, needs
from tpulint.findings import UNSPECIFIED_LIMITATION, UNSUPPORTED_DATA_TYPE, Confidence, Effect, Severity
from tpulint.model import Operator, Tensor
from tpulint.registry import rule

FLOATS = frozenset({"float32", "float16", "float64", "bfloat16"})
PARAM_DTYPES = frozenset({"int32", "int64"})  # constant shape/axis/bias parameters
_SKIP = frozenset({"CUSTOM", "DEQUANTIZE"})
_LSTM_STATE_INPUTS = (18, 19)  # UNIDIRECTIONAL_SEQUENCE_LSTM output state, cell state


def _lstm_state(op: Operator, position: int, t: Tensor) -> bool:
    return op.opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM" and (t.is_variable or position in _LSTM_STATE_INPUTS)


def _float_quantize(ctx: Context, op: Operator) -> bool:
    return op.opcode == "QUANTIZE" and bool(op.inputs) and ctx.tensors[op.inputs[0]].dtype in FLOATS


@rule("TPU200", "unsupported-dtype", severity=Severity.ERROR, confidence=Confidence.OBSERVED, effect=Effect.CPU,
      status=UNSUPPORTED_DATA_TYPE)
@needs(F_DTYPE)
def unsupported_dtype(ctx: Context, op: Operator) -> list[Hit] | None:
    """A tensor the operator reads or writes is not 8-bit quantized ({dtypes}).

    ## Why it matters
    The Edge TPU computes only on int8/uint8 tensors (int32 biases and constant shape/axis parameters are fine).
    An op with a float32, int32 or int64 activation stays on the CPU with "Operation is working on an
    unsupported data type" — and so does everything downstream of it.

    ## How to fix
    Quantize the whole model (full-integer post-training quantization with a representative dataset). Integer
    index arithmetic (ARG_MAX, CAST, FLOOR_DIV …) belongs in post-processing after the last Edge TPU op.

    ## Example
    A MUL on int32 tensors in MoveNet's decoding head; a hybrid CONV_2D with float32 input.

    ## Sources
    coral.ai model requirements (COMPILER.md 2.1); logs #490, #537, #609, nrf20, corpus float-model logs (4.3).
    """
    if op.opcode in _SKIP or _float_quantize(ctx, op):
        return None
    allowed = ctx.profile.dtypes
    ts = ctx.tensors
    bad: list[Tensor] = []
    for pos, i in enumerate(op.inputs):
        if i < 0:
            continue
        t = ts[i]
        if t.dtype in allowed or t.dtype == "int16" or (t.data_size and t.dtype in PARAM_DTYPES):
            continue
        bad.append(t)
    for i in op.outputs:
        t = ts[i]
        if t.dtype not in allowed and t.dtype != "int16":
            bad.append(t)
    if not bad:
        return None
    shown = ", ".join(ctx.describe(t) for t in bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
    return [Hit(f"{op.name} works on {shown}; the Edge TPU needs {' or '.join(sorted(allowed))}",
                "quantize the model fully to int8, or move this op after the Edge TPU part", tensor=bad[0].index)]


@rule("TPU201", "float-input-quantize", severity=Severity.ERROR, confidence=Confidence.OBSERVED, effect=Effect.CPU,
      status=UNSPECIFIED_LIMITATION, opcodes=("QUANTIZE",))
def float_input_quantize(ctx: Context, op: Operator) -> list[Hit] | None:
    """A QUANTIZE from a float tensor (the float input wrapper) runs on the CPU.

    ## Why it matters
    A float→int8 QUANTIZE is never mapped; the compiler logs it as "otherwise supported, but not mapped due to
    some unspecified limitation". At the model input it costs only a CPU pass over the input: the Edge TPU
    subgraph starts right after it. Integer→integer QUANTIZE (uint8↔int8 requantize) does map.

    ## How to fix
    Convert with `inference_input_type = tf.int8` (or `tf.uint8`) so the model takes integer input and the
    wrapper disappears.

    ## Example
    QUANTIZE float32[1, 224, 224, 3] → int8 as the first op.

    ## Sources
    f0cal/google-coral#20 (2.0), timctho#82 (14.1), nrf20 (15.0), #490 and #537 (16.0); corpus ext_nrf20_mnist4,
    ext_facemesh_* (COMPILER.md 1.5).
    """
    if not _float_quantize(ctx, op):
        return None
    t = ctx.tensors[op.inputs[0]]
    return [Hit(f"QUANTIZE from {ctx.describe(t)} runs on the CPU",
                "convert with inference_input_type=tf.int8 (or tf.uint8) to drop the float input wrapper",
                tensor=t.index)]


@rule("TPU202", "dequantize", severity=Severity.ERROR, confidence=Confidence.OBSERVED, effect=Effect.CPU,
      status=UNSUPPORTED_DATA_TYPE, opcodes=("DEQUANTIZE",))
def dequantize(ctx: Context, op: Operator) -> list[Hit] | None:
    """A DEQUANTIZE (integer → float) runs on the CPU.

    ## Why it matters
    The Edge TPU produces no float tensors; DEQUANTIZE is logged as "Operation is working on an unsupported
    data type". At the model output that only costs CPU time; inside the model it cuts the Edge TPU subgraph
    (quantization-aware-training exports often contain such pairs).

    ## How to fix
    Convert with `inference_output_type = tf.int8` (or `tf.uint8`); for QAT models, make sure the converter
    folds the fake-quant pairs (full-integer conversion).

    ## Example
    DEQUANTIZE int8[1, 10] → float32 after the final SOFTMAX.

    ## Sources
    nrf20 (15.0), f0cal#20 (2019), #490 and EfficientDet logs (16.0); corpus ext_mnist_markus_58c8059,
    ext_nrf20_mnist4, ext_coralmicro_yamnet_spectra_in.
    """
    out = ctx.tensors[op.outputs[0]] if op.outputs else None
    what = f" to {ctx.describe(out)}" if out is not None else ""
    return [Hit(f"DEQUANTIZE{what} runs on the CPU",
                "convert with inference_output_type=tf.int8 (or tf.uint8) so the output stays quantized")]


@rule("TPU203", "int16-activation", severity=Severity.ERROR, confidence=Confidence.DOCUMENTED, effect=Effect.CPU,
      status=UNSUPPORTED_DATA_TYPE)
@needs(F_INT16)
def int16_activation(ctx: Context, op: Operator) -> list[Hit] | None:
    """The operator uses 16-bit activations (16x8 quantization), which the Edge TPU does not compute.

    ## Why it matters
    Coral: "We only accept int8 and float32 inputs". 16x8-quantized models keep int16 activations, which stay on
    the CPU. The one exception is the int16 cell state of UNIDIRECTIONAL_SEQUENCE_LSTM, which the compiler maps.

    ## How to fix
    Quantize with 8-bit activations (`TFLITE_BUILTINS_INT8`, not `EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`).

    ## Example
    CONV_2D with int16 input and output and int8 weights.

    ## Sources
    #338 (maintainer), #322 (15.0); TD keras_lstm_mnist_ptq (int16 LSTM state mapped), COMPILER.md 2.2.
    """
    if op.opcode in _SKIP:
        return None
    ts = ctx.tensors
    for pos, i in enumerate(op.inputs):
        if i >= 0 and ts[i].dtype == "int16" and not ts[i].data_size and not _lstm_state(op, pos, ts[i]):
            return [Hit(f"{op.name} reads the 16-bit activation {ctx.describe(ts[i])}",
                        "quantize activations to 8 bits (int8)", tensor=i)]
    for i in op.outputs:
        if ts[i].dtype == "int16":
            return [Hit(f"{op.name} writes the 16-bit activation {ctx.describe(ts[i])}",
                        "quantize activations to 8 bits (int8)", tensor=i)]
    return None
