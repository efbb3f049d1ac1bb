"""The partition on hand-built graphs, with the rule findings injected: placement, status, blockers, segments."""

from __future__ import annotations

import random

import pytest

from tpulint.findings import MAPPED, MORE_THAN_ONE_SUBGRAPH, NOT_SUPPORTED, UNSUPPORTED_DATA_TYPE, Confidence, Effect
from tpulint.findings import Finding, Location, Severity
from tpulint.graph import Graph
from tpulint.model import read_model, read_model_bytes
from tpulint.partition import CPU, TPU, Outcome, PartitionOptions, partition
from tpulint.partition import _segment_boundaries, _segments, _tensor_edges, _transfers
from tpulint.testing import ModelBuilder

from conftest import corpus_cases

Q = (0.1, 0)


def cpu(op: int, status: str = NOT_SUPPORTED) -> Finding:
    return Finding("TPU999", "test-rule", Severity.ERROR, Confidence.DOCUMENTED, Effect.CPU, "test",
                   Location(0, op, "X"), status)


def graph_of(b: ModelBuilder) -> Graph:
    return Graph.build(read_model_bytes(b.build()).main)


def chain(n: int, prefix: str = "t") -> ModelBuilder:
    """input -> op0 -> op1 -> ... -> op(n-1), all RELU on int8."""
    b = ModelBuilder()
    b.tensor("input", [1, 4, 4, 4], "int8", quant=Q)
    prev = "input"
    for i in range(n):
        b.tensor(f"{prefix}{i}", [1, 4, 4, 4], "int8", quant=Q)
        b.op("RELU", [prev], [f"{prefix}{i}"])
        prev = f"{prefix}{i}"
    return b


def placements(p) -> list[tuple[str, str, int | None]]:
    return [(x.placement, x.status, x.blocked_by) for x in p.placements]


def test_chain_broken_in_the_middle():
    p = partition(graph_of(chain(5)), [cpu(2)])
    assert placements(p) == [
        (TPU, MAPPED, None), (TPU, MAPPED, None), (CPU, NOT_SUPPORTED, None),
        (CPU, MORE_THAN_ONE_SUBGRAPH, 2), (CPU, MORE_THAN_ONE_SUBGRAPH, 2)]
    assert [p.placements[2].codes] == [("TPU999",)]
    assert len(p.segments) == 1 and p.segments[0].ops == (0, 1)
    assert p.segments[0].inputs == (0,) and p.segments[0].outputs == (2,)  # input -> t1 leaves the TPU
    assert [(b.op, b.regained, b.cut_tensors) for b in p.blockers] == [(2, 3, (2,))]


def test_own_reason_wins_over_the_cut():
    p = partition(graph_of(chain(4)), [cpu(1), cpu(3, UNSUPPORTED_DATA_TYPE)])
    assert placements(p) == [(TPU, MAPPED, None), (CPU, NOT_SUPPORTED, None), (CPU, MORE_THAN_ONE_SUBGRAPH, 1),
                             (CPU, UNSUPPORTED_DATA_TYPE, None)]


def test_side_branch_after_the_break_still_maps():
    b = chain(3)  # ops 0,1,2 on the main branch; op 1 falls to the CPU
    b.tensor("side", [1, 4, 4, 4], "int8", quant=Q)
    b.op("RELU", ["input"], ["side"])  # op 3: reads only the input, later in execution order
    b.tensor("side2", [1, 4, 4, 4], "int8", quant=Q)
    b.op("RELU", ["side"], ["side2"])  # op 4
    p = partition(graph_of(b), [cpu(1)])
    assert [x.placement for x in p.placements] == [TPU, CPU, CPU, TPU, TPU]
    assert p.placements[2].blocked_by == 1
    assert len(p.segments) == 1 and p.segments[0].ops == (0, 3, 4)


def test_join_after_the_break_is_cut():
    b = chain(2)
    b.tensor("side", [1, 4, 4, 4], "int8", quant=Q)
    b.op("RELU", ["input"], ["side"])  # op 2, independent
    b.tensor("joined", [1, 4, 4, 4], "int8", quant=Q)
    b.op("ADD", ["t1", "side"], ["joined"])  # op 3 reads the CPU branch
    p = partition(graph_of(b), [cpu(1)])
    assert [x.placement for x in p.placements] == [TPU, CPU, TPU, CPU]
    assert p.placements[3].blocked_by == 1


def test_leading_cpu_ops_do_not_block():
    b = ModelBuilder()
    b.tensor("image", [1, 4, 4, 4], "float32")
    b.tensor("q", [1, 4, 4, 4], "int8", quant=Q)
    b.op("QUANTIZE", ["image"], ["q"])
    b.tensor("r", [1, 4, 4, 4], "int8", quant=Q)
    b.op("RELU", ["q"], ["r"])
    b.tensor("s", [1, 4, 4, 4], "int8", quant=Q)
    b.op("RELU", ["r"], ["s"])
    p = partition(graph_of(b), [cpu(0, "Operation is otherwise supported, but not mapped due to some unspecified limitation")])
    assert [x.placement for x in p.placements] == [CPU, TPU, TPU]
    assert p.placements[0].blocked_by is None and p.blockers == ()  # fixing it regains nothing
    assert p.segments[0].inputs == (1,)


def test_custom_op_at_the_end():
    p = partition(graph_of(chain(4)), [cpu(3, UNSUPPORTED_DATA_TYPE)])
    assert [x.placement for x in p.placements] == [TPU, TPU, TPU, CPU]
    assert p.blockers == ()


def test_multiple_subgraphs_map_again_after_each_cpu_op():
    p = partition(graph_of(chain(7)), [cpu(2), cpu(4)], PartitionOptions(multiple_subgraphs=True))
    assert [x.placement for x in p.placements] == [TPU, TPU, CPU, TPU, CPU, TPU, TPU]
    assert [x.segment for x in p.placements] == [0, 0, None, 1, None, 2, 2]
    assert [s.ops for s in p.segments] == [(0, 1), (3,), (5, 6)]
    assert MORE_THAN_ONE_SUBGRAPH not in {x.status for x in p.placements}


def test_multiple_subgraphs_parallel_branches_share_a_segment():
    b = chain(2)
    b.tensor("side", [1, 4, 4, 4], "int8", quant=Q)
    b.op("RELU", ["input"], ["side"])
    p = partition(graph_of(b), [], PartitionOptions(multiple_subgraphs=True))
    assert len(p.segments) == 1 and p.segments[0].ops == (0, 1, 2)


def test_intermediate_tensors_end_the_segment():
    p = partition(graph_of(chain(5)), [], PartitionOptions(intermediate_tensors=("t1",)))
    assert [x.placement for x in p.placements] == [TPU, TPU, CPU, CPU, CPU]
    assert p.segments[0].outputs == (2,)  # t1 becomes an output of the Edge TPU op


def test_uncompilable_model_maps_nothing():
    p = partition(graph_of(chain(3)), [cpu(1)], compilable=False)
    assert p.compilable is False and p.segments == ()
    assert [x.placement for x in p.placements] == [CPU, CPU, CPU]


def test_blockers_ranked_by_ops_regained():
    b = chain(3)  # op 1 cuts ops 2
    b.tensor("u0", [1, 4, 4, 4], "int8", quant=Q)
    b.op("RELU", ["input"], ["u0"])  # op 3
    prev = "u0"
    for i in range(1, 5):  # ops 4..7 cut by op 4
        b.tensor(f"u{i}", [1, 4, 4, 4], "int8", quant=Q)
        b.op("RELU", [prev], [f"u{i}"])
        prev = f"u{i}"
    p = partition(graph_of(b), [cpu(1), cpu(4)])
    assert [(x.op, x.regained) for x in p.blockers] == [(4, 4), (1, 2)]


@pytest.mark.parametrize("case", corpus_cases(with_source=False))
def test_what_if_transfer_count_is_the_segments_boundaries(case):
    """The what-ifs count boundary tensors without building the segments: the count must be the segments'
    on real graphs (shared tensors, several readers, subgraph outputs) for random placements, -a or not."""
    rng = random.Random(case.name)
    for path in sorted(case.glob("*.tflite")):
        for graph in (Graph.build(sg) for sg in read_model(path).subgraphs):
            edges = _tensor_edges(graph)
            n = len(graph.subgraph.operators)
            for multiple in (False, True):
                for _ in range(5):
                    on_tpu = [rng.random() < 0.7 for _ in range(n)]
                    segment_of = _segments(graph, on_tpu, multiple)
                    segments = _segment_boundaries(graph, segment_of)
                    assert _transfers(edges, segment_of) == Outcome.of(0, segments).transfers


def test_what_if_counts_a_tensor_entering_two_segments_twice():
    b = chain(1)  # op 0 on the CPU; t0 read by two ops in two segments
    b.tensor("a", [1, 4, 4, 4], "int8", quant=Q)
    b.op("RELU", ["t0"], ["a"])  # op 1
    b.tensor("c", [1, 4, 4, 4], "int8", quant=Q)
    b.op("RELU", ["a"], ["c"])  # op 2, CPU
    b.tensor("d", [1, 4, 4, 4], "int8", quant=Q)
    b.op("ADD", ["c", "t0"], ["d"])  # op 3: second segment with -a, reads t0 again
    graph = graph_of(b)
    segment_of = _segments(graph, [False, True, False, True], True)
    assert segment_of == [None, 0, None, 1]
    segments = _segment_boundaries(graph, segment_of)
    assert [(s.inputs, s.outputs) for s in segments] == [((1,), (2,)), ((3, 1), (4,))]
    assert _transfers(_tensor_edges(graph), segment_of) == 5
