"""The rule checks, grouped by family (placeholder until the rule set lands: only the supported-op table)."""

from __future__ import annotations

from typing import Sequence

from tpulint.config import Config
from tpulint.findings import NOT_SUPPORTED, UNSUPPORTED_DATA_TYPE, Confidence, Effect, Finding, Location, Severity
from tpulint.graph import Graph
from tpulint.model import Model

_SUPPORTED = frozenset("""ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D EXPAND_DIMS FULLY_CONNECTED
L2_NORMALIZATION LOGISTIC UNIDIRECTIONAL_SEQUENCE_LSTM MAXIMUM MAX_POOL_2D MEAN MINIMUM MUL PACK PAD PRELU QUANTIZE
REDUCE_MAX REDUCE_MIN RELU RELU6 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR RSQRT SLICE SOFTMAX
SPACE_TO_DEPTH SPLIT SQUEEZE STRIDED_SLICE SUB SUM SQUARED_DIFFERENCE TANH TRANSPOSE TRANSPOSE_CONV""".split())


def run_checks(model: Model, graphs: Sequence[Graph], config: Config) -> list[Finding]:
    out = []
    for g in graphs:
        sg = g.subgraph
        for op in sg.operators:
            loc = Location(sg.index, op.index, op.name, op.outputs[0] if op.outputs else None,
                           sg.tensors[op.outputs[0]].name if op.outputs else None)
            if op.opcode not in _SUPPORTED:
                out.append(Finding("TPU100", "unsupported-op", Severity.ERROR, Confidence.DOCUMENTED, Effect.CPU,
                                   f"{op.name} is not supported", loc, NOT_SUPPORTED, path=model.path))
            elif any(t.dtype not in ("int8", "uint8", "int32") for t in sg.op_inputs(op)) or any(
                    t.dtype not in ("int8", "uint8") for t in sg.op_outputs(op)):
                out.append(Finding("TPU200", "unsupported-dtype", Severity.ERROR, Confidence.OBSERVED, Effect.CPU,
                                   "not int8", loc, UNSUPPORTED_DATA_TYPE, path=model.path))
    return out
