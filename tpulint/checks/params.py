"""TPU4xx: constant parameters — weights and biases must be constant buffers known at compile time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tpulint.checks._base import WEIGHTED, Context, Hit, prefilter
from tpulint.findings import NOT_CONSTANT, Confidence, Effect, Severity
from tpulint.model import Operator
from tpulint.registry import rule

if TYPE_CHECKING:
    import numpy as np


def _an_operand_not_constant(ctx: Context, ops: np.ndarray) -> np.ndarray:
    columns = ctx.sg.columns
    assert columns is not None
    weights, bias = WEIGHTED[ctx.sg.operators[int(ops[0])].opcode]
    w, b = columns.operand(ops, weights), columns.operand(ops, bias)
    return ((w >= 0) & ~columns.is_constant[w]) | ((b >= 0) & ~columns.is_constant[b])


@rule("TPU400", "non-constant-weights", severity=Severity.ERROR, confidence=Confidence.OBSERVED, effect=Effect.CPU,
      status=NOT_CONSTANT, opcodes=sorted(WEIGHTED), limits=("fully_connected_constant_weights",))
@prefilter(_an_operand_not_constant)
def non_constant_weights(ctx: Context, op: Operator) -> list[Hit] | None:
    """The weights or bias of a convolution or fully-connected op are computed at run time, not constants.

    ## Why it matters
    The compiler bakes weights into the Edge TPU executable. Compiler 2.0 left a FULLY_CONNECTED whose weights
    are another op's output (a matmul of two activations) on the CPU with "Filter, bias, or other param is not
    constant at compile-time". Compiler 16.0 maps such a FULLY_CONNECTED (the GEMM-style random forests of the
    corpus have hundreds), so on 16.0 the rule covers only convolutions and biases; on 2.1–15.0 nothing was
    observed and the FULLY_CONNECTED finding is heuristic (fully-connected weights constant here:
    {fully_connected_constant_weights}).

    ## How to fix
    Make the weights a constant (a Dense layer, not `tf.matmul(a, b)` of two activations); if the product of two
    activations is intended, express it with supported elementwise ops or keep it on the CPU.

    ## Example
    FULLY_CONNECTED(x, w) where `w` is the output of a RESHAPE.

    ## Sources
    #25 (2.0.267685300), coral.ai model requirements "Model parameters (such as bias tensors) are constant at
    compile-time" (COMPILER.md 2.1, 2.5); corpus ext_redax_fc_dynamic_weights_const_output,
    ext_redax_rf_gemm_128trees_532ops (16.0 logs, COMPILER.md 9).
    """
    ts = ctx.tensors
    graph_inputs = ctx.sg.inputs
    profile = ctx.profile
    fc = op.opcode == "FULLY_CONNECTED"
    if fc and not profile.limits["fully_connected_constant_weights"]:
        return None
    for role, position in zip(("weights", "bias"), WEIGHTED[op.opcode]):
        if position < len(op.inputs) and op.inputs[position] >= 0:
            t = ts[op.inputs[position]]
            if not t.data_size and (ctx.graph.producer[t.index] >= 0 or t.index in graph_inputs):
                message = f"{role} {ctx.describe(t)} of {op.opcode} is not a constant"
                if fc and not profile.observed_here("fully_connected_constant_weights"):
                    return [Hit(message + f" (refused by compiler 2.0; compiler 16.0 maps it; compiler "
                                f"{profile.compiler} is unobserved, --compiler changes this)",
                                "make the weights a constant tensor, or compile with compiler 16.0",
                                tensor=t.index, confidence=Confidence.HEURISTIC)]
                return [Hit(message, f"make the {role} a constant tensor (a trained layer parameter)", tensor=t.index)]
    return None
