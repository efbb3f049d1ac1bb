"""Advice checked by the prediction: each suggestion, applied, predicts the Edge TPU op count it promises."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from conftest import corpus_cases, source_model

from tpulint.advice import MAP_OPS, MULTIPLE_SUBGRAPHS, PIPELINING_SPLIT, SMALLER_INPUT, Suggestion
from tpulint.analysis import ModelReport, analyze, analyze_model
from tpulint.config import Config
from tpulint.findings import Effect
from tpulint.model import read_model_bytes
from tpulint.partition import PartitionOptions, partition

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

from screenshot import demo_model  # noqa: E402  (the README's demo model)


def applied(report: ModelReport, s: Suggestion) -> int:
    """The predicted Edge TPU op count with suggestion `s` applied, computed independently of tpulint.advice."""
    cfg = report.config
    if s.kind == MULTIPLE_SUBGRAPHS:
        return analyze_model(report.model, Config(**{**_fields(cfg), "multiple_subgraphs": True})).tpu_ops
    if s.kind == PIPELINING_SPLIT:
        words = shlex.split(s.command or "")
        names = tuple(words[words.index("-i") + 1].split(","))
        return analyze_model(report.model, Config(**{**_fields(cfg), "intermediate_tensors": names})).tpu_ops
    assert s.kind in (MAP_OPS, SMALLER_INPUT)
    from tpulint import engine

    findings = [f for f in engine.check(report.model, report.graphs, cfg)
                if not (f.effect is Effect.CPU and f.location.subgraph == s.subgraph and f.location.operator in s.ops)]
    options = PartitionOptions(cfg.multiple_subgraphs, cfg.intermediate_tensors)
    return sum(partition(g, findings, options, True).tpu_ops for g in report.graphs)


def _fields(cfg: Config) -> dict:
    return {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}


def summary(report: ModelReport) -> list[tuple]:
    return [(s.kind, s.ops, s.gain, s.tpu_ops, s.tpu_subgraphs, s.transfers_added, s.command)
            for s in report.advice.suggestions]


def test_readme_demo_gets_the_fix_then_dash_a_and_no_losing_cut() -> None:
    report = analyze_model(read_model_bytes(demo_model(), "demo.tflite"), Config())
    assert report.tpu_ops == 4
    assert summary(report) == [
        (MAP_OPS, (4,), 4, 8, 1, -1, None),
        (MULTIPLE_SUBGRAPHS, (), 3, 7, 2, 3, "edgetpu_compiler -a demo.tflite"),
    ]
    # `-i stem/dw` would take the left branch off the Edge TPU too (4 -> 2 ops): never offered.
    assert report.advice.safe_cuts == frozenset()
    assert analyze_model(report.model, Config(intermediate_tensors=("stem/dw",))).tpu_ops == 2


def test_split_that_keeps_every_op_is_offered_as_a_split_not_a_fix() -> None:
    report = analyze_model(read_model_bytes((ROOT / "fixtures" / "broken_chain.tflite").read_bytes(), "b.tflite"),
                           Config())
    assert summary(report) == [
        (MAP_OPS, (1,), 3, 4, 1, 0, None),
        (MULTIPLE_SUBGRAPHS, (), 2, 3, 2, 2, "edgetpu_compiler -a b.tflite"),
        (PIPELINING_SPLIT, (1,), 0, 1, 1, 0, "edgetpu_compiler -i relu_0 b.tflite"),
    ]
    split = report.advice.suggestions[-1].text
    assert split.startswith("not a fix, for a clean Edge TPU / CPU split")
    assert report.advice.safe_cuts == frozenset({(0, 1)})


def test_no_advice_for_ops_that_cut_nothing_off() -> None:
    report = analyze_model(read_model_bytes((ROOT / "fixtures" / "custom_op.tflite").read_bytes()), Config())
    assert report.cpu_ops == 1 and report.advice.suggestions == ()


@pytest.mark.parametrize("case", corpus_cases())
def test_no_corpus_suggestion_lowers_the_edge_tpu_op_count(case: Path) -> None:
    report = analyze(source_model(case))
    for s in report.advice.suggestions:
        got = applied(report, s)
        assert (s.kind, got) == (s.kind, s.tpu_ops)
        assert got >= report.tpu_ops and s.gain == got - report.tpu_ops
        assert (s.gain > 0) == (s.kind != PIPELINING_SPLIT)
    if case.name == "ext_yolov8n_nerbivol":
        (first, *_) = report.advice.suggestions
        assert (first.kind, first.gain) == (SMALLER_INPUT, 24)


def _transpose_chain(side: int, second_input: bool = False) -> bytes:
    """x [1, side, side, 16] -> RELU -> TRANSPOSE to NCHW -> RELU -> RELU: the TRANSPOSE is over its size
    limit at large sides, and its fallback cuts the two RELUs after it off the Edge TPU segment."""
    import numpy as np

    from tpulint.testing import ModelBuilder

    b = ModelBuilder()
    b.tensor("x", [1, side, side, 16]).tensor("a", [1, side, side, 16])
    b.tensor("perm", [4], "int32", data=np.array([0, 3, 1, 2], np.int32))
    for name in ("t", "r1", "r2"):
        b.tensor(name, [1, 16, side, side])
    b.op("RELU", ["x"], ["a"]).op("TRANSPOSE", ["a", "perm"], ["t"]).op("RELU", ["t"], ["r1"]).op("RELU", ["r1"], ["r2"])
    if second_input:  # a second model input, added to the first: no single image size to scale
        b.tensor("y", [1, side, side, 16]).tensor("s", [1, side, side, 16])
        b.op("ADD", ["x", "y"], ["s"])
        return b.io(["x", "y"], ["r2", "s"]).build()
    return b.io(["x"], ["r2"]).build()


def test_smaller_input_advice_names_the_largest_size_under_every_threshold() -> None:
    report = analyze_model(read_model_bytes(_transpose_chain(320), "t.tflite"), Config())
    (s,) = [s for s in report.advice.suggestions if s.kind == SMALLER_INPUT]
    assert (s.ops, s.gain, s.tpu_ops) == ((1,), 3, 4)
    assert s.text.startswith("export the model with a smaller input size, at most 64x64 (the input is 320x320; "
                             "these tensors grow with it): op 1 TRANSPOSE")
    # The size it names maps, the next step up does not: checked by the prediction itself.
    at = {side: analyze_model(read_model_bytes(_transpose_chain(side), "t.tflite"), Config()) for side in (64, 96)}
    assert (at[64].tpu_ops, [f.code for f in at[64].findings if f.code.startswith("TPU6")]) == (4, [])
    assert [f.code for f in at[96].findings if f.code.startswith("TPU6")] == ["TPU601"]


def test_no_input_size_is_named_without_a_single_image_input() -> None:
    report = analyze_model(read_model_bytes(_transpose_chain(320, second_input=True), "t.tflite"), Config())
    (s,) = [s for s in report.advice.suggestions if s.kind == SMALLER_INPUT]
    assert s.text.startswith("export the model with a smaller input size: op 1 TRANSPOSE")


@pytest.mark.parametrize("multiple", [False, True], ids=["default", "dash-a"])
@pytest.mark.parametrize("case", corpus_cases())
def test_what_if_without_changes_is_the_partition_the_model_got(case: Path, multiple: bool, monkeypatch) -> None:
    """The advisor takes the subgraphs a what-if leaves alone from the model's partitions, and a what-if with ops
    freed resumes the cached run without them: both must be what a partition computed afresh gives (with the
    freed ops' own CPU findings left out)."""
    import random

    import tpulint.analysis
    from tpulint.partition import Outcome, WhatIf

    seen = []
    monkeypatch.setattr(tpulint.analysis, "advise", lambda *args: seen.append(args) or tpulint.analysis.Advice())
    analyze(source_model(case), multiple_subgraphs=multiple)
    if not seen:
        pytest.skip("rejected model: no advice")
    (_, graphs, findings, partitions, config), = seen
    options = PartitionOptions(config.multiple_subgraphs, config.intermediate_tensors)
    rng = random.Random(case.name)
    for graph, part in zip(graphs, partitions):
        what_if = WhatIf(graph, findings)
        assert what_if.outcome(options) == Outcome.of(part.tpu_ops, part.segments)
        cpu = [i for i, p in enumerate(part.placements) if p.codes]
        for _ in range(5):
            freed = set(rng.sample(cpu, min(len(cpu), rng.randint(1, 3))))
            kept = [f for f in findings if not (f.effect is Effect.CPU and f.location.subgraph == part.subgraph
                                                 and f.location.operator in freed)]
            afresh = partition(graph, kept, options)
            assert what_if.tpu_ops(options, freed) == afresh.tpu_ops
            assert what_if.outcome(options, freed) == Outcome.of(afresh.tpu_ops, afresh.segments)
