"""TPU3xx: shapes — only the three innermost dimensions may be larger than 1 (so batch must be 1)."""

from __future__ import annotations

from tpulint.checks._base import F_RANK, F_SCALAR, Context, Hit, needs
from tpulint.findings import UNSPECIFIED_LIMITATION, UNSUPPORTED_RANK, Confidence, Effect, Severity
from tpulint.model import Operator
from tpulint.registry import rule

_OK, _BATCH, _RANK = 0, 1, 2


def _issues(ctx: Context) -> list[int]:
    """Per tensor: _OK, _BATCH (only the leading dim of a 4-D+ tensor is > 1) or _RANK, computed once."""
    cached = ctx.cache.get("rank")
    if cached is not None:
        return cached  # type: ignore[return-value]
    keep = ctx.profile.max_nontrivial_rank
    issues: list[int] = []
    for t in ctx.tensors:
        outer = t.shape[:-keep] if len(t.shape) > keep else ()
        big = [i for i, d in enumerate(outer) if d > 1]
        issues.append(_OK if not big else _BATCH if big == [0] else _RANK)
    ctx.cache["rank"] = issues
    return issues


def _first(ctx: Context, op: Operator, kind: int) -> int | None:
    issues = _issues(ctx)
    ts = ctx.tensors
    for i in op.inputs:
        if i >= 0 and issues[i] == kind and not ts[i].data_size:
            return i
    for i in op.outputs:
        if issues[i] == kind:
            return i
    return None


@rule("TPU300", "unsupported-rank", severity=Severity.ERROR, confidence=Confidence.DOCUMENTED, effect=Effect.CPU,
      status=UNSUPPORTED_RANK, limits=())
@needs(F_RANK)
def unsupported_rank(ctx: Context, op: Operator) -> list[Hit] | None:
    """A tensor has a dimension larger than 1 outside its {max_nontrivial_rank} innermost dimensions.

    ## Why it matters
    The Edge TPU lays tensors out as y × x × z; a tensor may have more than {max_nontrivial_rank} dimensions only
    if all the outer ones are 1. Otherwise the op stays on the CPU with "Tensor has unsupported rank (up to 3
    innermost dimensions mapped)". 5-D tensors (even with unit dims) have also crashed the compiler (#173).

    ## How to fix
    Reshape so the extra dimensions fold into the innermost three (e.g. [1, 2, 8, 8, 16] → [1, 16, 8, 16]),
    or keep such ops in post-processing.

    ## Example
    RESHAPE to [1, 4, 16, 8, 8]: dimension 1 (4) is outside the innermost three.

    ## Sources
    coral.ai model requirements (COMPILER.md 2.1, AXIS7-TIPS example [1,128,128,3] ok, [3,128,128,1] not);
    #75, #453, #537 (COMPILER.md 2.4).
    """
    i = _first(ctx, op, _RANK)
    if i is None:
        return None
    t = ctx.tensors[i]
    return [Hit(f"{ctx.describe(t)} has {len(t.shape)} dimensions with sizes > 1 outside the innermost "
                f"{ctx.profile.max_nontrivial_rank}", "fold the outer dimensions into the innermost three", tensor=i)]


@rule("TPU301", "batch-size", severity=Severity.ERROR, confidence=Confidence.OBSERVED, effect=Effect.CPU,
      status=UNSUPPORTED_RANK)
@needs(F_RANK)
def batch_size(ctx: Context, op: Operator) -> list[Hit] | None:
    """A tensor has a batch dimension larger than 1.

    ## Why it matters
    Batch is a fourth dimension outside the three the Edge TPU maps, so ops on batched tensors stay on the CPU
    with "Tensor has unsupported rank" — when it is the first op, nothing maps. Dilated convolutions lowered to
    SPACE_TO_BATCH_ND produce such tensors too (TPU503).

    ## How to fix
    Convert with batch size 1 and run the batch as a loop of single inferences (Ultralytics forces batch 1 for
    Edge TPU export).

    ## Example
    CONV_2D on int8[30, 64, 64, 3] (a TimeDistributed model with batch 30).

    ## Sources
    #30 (2019 log), #700 (maintainer: batch > 1 not supported), ultralytics PR #13420 (COMPILER.md 2.4).
    """
    i = _first(ctx, op, _BATCH)
    if i is None:
        return None
    t = ctx.tensors[i]
    return [Hit(f"{ctx.describe(t)} has batch size {t.shape[0]}", "convert the model with batch size 1", tensor=i)]


@rule("TPU302", "shapeless-activation", severity=Severity.WARNING, confidence=Confidence.HEURISTIC,
      effect=Effect.CPU, status=UNSPECIFIED_LIMITATION)
@needs(F_SCALAR)
def shapeless_activation(ctx: Context, op: Operator) -> list[Hit] | None:
    """An op reads or writes an activation with no dimensions (a scalar, or an output left unsized).

    ## Why it matters
    The Edge TPU lays tensors out as y × x × z. In the corpus, the only ops on rank-0 activations are the
    QUANTIZE ops after SSD's TFLite_Detection_PostProcess, whose outputs the converter leaves unsized: compiler
    16.0 logs each of them "Operation is otherwise supported, but not mapped due to some unspecified
    limitation" — even the int8 → uint8 ones that map everywhere else — not "More than one subgraph". No op on a
    rank-0 activation was seen mapped; all of these came after a CPU op, so whether such an op would map in
    the Edge TPU segment is not known, hence the heuristic confidence.

    ## How to fix
    Keep scalar arithmetic in post-processing, or give the tensor a shape ([1] instead of a scalar).

    ## Example
    QUANTIZE int8[] → uint8[] of the detection count after TFLite_Detection_PostProcess.

    ## Sources
    Corpus ext_clsandoval_tf2_ssd_fpnlite_pack_rank6 (16.0 log: QUANTIZE 8 "otherwise supported"), COMPILER.md
    3.2.5.
    """
    ts = ctx.tensors
    for i in (*op.inputs, *op.outputs):
        if i >= 0 and not ts[i].data_size and not ts[i].shape:
            return [Hit(f"{ctx.describe(ts[i])} has no dimensions", "give the tensor a shape, or keep this op on "
                        "the CPU after the Edge TPU part", tensor=i)]
    return None
