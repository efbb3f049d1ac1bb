"""TPU80x: already-compiled models — what the compiler did, a damaged Edge TPU package, runtime compatibility."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Sequence

from tpulint.config import Config
from tpulint.findings import MAPPED, MORE_THAN_ONE_SUBGRAPH, Confidence, Effect, Finding, Location, Severity
from tpulint.graph import Graph
from tpulint.model import EDGETPU_CUSTOM_CODE, Model
from tpulint.partition import CPU, TPU, Partition, Placement, Segment, own_verdicts
from tpulint.registry import rule

if TYPE_CHECKING:  # tpulint.compiled is imported for compiled models only (7 ms of the first analysis)
    from tpulint.compiled import CompiledInfo

# Status of a CPU op outside the Edge TPU custom ops when no rule explains it (the compiled file keeps no reason).
LEFT_ON_CPU = "Left on the CPU by the compiler (the compiled file records no reason)"
# Runtime versions: libedgetpu warns below this (driver/package_registry.cc).
OLDEST_SUPPORTED_PACKAGE = 10


def reported_after_partition(builder: Callable[..., list[Finding]], code: str, name: str, **meta: Any) -> None:
    """Register rule `code` documented by `builder`'s docstring, for findings that tpulint.analysis builds itself.

    These rules need what the per-op rules cannot see (the decoded Edge TPU package, the predicted partition,
    the other models of a co-compilation), so the engine's model-scope call of the registered check returns
    nothing; `compiled_view`, `memory_view` and `apply_co_compile` produce the findings.
    """

    def check(*_: Any) -> list[Any]:
        return []

    check.__name__ = check.__qualname__ = builder.__name__
    check.__doc__ = builder.__doc__
    rule(code, name, scope="model", **meta)(check)


def _op_location(subgraph: int, op: int) -> Location:
    return Location(subgraph, op, EDGETPU_CUSTOM_CODE)


def compiled_model(model: Model, info: CompiledInfo) -> list[Finding]:
    """The model was already compiled by edgetpu_compiler; tpulint reports what the compiler did.

    ## Why it matters
    Each `edgetpu-custom-op` is one Edge TPU subgraph holding the mapped ops; every other op runs on the CPU
    and is checked as in an uncompiled model, so its status says why it could not be mapped. Linting a `*_edgetpu.tflite` file as if it were the source model would call the Edge TPU custom op
    unsupported. The compiled file instead answers "what did the compiler do?": Edge TPU subgraphs, CPU ops,
    the runtime version the file needs, and the parameter bytes cached on chip vs streamed per inference.

    ## How to fix
    Nothing to fix. To change the partition, lint and recompile the source model.

    ## Example
    `mobilenet_v1_1.0_224_quant_edgetpu.tflite`: 1 Edge TPU subgraph, 0 CPU ops, runtime 12 or newer.

    ## Sources
    libedgetpu `tflite/public/edgetpu.h` (`edgetpu-custom-op`), `executable/executable.fbs` (COMPILER.md 7).
    """
    from tpulint.compiled import compiler_version_text

    runtime = info.min_runtime_version
    message = ("already compiled for the Edge TPU ("
               + (f"a runtime-{runtime} package: needs Edge TPU runtime {runtime} or newer; " if runtime is not None
                  else "")
               + f"compiler version {compiler_version_text(info.compiler_versions)}"
               + f"): {info.edgetpu_subgraphs} Edge TPU subgraph(s), {info.cpu_ops} op(s) left on the CPU; "
               "CPU ops are checked as in an uncompiled model")
    return [Finding("TPU800", "compiled-model", Severity.INFO, Confidence.DOCUMENTED, Effect.NONE, message,
                    Location())]


def damaged_package(model: Model, info: CompiledInfo) -> list[Finding]:
    """An `edgetpu-custom-op` carries a payload that is not a readable Edge TPU package.

    ## Why it matters
    The custom options must be a FlexBuffer map whose key "4" holds a DarwiNN package (file identifier `DWN1`);
    otherwise the Edge TPU runtime cannot load the op and the interpreter fails when it prepares the model.
    A truncated, corrupted or foreign payload is an error finding, so `tpulint` exits with status 1 (not 2:
    the file is still a readable TFLite model, and its other ops are still reported).

    ## How to fix
    Recompile the source model with edgetpu_compiler; check that the file was not truncated or altered
    (e.g. by a text-mode transfer or a Git LFS pointer).

    ## Example
    A `*_edgetpu.tflite` whose package bytes were overwritten: "Edge TPU package has file identifier b'XXXX'".

    ## Sources
    libedgetpu `tflite/custom_op_data.cc` and `executable/executable.fbs` (COMPILER.md 7, 7.1).
    """
    return [Finding("TPU801", "damaged-edgetpu-package", Severity.ERROR, Confidence.DOCUMENTED, Effect.NONE,
                    f"the Edge TPU package of this op cannot be read: {o.problem}", _op_location(o.subgraph, o.op),
                    fix="recompile the source model with edgetpu_compiler")
            for o in info.problems]


def runtime_too_old(model: Model, info: CompiledInfo | None, config: Config) -> list[Finding]:
    """The Edge TPU runtime given with `--runtime-version` is older than the model needs.

    ## Why it matters
    libedgetpu refuses the model: "Failed precondition: Package requires runtime version (14), which is newer
    than this runtime version (13)." For a compiled model the requirement is the package's
    `min_runtime_version`; for an uncompiled model it is the runtime the compiler targets (`-m`, default 14
    for compiler 16.0). Packages older than runtime 10 only get a warning from the runtime (a warning here).

    ## How to fix
    Upgrade the Edge TPU runtime (libedgetpu), or compile for the installed one with
    `edgetpu_compiler -m N` (fewer ops may map).

    ## Example
    `tpulint --runtime-version 13 model_edgetpu.tflite` on a file compiled by compiler 16 (package needs 14).

    ## Sources
    libedgetpu `driver/package_registry.cc`, `api/runtime_version.h` (COMPILER.md 4.4, 7).
    """
    installed = config.runtime_version
    if installed is None:
        return []
    out = []
    if info is None:
        needed = config.runtime
        if needed > installed:
            out.append(Finding(
                "TPU802", "runtime-too-old", Severity.ERROR, Confidence.DOCUMENTED, Effect.NONE,
                f"compiled with -m {needed} this model requires runtime version ({needed}), which is newer than "
                f"this runtime version ({installed})", Location(),
                fix=f"compile with `edgetpu_compiler -m {installed}` (tpulint --min-runtime {installed}) "
                    "or upgrade the Edge TPU runtime"))
        return out
    for o in info.ops:
        if o.package is None:
            continue
        needed = o.package.min_runtime_version
        if needed > installed:
            out.append(Finding(
                "TPU802", "runtime-too-old", Severity.ERROR, Confidence.DOCUMENTED, Effect.NONE,
                f"Package requires runtime version ({needed}), which is newer than this runtime version "
                f"({installed})", _op_location(o.subgraph, o.op),
                fix=f"recompile with `edgetpu_compiler -m {installed}` or upgrade the Edge TPU runtime"))
        elif needed < OLDEST_SUPPORTED_PACKAGE:
            out.append(Finding(
                "TPU802", "runtime-too-old", Severity.WARNING, Confidence.DOCUMENTED, Effect.NONE,
                f"package runtime version ({needed}) is older than {OLDEST_SUPPORTED_PACKAGE}; the runtime "
                "loads it with a deprecation warning", _op_location(o.subgraph, o.op),
                fix="recompile with a current edgetpu_compiler"))
    return out


def compiled_partition(graph: Graph, findings: Sequence[Finding]) -> Partition:
    """Placements of a compiled model: edgetpu-custom-ops are the Edge TPU subgraphs, every other op is a CPU op.

    A CPU op keeps the status of the rule that explains it; one downstream of such an op gets "More than one
    subgraph is not supported" (as in an uncompiled model); otherwise the compiled file records no reason.
    """
    sg = graph.subgraph
    verdicts = own_verdicts(len(sg.operators), findings, sg.index)
    placements: list[Placement] = []
    segments: list[Segment] = []
    blocker: list[int | None] = [None] * len(sg.operators)  # nearest explained CPU op upstream
    for op in sg.operators:
        i = op.index
        if op.is_edgetpu:
            placements.append(Placement(i, op.opcode, op.custom_code, TPU, MAPPED, (), None, len(segments)))
            segments.append(Segment(len(segments), (i,), tuple(t for t in op.inputs if t >= 0
                                                               and not sg.tensors[t].is_constant), op.outputs))
            continue
        upstream = []
        for p in graph.preds[i]:
            if sg.operators[p].is_edgetpu:
                continue
            if verdicts.status[p] is not None:
                upstream.append(p)
            elif blocker[p] is not None:
                upstream.append(blocker[p])  # type: ignore[arg-type]
        blocker[i] = min(upstream) if upstream else None
        status = verdicts.status[i]
        if status is not None:
            placements.append(Placement(i, op.opcode, op.custom_code, CPU, status, verdicts.codes[i]))
        elif blocker[i] is not None:
            placements.append(Placement(i, op.opcode, op.custom_code, CPU, MORE_THAN_ONE_SUBGRAPH, (), blocker[i]))
        else:
            placements.append(Placement(i, op.opcode, op.custom_code, CPU, LEFT_ON_CPU))
    return Partition(sg.index, tuple(placements), tuple(segments), (), True)


def compiled_view(model: Model, graphs: Sequence[Graph], findings: Sequence[Finding],
                  config: Config) -> tuple[list[Finding], tuple[Partition, ...], CompiledInfo, Any]:
    """Findings, partitions, decoded packages and memory for a compiled model.

    Only the rules' findings on CPU ops are kept: those on the edgetpu-custom-ops are dropped (they are the
    compiler's output, not ops to lint), and so are whole-model gates and rejections (the compiler
    demonstrably accepted the model; a compiled graph of custom ops would trip "not quantized" gates).
    """
    from tpulint.checks.memory import streamed_parameters
    from tpulint.compiled import inspect
    from tpulint.memory import from_package

    info = inspect(model)
    assert info is not None  # only called for compiled models
    edgetpu = {(sg.index, op.index) for sg in model.subgraphs for op in sg.operators if op.is_edgetpu}
    kept = [f for f in findings if f.effect is not Effect.MODEL and f.location.operator is not None
            and (f.location.subgraph, f.location.operator) not in edgetpu]
    kept += compiled_model(model, info) + damaged_package(model, info) + runtime_too_old(model, info, config)
    memory = from_package(model, info, config.compiler)
    kept += streamed_parameters(model, memory)
    partitions = tuple(compiled_partition(g, kept) for g in graphs)
    return [f if f.path == model.path else replace(f, path=model.path) for f in kept], partitions, info, memory


reported_after_partition(compiled_model, "TPU800", "compiled-model", severity=Severity.INFO,
                         confidence=Confidence.DOCUMENTED, effect=Effect.NONE)
reported_after_partition(damaged_package, "TPU801", "damaged-edgetpu-package", severity=Severity.ERROR,
                         confidence=Confidence.DOCUMENTED, effect=Effect.NONE)
reported_after_partition(runtime_too_old, "TPU802", "runtime-too-old", severity=Severity.ERROR,
                         confidence=Confidence.DOCUMENTED, effect=Effect.NONE)

__all__ = ["compiled_partition", "compiled_view", "LEFT_ON_CPU"]
