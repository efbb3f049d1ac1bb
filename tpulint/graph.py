"""Operator data-flow graph of a subgraph: producers, consumers, predecessors, and an optional networkx view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from tpulint.errors import ModelError
from tpulint.model import Subgraph
from tpulint.model_types import columns_to_use

if TYPE_CHECKING:
    import networkx
    import numpy as np


@dataclass(frozen=True, slots=True)
class Graph:
    """Edges run from the op that writes a tensor to every op that reads it.

    Built in plain Python (networkx costs ~160 ms to import, more than a whole analysis);
    `to_networkx()` gives the same graph as a `networkx.DiGraph` for callers that want it.
    """

    subgraph: Subgraph
    producer: tuple[int, ...]  # tensor index -> op index, -1 when no op writes it
    consumers: tuple[tuple[int, ...], ...]  # tensor index -> op indices that read it
    preds: tuple[tuple[int, ...], ...]  # op index -> op indices it reads from (sorted, unique)
    succs: tuple[tuple[int, ...], ...]  # op index -> op indices that read its outputs (sorted, unique)
    unwritten_reads: tuple[tuple[int, int], ...]  # (op, tensor): activations nobody writes and no input feeds

    @classmethod
    def build(cls, sg: Subgraph) -> "Graph":
        """Raise ModelError for a tensor written twice or read before it is written (a cycle)."""
        if columns_to_use(sg) is not None:
            graph = _build_from_columns(cls, sg)
            if graph is not None:
                return graph
        return cls._build_from_objects(sg)

    @classmethod
    def _build_from_objects(cls, sg: Subgraph) -> "Graph":
        n_tensors = len(sg.tensors)
        operators = sg.operators
        producer = [-1] * n_tensors
        for op in operators:
            i = op.index
            for t in op.outputs:
                if producer[t] != -1:
                    raise ModelError(
                        f"corrupt model: tensor {t} is written by both op {producer[t]} and op {i} "
                        f"of subgraph {sg.index}")
                producer[t] = i
        consumers: list[list[int]] = [[] for _ in range(n_tensors)]
        preds: list[tuple[int, ...]] = []
        succs: list[list[int]] = [[] for _ in operators]
        graph_inputs = frozenset(sg.inputs)
        tensors = sg.tensors
        unwritten = []
        # (i,) for each op i, shared by every one-op entry of consumers, preds and succs (most of them: a
        # 100,000-op chain otherwise holds 400,000 one-element tuples, 15 MB more)
        alone = [(op.index,) for op in operators]
        for op in operators:
            i = op.index
            p = set()
            for t in op.inputs:
                if t < 0:
                    continue
                consumers[t].append(i)
                src = producer[t]
                if src == -1:
                    tensor = tensors[t]
                    if not tensor.data_size and not tensor.is_variable and t not in graph_inputs:
                        unwritten.append((i, t))
                elif src >= i:
                    raise ModelError(
                        f"corrupt model: op {i} of subgraph {sg.index} reads tensor {t} before op {src} "
                        "writes it (a cycle, or ops out of execution order)")
                else:
                    p.add(src)
            if p:
                ordered = tuple(sorted(p)) if len(p) > 1 else alone[p.pop()]
                preds.append(ordered)
                for src in ordered:
                    succs[src].append(i)  # ops are visited in increasing order: each list stays sorted, unique
            else:
                preds.append(())
        return cls(sg, tuple(producer), _frozen(consumers, alone), tuple(preds), _frozen(succs, alone),
                   tuple(unwritten))

    def ancestors(self, op: int) -> set[int]:
        seen: set[int] = set()
        stack = list(self.preds[op])
        while stack:
            o = stack.pop()
            if o not in seen:
                seen.add(o)
                stack.extend(self.preds[o])
        return seen

    def descendants(self, ops: Iterable[int]) -> set[int]:
        seen: set[int] = set()
        stack = [s for o in ops for s in self.succs[o]]
        while stack:
            o = stack.pop()
            if o not in seen:
                seen.add(o)
                stack.extend(self.succs[o])
        return seen

    def graph_input_ops(self) -> list[int]:
        """Ops that read a subgraph input directly."""
        return sorted({c for t in self.subgraph.inputs for c in self.consumers[t]})

    def graph_output_ops(self) -> list[int]:
        return sorted({self.producer[t] for t in self.subgraph.outputs if self.producer[t] >= 0})

    def constant_inputs(self, op: int) -> list[int]:
        tensors = self.subgraph.tensors
        return [t for t in self.subgraph.operators[op].inputs if t >= 0 and tensors[t].data_size]

    def to_networkx(self) -> "networkx.DiGraph":
        """The same graph as a networkx DiGraph: op nodes (with `opcode`), edges labelled with the `tensor` index."""
        import networkx

        g = networkx.DiGraph()
        for op in self.subgraph.operators:
            g.add_node(op.index, opcode=op.name)
        for t, src in enumerate(self.producer):
            if src >= 0:
                for dst in self.consumers[t]:
                    g.add_edge(src, dst, tensor=t)
        return g


def _frozen(lists: list[list[int]], alone: list[tuple[int]]) -> tuple[tuple[int, ...], ...]:
    """Each list as a tuple; one of a single op i is alone[i]."""
    return tuple([alone[x[0]] if len(x) == 1 else tuple(x) for x in lists])


def _build_from_columns(cls: type[Graph], sg: Subgraph) -> Graph | None:
    """The same Graph by scatter and sort over the columnar decoder's arrays; None when the subgraph is not
    well formed (a tensor written twice, read before written), for the object path to name the problem."""
    import numpy as np

    from tpulint.column_tuples import distinct

    c = sg.columns
    assert c is not None
    n_tensors, n_ops = len(sg.tensors), len(sg.operators)
    outputs = c.outputs.astype(np.int64)
    writer = np.repeat(np.arange(n_ops, dtype=np.int64), np.diff(c.output_offsets))
    if outputs.size and int(np.bincount(outputs, minlength=n_tensors).max()) > 1:
        return None
    producer = np.full(n_tensors, -1, np.int64)
    producer[outputs] = writer
    inputs = c.inputs.astype(np.int64)
    reader = np.repeat(np.arange(n_ops, dtype=np.int64), np.diff(c.input_offsets))
    read = inputs >= 0
    inputs, reader = inputs[read], reader[read]
    source = producer[inputs]
    if bool((source >= reader).any()):
        return None
    # consumers: every read (duplicates kept), per tensor in op order: a stable sort by tensor
    order = np.argsort(inputs, kind="stable")
    # The graph's op indices as the Operators' own int objects (a fresh int per entry would cost 28 bytes each).
    ids = np.empty(n_ops + 1, dtype=object)
    ids[:] = [op.index for op in sg.operators] + [-1]  # ids[-1] is -1: no producer
    consumers = _groups(ids[reader[order]], np.bincount(inputs, minlength=n_tensors), n_tensors)
    # preds/succs: the distinct (reader, source) edges, sorted both ways
    written = source >= 0
    edges = distinct(reader[written] * max(n_ops, 1) + source[written])
    dst, src = edges // max(n_ops, 1), edges % max(n_ops, 1)
    preds = _groups(ids[src], np.bincount(dst, minlength=n_ops), n_ops)
    by_source = np.lexsort((dst, src))
    succs = _groups(ids[dst[by_source]], np.bincount(src, minlength=n_ops), n_ops)
    unwritten_mask = (source < 0) & ~c.is_constant[inputs] & ~c.is_variable[inputs]
    if sg.inputs:
        unwritten_mask &= ~np.isin(inputs, np.array(sg.inputs, np.int64))
    unwritten = tuple(zip(reader[unwritten_mask].tolist(), inputs[unwritten_mask].tolist()))
    return cls(sg, tuple(ids[producer].tolist()), consumers, preds, succs, unwritten)


def _groups(values: "np.ndarray", counts: "np.ndarray", n: int) -> tuple[tuple[int, ...], ...]:
    """`values` cut into n consecutive tuples of `counts[i]` elements."""
    import numpy as np

    from tpulint.column_tuples import cut

    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return tuple(cut(values, offsets))
