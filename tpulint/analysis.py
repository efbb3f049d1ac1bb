"""The pipeline: read a model, build its graphs, run the rules, predict the partition; returns a typed ModelReport."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from tpulint import engine
from tpulint.advice import Advice, advise
from tpulint.config import Config, merge
from tpulint.cost import grade, rejected_partition
from tpulint.findings import Effect, Finding
from tpulint.graph import Graph
from tpulint.errors import RulesError
from tpulint.model import Model, gc_paused, read_model, read_model_bytes
from tpulint.partition import TPU, Partition, PartitionOptions, partition


@dataclass(frozen=True, slots=True)
class ModelReport:
    """Everything tpulint predicts for one model file."""

    path: str
    model: Model
    graphs: tuple[Graph, ...]
    findings: tuple[Finding, ...]  # reported findings (after select/ignore), sorted
    partitions: tuple[Partition, ...]  # one per TFLite subgraph
    compilable: bool
    config: Config
    compiled_info: Any = None  # tpulint.compiled.CompiledInfo for *_edgetpu.tflite files
    memory: Any = None  # tpulint.memory.MemoryEstimate
    advice: Advice = Advice()  # what to change, checked by re-running the partition
    source: Any = None  # tpulint.source_map.SourceMap: a compiled model's custom ops mapped to its source's ops

    @property
    def compiled(self) -> bool:
        return self.model.is_compiled

    @property
    def ops(self) -> int:
        return sum(len(p.placements) for p in self.partitions)

    @property
    def tpu_ops(self) -> int:
        return sum(p.tpu_ops for p in self.partitions)

    @property
    def cpu_ops(self) -> int:
        return self.ops - self.tpu_ops

    @property
    def tpu_subgraphs(self) -> int:
        return sum(len(p.segments) for p in self.partitions)

    @property
    def main(self) -> Partition:
        return self.partitions[0]

    def placement_of(self, subgraph: int, op: int) -> str:
        return self.partitions[subgraph].placements[op].placement


def analyze(model: "str | os.PathLike[str] | bytes | bytearray | memoryview", config: Config | None = None,
            **options: Any) -> ModelReport:
    """Analyse one .tflite model: a path, or the model's bytes. Options override `config` (compiler,
    min_runtime, multiple_subgraphs, intermediate_tensors, select, ignore, per_file_ignores, fail_on,
    min_tpu_ops_ratio, runtime_version).

    Raises tpulint.ModelError when the file is not a usable model, never any other exception for bad input;
    TypeError for an argument of the wrong type (a string where a list of codes is expected included) or an
    unknown option, ValueError for an option value out of range or an unknown rule code.
    """
    if config is not None and not isinstance(config, Config):
        raise TypeError(f"config must be a tpulint.Config, not {type(config).__name__}")
    try:
        cfg = merge(config or Config(), **options)
    except RulesError as e:
        raise ValueError(str(e)) from None
    if isinstance(model, (bytes, bytearray, memoryview)):
        with gc_paused(promote=True):
            return analyze_model(read_model_bytes(bytes(model)), cfg)
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"analyze() takes a path or the model's bytes, not {type(model).__name__}")
    path = os.fspath(model)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    with gc_paused(promote=True):
        return analyze_model(read_model(path), cfg)


def analyze_model(model: Model, config: Config) -> ModelReport:
    graphs = tuple(Graph.build(sg) for sg in model.subgraphs)
    all_findings = engine.check(model, graphs, config)
    all_findings = [f if f.path == model.path else replace(f, path=model.path) for f in all_findings]
    compiled_info = source = None
    if model.is_compiled:  # the edgetpu-custom-ops are the Edge TPU subgraphs; only the CPU ops are linted
        from tpulint.checks.compiled import compiled_view

        all_findings, partitions, compiled_info, memory = compiled_view(model, graphs, all_findings, config)
        source = _source_map(model, config)
        compilable = True
        graded_by = partitions
    else:
        from tpulint.checks.compiled import runtime_too_old
        from tpulint.checks.memory import memory_view

        compilable = not any(f.effect is Effect.MODEL for f in all_findings)
        part_options = PartitionOptions(config.multiple_subgraphs, config.intermediate_tensors)
        # Findings are graded by the partition the model gets, or would get once its rejection is fixed.
        graded_by = tuple(partition(g, all_findings, part_options, True) for g in graphs)
        partitions = graded_by if compilable else tuple(rejected_partition(g, all_findings) for g in graphs)
        memory, memory_findings = memory_view(model, graphs, partitions, config)
        if not any(p.tpu_ops for p in partitions):
            memory = None  # nothing maps (or the model is rejected): no on-chip figures to give
        all_findings += [replace(f, path=model.path) for f in memory_findings + runtime_too_old(model, None, config)]
    all_findings = grade(all_findings, graded_by, graphs, config)
    reported = tuple(sorted((f for f in all_findings if config.enabled(f.code, model.path)), key=Finding.sort_key))
    advice = advise(model.path, graphs, all_findings, partitions, config) if compilable and not model.is_compiled \
        else Advice()
    return ModelReport(model.path, model, graphs, reported, partitions, compilable, config, compiled_info, memory,
                       advice, source)


def _source_map(model: Model, config: Config) -> Any:
    """The compiled model's custom ops mapped to the ops of its source: `--source`, else the file next to it named
    without `_edgetpu`. A `--source` that cannot be read is an error; an unreadable sibling is ignored."""
    from tpulint.errors import ModelError
    from tpulint.source_map import map_to_source, sibling_source

    path = config.source or sibling_source(model.path)
    if path is None:
        return None
    try:
        source = read_model(path)
    except ModelError as e:
        if config.source:
            raise ModelError(f"--source {path}: {e}") from None
        return None
    if source.is_compiled:
        if config.source:
            raise ModelError(f"--source {path}: is itself a compiled model; give the uncompiled one")
        return None
    return map_to_source(model, source)


__all__ = ["ModelReport", "analyze", "analyze_model", "TPU"]
