"""What a check sees (Context, per-tensor facts computed once) and what it returns (Hit); shared shape helpers."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from tpulint.findings import Confidence, Effect, Severity
from tpulint.model_types import columns_to_use, opcode_names

if TYPE_CHECKING:
    import numpy as np

    from tpulint.checks._constants import ConstantReader, Values
    from tpulint.config import Config
    from tpulint.graph import Graph
    from tpulint.model import Model, Operator, Subgraph, SubgraphColumns, Tensor
    from tpulint.profile import Profile

_F = TypeVar("_F", bound=Callable[..., Any])
_PARAMS = frozenset({"int32", "int64", "int16"})  # constant biases, shape/axis parameters, LSTM/16x8 biases


# Ops whose status comes from a dedicated rule rather than the generic table/data-type rules.
CONTROL_FLOW = frozenset({"WHILE", "IF", "CALL_ONCE", "CALL"})
LSTM_VARIANTS = frozenset({"LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM"})
# Ops with constant weights/bias: (opcode -> (weights input index, bias input index)).
WEIGHTED = {"CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2), "TRANSPOSE_CONV": (1, 3)}


# Per-tensor facts computed once per subgraph; a check declaring `needs` runs only on ops touching such a tensor.
F_DTYPE = 1  # not one of the profile's 8-bit types
F_INT16 = 2
F_RANK = 4  # a dimension > 1 outside the innermost three (batch or rank)
F_ROW = 8  # two innermost dimensions above the row limit
F_SCALAR = 16  # an activation with no dimensions


def needs(mask: int) -> Callable[[_F], _F]:
    """Mark a check as relevant only for ops with a tensor flagged `mask` (the engine skips it otherwise)."""

    def mark(func: _F) -> _F:
        func.needs = mask  # type: ignore[attr-defined]
        return func

    return mark


def prefilter(candidates: Callable[[Context, np.ndarray], np.ndarray]) -> Callable[[_F], _F]:
    """Give a check a necessary condition over the reader's columns: `candidates(ctx, ops)` maps an array of op
    indices, all of one opcode, to a bool array that is False only where the check cannot fire. On a subgraph
    read as columns the engine runs the check on candidate ops only; the check itself stays the truth."""

    def mark(func: _F) -> _F:
        func.prefilter = candidates  # type: ignore[attr-defined]
        return func

    return mark


def applies(predicate: Callable[[Context, str], bool]) -> Callable[[_F], _F]:
    """Mark a check whose relevance depends only on the opcode: decided once per opcode, not once per op."""

    def mark(func: _F) -> _F:
        func.applies = predicate  # type: ignore[attr-defined]
        return func

    return mark


@dataclass(frozen=True, slots=True)
class Hit:
    """One violation as a check reports it; the engine adds the rule's identity and the location."""

    message: str
    fix: str | None = None
    op: Operator | None = None  # model-scope rules: the op it points at (else the op being checked)
    subgraph: int | None = None  # model-scope rules: the subgraph it points at
    tensor: int | None = None  # a tensor other than the op's first output
    status: str | None = None  # overrides the rule's compiler status string
    effect: Effect | None = None  # overrides the rule's effect (e.g. a gate that depends on the compiler)
    severity: Severity | None = None
    confidence: Confidence | None = None  # e.g. a rule observed on another compiler version than the target
    # a size limit the op is over: (measured, limit, power), the measure growing as the input side ** power
    threshold: tuple[int, int, int] | None = None


def seen_only_on(ctx: "Context", compilers: tuple[str, ...]) -> tuple[Confidence | None, str]:
    """For a rule whose evidence comes from `compilers` only: (heuristic, a note) on any other target compiler."""
    if ctx.profile.compiler in compilers:
        return None, ""
    return Confidence.HEURISTIC, (f" (seen on compiler {' and '.join(compilers)} only; compiler "
                                  f"{ctx.profile.compiler} is unobserved)")


class Context:
    """One subgraph under one profile; per-tensor facts are computed once, on first use."""

    __slots__ = ("_constants", "_flags", "_rows", "cache", "config", "graph", "model", "profile", "runtime", "sg", "tensors")

    def __init__(self, model: Model, graph: Graph, profile: Profile, config: Config) -> None:
        self.model = model
        self.sg: Subgraph = graph.subgraph
        self.graph = graph
        self.profile = profile
        self.config = config
        self.runtime = config.runtime
        self.tensors: tuple[Tensor, ...] = graph.subgraph.tensors
        self._rows: list[int] | None = None
        self._constants: ConstantReader | None = None
        self.cache: dict[str, object] = {}  # per-tensor facts a rule family computes once per subgraph
        self._flags: list[int] | None = None

    @property
    def flags(self) -> list[int]:
        """Per tensor: the F_* bits, computed in one pass over the tensors (as arrays over the reader's columns
        for a large subgraph)."""
        columns = columns_to_use(self.sg) if self._flags is None else None
        if columns is not None:
            self._flags = tensor_flags(columns, self.profile).tolist()
        if self._flags is None:
            allowed = self.profile.dtypes
            keep = self.profile.max_nontrivial_rank
            limit = self.profile.limits["tensor_row_max_elements"]
            flags = []
            for t in self.tensors:
                dtype = t.dtype
                if t.data_size:  # constants: only non-parameter dtypes matter (float weights)
                    flags.append(F_DTYPE if dtype not in allowed and dtype not in _PARAMS else 0)
                    continue
                shape = t.shape
                f = 0
                if dtype not in allowed:
                    f = F_INT16 if dtype == "int16" else F_DTYPE
                n = len(shape)
                if n > keep and max(shape[:-keep], default=0) > 1:
                    f |= F_RANK
                if (shape[-1] * shape[-2] if n >= 2 else shape[0] if n else 1) > limit:
                    f |= F_ROW
                if not n:
                    f |= F_SCALAR
                flags.append(f)
            self._flags = flags
        return self._flags

    def op_flags(self) -> np.ndarray | None:
        """Per op: the F_* bits of its tensors ORed (omitted inputs skipped); None without columns."""
        columns = columns_to_use(self.sg)
        if columns is None:
            return None
        return op_flags(columns, self.flags, len(self.sg.operators))

    @property
    def rows(self) -> list[int]:
        """Per tensor: elements in its two innermost dimensions (one "row" of the Edge TPU's y/x/z layout)."""
        if self._rows is None:
            self._rows = [row_elements(t.shape) for t in self.tensors]
        return self._rows

    def activations(self, op: Operator) -> list[Tensor]:
        """The op's non-constant inputs and its outputs."""
        ts = self.tensors
        return [ts[i] for i in op.inputs if i >= 0 and not ts[i].data_size] + [ts[i] for i in op.outputs]

    def constant(self, index: int) -> Values | None:
        """Values of a small constant tensor (shape/axis/stride parameters); None when they cannot be read."""
        if self._constants is None:
            from tpulint.checks._constants import ConstantReader

            self._constants = ConstantReader(self.model)
        return self._constants.values(self.tensors[index])

    def close(self) -> None:
        """Release the model file a rule's constant lookup may have opened."""
        if self._constants is not None:
            self._constants.close()

    def describe(self, t: Tensor) -> str:
        return f"{t.name!r} ({t.dtype}[{t.shape_text()}])"




def tensor_flags(columns: SubgraphColumns, profile: Profile) -> np.ndarray:
    """The F_* bits of every tensor, as Context.flags computes them one tensor at a time."""
    import numpy as np

    allowed, keep = profile.dtypes, profile.max_nontrivial_rank
    limit = profile.limits["tensor_row_max_elements"]
    not_allowed = columns.by_dtype(lambda name: name not in allowed)
    not_param = columns.by_dtype(lambda name: name not in _PARAMS)
    int16 = columns.by_dtype(lambda name: name == "int16")
    offsets = columns.shape_offsets
    rank = np.diff(offsets)
    n = len(rank)
    shapes = columns.shapes.astype(np.int64)
    activation = np.where(not_allowed, np.where(int16, F_INT16, F_DTYPE), 0)
    # F_RANK: a dimension > 1 among the outer rank - keep ones
    owner = np.repeat(np.arange(n, dtype=np.int64), rank)
    position = np.arange(len(shapes), dtype=np.int64) - offsets[:-1][owner]
    outer_big = (shapes > 1) & (position < (rank - keep)[owner])
    activation |= np.where(np.bincount(owner[outer_big], minlength=n) > 0, F_RANK, 0)
    # F_ROW: the two innermost dimensions' product (the only one for rank 1; 1 for scalars) above the limit
    ends = offsets[1:]
    last = np.where(rank >= 1, shapes[np.maximum(ends - 1, 0)] if len(shapes) else 0, 1)
    second = np.where(rank >= 2, shapes[np.maximum(ends - 2, 0)] if len(shapes) else 0, 1)
    activation |= np.where(last * second > limit, F_ROW, 0)
    activation |= np.where(rank == 0, F_SCALAR, 0)
    constant = np.where(not_allowed & not_param, F_DTYPE, 0)
    return np.where(columns.is_constant, constant, activation)


def op_flags(columns: SubgraphColumns, flags: list[int], n_ops: int) -> np.ndarray:
    """Per op: the OR of the flags of its inputs (omitted ones skipped) and outputs."""
    import numpy as np

    table = np.array(flags + [0], np.int64)  # index -1 (an omitted input) reads the trailing 0
    out = np.zeros(n_ops, np.int64)
    for values, offsets in ((columns.inputs, columns.input_offsets), (columns.outputs, columns.output_offsets)):
        owner = np.repeat(np.arange(n_ops, dtype=np.int64), np.diff(offsets))
        np.bitwise_or.at(out, owner, table[values])
    return out


def tensors_with_negative_dims(columns: SubgraphColumns) -> list[int]:
    """The tensors whose stored shape has a dimension below 0 (-1: dynamic), in index order."""
    import numpy as np

    from tpulint.column_tuples import distinct

    at = np.flatnonzero(columns.shapes < 0)
    owners = np.searchsorted(columns.shape_offsets, at, side="right") - 1
    return distinct(owners).tolist()


def first_op_of_each_code(sg: Subgraph) -> Sequence[Operator]:
    """The ops of `sg` in order, or (from the reader's columns) only the first op using each operator-code
    entry: enough for whatever depends only on the op's code (opcode, version, custom code)."""
    columns = columns_to_use(sg)
    if columns is None:
        return sg.operators
    import numpy as np

    first = np.unique(columns.opcode_index, return_index=True)[1]
    operators = sg.operators
    return [operators[i] for i in sorted(first.tolist())]


def ops_with_opcode(sg: Subgraph, opcodes: Collection[str]) -> list[Operator]:
    """The ops of `sg` whose opcode is one of `opcodes`, in order (over the reader's columns: one array pass)."""
    columns = columns_to_use(sg)
    if columns is None:
        return [op for op in sg.operators if op.opcode in opcodes]
    import numpy as np

    wanted = [code for code, name in enumerate(opcode_names(sg, columns)) if name in opcodes]
    if not wanted:
        return []
    operators = sg.operators
    return [operators[i] for i in np.flatnonzero(np.isin(columns.opcode_index, wanted)).tolist()]


class ModelContext:
    """The whole model, for rules that look at it once (gates)."""

    __slots__ = ("config", "graphs", "model", "profile")

    def __init__(self, model: Model, graphs: Sequence[Graph], profile: Profile, config: Config) -> None:
        self.model = model
        self.graphs = graphs
        self.profile = profile
        self.config = config


def row_elements(shape: Sequence[int]) -> int:
    if not shape:
        return 1
    if len(shape) == 1:
        return max(shape[0], 1)
    return max(shape[-1], 1) * max(shape[-2], 1)


def elements(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= max(d, 1)
    return n


def normalize_axes(axes: Sequence[int], rank: int) -> list[int]:
    return sorted({a + rank if a < 0 else a for a in axes if -rank <= a < rank})


def integer_values(values: Values) -> list[int] | None:
    """The constant's values as ints; None when one is not a finite number (a float axis of inf or NaN)."""
    if not all(abs(v) < float("inf") for v in values):  # NaN compares False too
        return None
    return [int(v) for v in values]


def reduced_axes(ctx: Context, op: Operator) -> list[int] | None:
    """Axes a MEAN/SUM/REDUCE_* op reduces: from its constant axis tensor, else inferred from the shapes."""
    ts = ctx.tensors
    x = ts[op.inputs[0]]
    rank = len(x.shape)
    if len(op.inputs) > 1 and op.inputs[1] >= 0:
        values = ctx.constant(op.inputs[1])
        axes = integer_values(values) if values is not None else None
        if axes is not None:
            return normalize_axes(axes, rank)
    out = ts[op.outputs[0]].shape
    if len(out) == rank:  # keep_dims: reduced where the size became 1
        return [i for i in range(rank) if out[i] == 1 and x.shape[i] != 1]
    axes, j = [], 0  # dims dropped: match the output dims to the input dims in order
    for i, d in enumerate(x.shape):
        if j < len(out) and out[j] == d:
            j += 1
        else:
            axes.append(i)
    return axes if j == len(out) else None
