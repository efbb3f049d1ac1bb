"""TPU4xx: constant parameters — weights and biases must be constant buffers known at compile time."""

from __future__ import annotations

from tpulint.checks._base import WEIGHTED, Context, Hit
from tpulint.findings import NOT_CONSTANT, Confidence, Effect, Severity
from tpulint.model import Operator
from tpulint.registry import rule


@rule("TPU400", "non-constant-weights", severity=Severity.ERROR, confidence=Confidence.OBSERVED, effect=Effect.CPU,
      status=NOT_CONSTANT, opcodes=sorted(WEIGHTED))
def non_constant_weights(ctx: Context, op: Operator) -> list[Hit] | None:
    """The weights or bias of a convolution or fully-connected op are computed at run time, not constants.

    ## Why it matters
    The compiler bakes weights into the Edge TPU executable. A FULLY_CONNECTED whose weights are another op's
    output (a matmul of two activations) stays on the CPU with "Filter, bias, or other param is not constant at
    compile-time".

    ## How to fix
    Make the weights a constant (a Dense layer, not `tf.matmul(a, b)` of two activations); if the product of two
    activations is intended, express it with supported elementwise ops or keep it on the CPU.

    ## Example
    FULLY_CONNECTED(x, w) where `w` is the output of a RESHAPE.

    ## Sources
    #25 (2.0.267685300), coral.ai model requirements "Model parameters (such as bias tensors) are constant at
    compile-time" (COMPILER.md 2.1, 2.5).
    """
    ts = ctx.tensors
    graph_inputs = ctx.sg.inputs
    for role, position in zip(("weights", "bias"), WEIGHTED[op.opcode]):
        if position < len(op.inputs) and op.inputs[position] >= 0:
            t = ts[op.inputs[position]]
            if not t.data_size and (ctx.graph.producer[t.index] >= 0 or t.index in graph_inputs):
                return [Hit(f"{role} {ctx.describe(t)} of {op.opcode} is not a constant",
                            f"make the {role} a constant tensor (a trained layer parameter)", tensor=t.index)]
    return None
