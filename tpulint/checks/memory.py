"""TPU81x: on-chip parameter memory — parameters streamed from the host, alone or when co-compiled."""

from __future__ import annotations

import os
from typing import Sequence

from tpulint.checks.compiled import reported_after_partition
from tpulint.config import Config
from tpulint.findings import Confidence, Effect, Finding, Location, Severity
from tpulint.graph import Graph
from tpulint.memory import ROW_LIMIT, MemoryEstimate, estimate
from tpulint.model import Model
from tpulint.partition import TPU, Partition
from tpulint.units import size


def streamed_parameters(model: Model, memory: MemoryEstimate) -> list[Finding]:
    """Some parameters will not fit the Edge TPU's on-chip memory and are streamed on every inference.

    ## Why it matters
    Streamed parameters cross USB/PCIe with every inference; host-memory bandwidth then dominates latency
    (up to tens of times slower for fully connected layers).

    For a compiled model the numbers are exact (the DWN1 package's EXECUTION_ONLY / STAND_ALONE parameters).
    For an uncompiled model tpulint estimates the layout from the ops predicted to map: weights per output
    channel with channels padded to 16 lanes, 24 (convolution), 8 (fully connected) or 4 (other ops) bytes of
    bias and requantization constants per padded channel, each layer aligned to 128 bytes; a RESHAPE that
    flattens into a lane count that is not a multiple of 16 costs a 0/1 relayout matrix, and so does the
    transposed [N, B] result of a FULLY_CONNECTED with activation weights that leaves the chip (B not a multiple of 16). Constant operands
    of elementwise ops (an ADD or MUL with a constant tensor that is not a scalar) and layers whose weights per
    output channel exceed 8 KiB are always streamed; the others fill the on-chip budget in execution
    order. The budget is 6.89 MiB: a tiny model sees 7.98 MiB free, but YOLOv5s got 6.89 MiB cached (and
    175 KiB streamed) and co-compiled MobileNet v1 + v2 1.0 got 6.89 MiB cached between them.

    Measured on the 59 compiled models of the real-compiler corpus (`python bench/memory.py
    ../shared/corpus/real`): the on-chip (cached) bytes are within 10% for all 42 models that cache over
    100 KiB (median error 3.6% over all 59; within 15% or 16 KiB for 57), and whether anything is streamed at
    all is right for 58 of the 59; the largest misses are unusual layouts (an LSTM, a GEMM random forest's
    `-a` segments) that the estimate does not model. The
    stated uncertainty is therefore 10%, and the rule also warns when the estimate is within 10% of the budget.

    With `--co-compile a.tflite b.tflite …` the models share one cache, filled in the order given (as
    `edgetpu_compiler a.tflite b.tflite …` does): a later model gets what the earlier ones left, and the
    finding says how much of it is streamed because of them. Newer compilers may spread the overflow over all
    later models (COMPILER.md 5); the total streamed is the same.

    ## How to fix
    Make the mapped part smaller (fewer or narrower layers, a smaller input), split it over several Edge TPUs
    with `edgetpu_compiler --num_segments N` (pipelining), or move large fully connected layers to the CPU.
    When co-compiling, list the model that must be fastest first, or co-compile fewer models.

    ## Example
    A model with 9 MiB of int8 weights: about 1 MiB is streamed per inference.

    ## Sources
    coral.ai compiler docs, parameter data caching (COMPILER.md 5); libedgetpu `executable.fbs`.
    """
    out = []
    if memory.streamed_bytes:
        why = "read from the compiled package" if memory.source == "package" else (
            f"estimated, ±{memory.uncertainty_pct}%")
        long_rows = [x for x in memory.streamed_layers if x.always_streamed and not x.constant and not x.host_fed]
        constants = sum(x.bytes for x in memory.streamed_layers if x.constant)
        detail = (f"; {len(long_rows)} layer(s) with weight rows over {ROW_LIMIT} bytes are always streamed"
                  if long_rows else "")
        if constants:
            detail += f"; {size(constants)} of constant operands of elementwise ops are always streamed"
        host_fed = sum(x.bytes for x in memory.streamed_layers if x.host_fed)
        if host_fed:
            detail += (f"; {size(host_fed)} of constants multiplied with a model input (FULLY_CONNECTED weights "
                       "operand) are always streamed")
        out.append(Finding(
            "TPU810", "parameters-streamed", Severity.WARNING, Confidence.HEURISTIC if memory.source == "estimate"
            else Confidence.DOCUMENTED, Effect.NONE,
            f"{size(memory.streamed_bytes)} of {size(memory.parameter_bytes)} parameters are streamed from the "
            f"host on every inference; {size(memory.cached_bytes)} cached on chip ({why}){detail}",
            Location(), fix="shrink the Edge TPU part of the model or segment it over several Edge TPUs"))
    elif memory.source == "estimate" and memory.cached_bytes * (100 + memory.uncertainty_pct) > \
            memory.on_chip_budget_bytes * 100:
        out.append(Finding(
            "TPU810", "parameters-streamed", Severity.WARNING, Confidence.HEURISTIC, Effect.NONE,
            f"about {size(memory.cached_bytes)} of parameters (±{memory.uncertainty_pct}%) is close to the "
            f"{size(memory.on_chip_budget_bytes)} the compiler caches on chip: part of it may be streamed on every "
            "inference", Location(),
            fix="shrink the Edge TPU part of the model or segment it over several Edge TPUs"))
    return out


def co_compile_streamed(model: Model, memory: MemoryEstimate) -> list[Finding]:
    """TPU810 for a model that loses on-chip cache to the models co-compiled before it (`--co-compile`)."""
    share = memory.co_compile
    if share is None or share.streamed_bytes <= memory.streamed_bytes:
        return []
    before = ", ".join(os.path.basename(m) for m in share.models[:share.position]) or "none"
    return [Finding(
        "TPU810", "parameters-streamed", Severity.WARNING, Confidence.HEURISTIC, Effect.NONE,
        f"co-compiled as model {share.position + 1} of {len(share.models)} (after {before}), "
        f"{size(share.streamed_bytes)} of its parameters are streamed and {size(share.cached_bytes)} cached; "
        f"{size(share.remaining_before)} of the cache was left", Location(),
        fix="list this model earlier in the co-compilation or co-compile fewer models")]


def memory_view(model: Model, graphs: Sequence[Graph], partitions: Sequence[Partition],
                config: Config) -> tuple[MemoryEstimate, list[Finding]]:
    """The memory estimate of an uncompiled model from its predicted partition, and its findings."""
    tpu_ops = [[p.index for p in part.placements if p.placement == TPU] for part in partitions]
    memory = estimate(model, graphs, tpu_ops, config.compiler)
    return memory, streamed_parameters(model, memory)




def apply_co_compile(results: Sequence[object], budget: int | None = None) -> list[object]:
    """Split the on-chip cache between the analysed models in the order given (`tpulint --co-compile`).

    Each uncompiled ModelReport gets its `memory.co_compile` share and, when it loses cache to the models before
    it, a TPU810 finding that says so (replacing its stand-alone one); anything else (failed or already compiled models) passes through unchanged.
    """
    from dataclasses import replace

    from tpulint.analysis import ModelReport
    from tpulint.cost import apply_overrides
    from tpulint.memory import co_compile

    reports = [r for r in results if isinstance(r, ModelReport) and r.memory is not None and not r.compiled]
    shared = dict(zip(map(id, reports), co_compile([(r.path, r.memory) for r in reports], budget)))
    out: list[object] = []
    for r in results:
        memory = shared.get(id(r))
        if memory is None:
            out.append(r)
            continue
        assert isinstance(r, ModelReport)
        extra = [replace(f, path=r.path) for f in apply_overrides(co_compile_streamed(r.model, memory), r.config)
                 if r.config.enabled(f.code, r.path)]
        kept = [f for f in r.findings if not (extra and f.code == "TPU810")]  # the co-compiled view replaces it
        findings = tuple(sorted((*kept, *extra), key=Finding.sort_key))
        out.append(replace(r, memory=memory, findings=findings))
    return out


reported_after_partition(streamed_parameters, "TPU810", "parameters-streamed", severity=Severity.WARNING,
                         confidence=Confidence.HEURISTIC, effect=Effect.NONE)

__all__ = ["apply_co_compile", "co_compile_streamed", "memory_view", "streamed_parameters"]
