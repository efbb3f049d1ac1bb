"""The rule checks (provisional set: supported-op table and data types; the full rule set replaces it)."""

from __future__ import annotations

from typing import Sequence

from tpulint.config import Config
from tpulint.findings import NOT_SUPPORTED, UNSUPPORTED_DATA_TYPE, Confidence, Effect, Finding, Location, Severity
from tpulint.graph import Graph
from tpulint.model import Model, Operator, Subgraph
from tpulint.registry import rule

_SUPPORTED = frozenset("""ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D EXPAND_DIMS FULLY_CONNECTED
L2_NORMALIZATION LOGISTIC UNIDIRECTIONAL_SEQUENCE_LSTM MAXIMUM MAX_POOL_2D MEAN MINIMUM MUL PACK PAD PRELU QUANTIZE
REDUCE_MAX REDUCE_MIN RELU RELU6 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR RSQRT SLICE SOFTMAX
SPACE_TO_DEPTH SPLIT SQUEEZE STRIDED_SLICE SUB SUM SQUARED_DIFFERENCE TANH TRANSPOSE TRANSPOSE_CONV""".split())


def _location(sg: Subgraph, op: Operator) -> Location:
    out = op.outputs[0] if op.outputs else None
    return Location(sg.index, op.index, op.name, out, sg.tensors[out].name if out is not None else None)


@rule("TPU100", "unsupported-op", severity=Severity.ERROR, confidence=Confidence.DOCUMENTED, effect=Effect.CPU,
      status=NOT_SUPPORTED)
def unsupported_op(model: Model, sg: Subgraph, op: Operator) -> list[Finding]:
    """The operator is not in the Edge TPU's supported-operations table.

    ## Why it matters
    The compiler maps only the operations in its table; this op and everything downstream of it run on the CPU.

    ## How to fix
    Replace the op with a supported equivalent, or move it after the last op you need on the Edge TPU.

    ## Example
    A FLOOR between two convolutions cuts the model in two.

    ## Sources
    coral.ai "TensorFlow models on the Edge TPU", supported operations (COMPILER.md 1.1).
    """
    if op.opcode in _SUPPORTED:
        return []
    return [Finding("TPU100", "unsupported-op", Severity.ERROR, Confidence.DOCUMENTED, Effect.CPU,
                    f"{op.name} is not supported by the Edge TPU", _location(sg, op), NOT_SUPPORTED)]


@rule("TPU200", "unsupported-dtype", severity=Severity.ERROR, confidence=Confidence.OBSERVED, effect=Effect.CPU,
      status=UNSUPPORTED_DATA_TYPE)
def unsupported_dtype(model: Model, sg: Subgraph, op: Operator) -> list[Finding]:
    """A tensor of the operator is not 8-bit quantized.

    ## Why it matters
    The Edge TPU computes only on int8/uint8 tensors; the op stays on the CPU.

    ## How to fix
    Convert with full-integer post-training quantization.

    ## Example
    A CONV_2D with a float32 input.

    ## Sources
    coral.ai model requirements (COMPILER.md 2.1).
    """
    bad = [t for t in sg.op_inputs(op) if t.dtype not in ("int8", "uint8", "int32")]
    bad += [t for t in sg.op_outputs(op) if t.dtype not in ("int8", "uint8")]
    if op.opcode not in _SUPPORTED or not bad:
        return []
    return [Finding("TPU200", "unsupported-dtype", Severity.ERROR, Confidence.OBSERVED, Effect.CPU,
                    f"tensor {bad[0].name!r} is {bad[0].dtype}", _location(sg, op), UNSUPPORTED_DATA_TYPE)]


def run_checks(model: Model, graphs: Sequence[Graph], config: Config) -> list[Finding]:
    out: list[Finding] = []
    for g in graphs:
        for op in g.subgraph.operators:
            out += unsupported_op(model, g.subgraph, op)
            out += unsupported_dtype(model, g.subgraph, op)
    return out


# Rule families in their own modules (imported last: they register on import).
from tpulint.checks import compiled as _compiled, memory as _memory  # noqa: E402,F401
