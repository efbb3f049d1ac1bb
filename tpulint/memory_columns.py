"""The memory estimate's layer sizes and largest activation as array math over a subgraph's columns.

Computes what tpulint.memory's per-op functions compute, for the ops whose size is a closed formula of their
shapes (convolutions and fully-connected layers with constant weights, requantizing ops without constant
operands); every other op that can hold parameters goes through those functions. Sizes whose product could
overflow 64 bits are left to them too, so the results are the same integers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np

from tpulint.memory import (
    _CONV,
    _ITEMSIZE,
    _REQUANTIZING,
    _WEIGHTED,
    ALIGN,
    CONV_CHANNEL_BYTES,
    FC_CHANNEL_BYTES,
    LANES,
    OTHER_CHANNEL_BYTES,
    LayerParams,
)
from tpulint.model_types import opcode_names

if TYPE_CHECKING:
    from tpulint.model import Subgraph, SubgraphColumns

_SAFE = float(2 ** 62)  # a size computed in float64 below this is exact in int64 (with margin for rounding)
# Ops that may hold parameters but whose size is not a formula of shapes alone (see tpulint.memory).
_BY_FUNCTION = frozenset({"RESHAPE", "PAD", "UNIDIRECTIONAL_SEQUENCE_LSTM"})


# LayerParams(*fields) without the NamedTuple's Python-level __new__: one C call per layer (a chain of 30,000
# layers: 4 ms instead of 15).
_new_layer = partial(tuple.__new__, LayerParams)


def _round_up(x: np.ndarray, multiple: int) -> np.ndarray:
    return -(-x // multiple) * multiple


def layers(sg: Subgraph, columns: SubgraphColumns, ops: Sequence[int],
           op_layers: Callable[[int], list[LayerParams]]) -> list[LayerParams]:
    """The parameter blocks of the (sorted) on-chip `ops`, in order; `op_layers(i)` gives op i's blocks the
    per-op way, for the ops the formulas here do not cover."""
    if not ops:
        return []
    at = np.array(ops, np.int64)
    codes = columns.opcode_index[at].astype(np.int64)
    name = opcode_names(sg, columns)
    kind = np.array([_kind(n) for n in name], np.int8)[codes]
    weighted, requantizing = kind == 1, kind == 2
    by_function = kind == 3

    size = np.zeros(len(at), np.int64)
    row = np.zeros(len(at), np.int64)
    done = np.zeros(len(at), bool)

    w = columns.operand(at[weighted], 1)
    w_safe = np.maximum(w, 0)
    rank = columns.shape_offsets[w_safe + 1] - columns.shape_offsets[w_safe]
    formula = (w >= 0) & columns.is_constant[w_safe] & (rank >= 2)
    by_function[np.flatnonzero(weighted)[~formula]] = True  # activation weights, a missing or 1-d weights tensor
    chosen = np.flatnonzero(weighted)[formula]
    if len(chosen):
        depthwise = np.array([n == "DEPTHWISE_CONV_2D" for n in name])[codes[chosen]]
        conv = np.array([n in _CONV for n in name])[codes[chosen]]
        s, r, ok = _weighted_sizes(columns, w[formula], depthwise, conv)
        size[chosen[ok]], row[chosen[ok]], done[chosen[ok]] = s[ok], r[ok], True
        by_function[chosen[~ok]] = True

    if requantizing.any():
        chosen = np.flatnonzero(requantizing)
        out = columns.first_output(at[chosen])
        plain = (out >= 0) & ~_reads_a_constant(columns, at[chosen])
        by_function[chosen[~plain]] = True  # a constant operand (streamed with the instructions), or no output
        chosen, out = chosen[plain], out[plain]
        channels = columns.dim(out, 1, 1)
        size[chosen] = _round_up(_round_up(np.maximum(channels, 1), LANES) * OTHER_CHANNEL_BYTES, ALIGN)
        done[chosen] = True

    index = sg.index
    from_formula = np.flatnonzero(done)
    simple = list(map(_new_layer, zip(repeat(index), at[from_formula].tolist(),
                                      [name[c] for c in codes[from_formula].tolist()], size[from_formula].tolist(),
                                      row[from_formula].tolist(), repeat(False), repeat(False))))
    others = np.flatnonzero(by_function & ~done).tolist()
    if not others:
        return simple
    result: list[LayerParams] = []
    k = 0
    for j in others:
        op = ops[j]
        while k < len(simple) and simple[k].op < op:
            result.append(simple[k])
            k += 1
        result += op_layers(op)
    result += simple[k:]
    return result


def _kind(opcode: str) -> int:
    """1: weighted; 2: requantizing, sized from its output; 3: sized by tpulint.memory's functions; 0: none."""
    if opcode in _WEIGHTED:
        return 1
    if opcode in _BY_FUNCTION:
        return 3
    return 2 if opcode in _REQUANTIZING else 0


def _spans(offsets: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions, counts): the positions of vectors `at` of a flat column with `offsets`, end to end."""
    starts = offsets[at]
    counts = offsets[at + 1] - starts
    return np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum())), counts


def _reads_a_constant(columns: SubgraphColumns, at: np.ndarray) -> np.ndarray:
    """Per op of `at`: whether any of its inputs is a constant tensor."""
    positions, counts = _spans(columns.input_offsets, at)
    tensors = columns.inputs[positions].astype(np.int64)
    constant = (tensors >= 0) & columns.is_constant[np.maximum(tensors, 0)]
    owner = np.repeat(np.arange(len(at)), counts)
    return np.bincount(owner[constant], minlength=len(at)) > 0


def _weighted_sizes(columns: SubgraphColumns, w: np.ndarray, depthwise: np.ndarray,
                    conv: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(size, row bytes, exact) of convolutions and fully-connected layers from their constant weights' shapes,
    as tpulint.memory.layer_params computes them; `exact` False where int64 might overflow."""
    offsets, shapes = columns.shape_offsets, columns.shapes.astype(np.int64)
    start, end = offsets[w], offsets[w + 1]
    rank = end - start
    first, last = shapes[start], shapes[end - 1]
    kernel = np.ones(len(w), np.int64)
    kernel_f = np.ones(len(w))
    for j in range(1, int(rank.max()) - 1):  # the inner dimensions, each counted as at least 1
        inner = rank - 1 > j
        d = np.where(inner, np.maximum(shapes[np.where(inner, start + j, start)], 1), 1)
        kernel *= d
        kernel_f *= d
    channels = np.where(depthwise, last, first)
    depth = np.where(depthwise, 1, _round_up(last, LANES))
    row = kernel * depth
    per_channel = np.where(conv, CONV_CHANNEL_BYTES, FC_CHANNEL_BYTES)
    lanes = _round_up(channels, LANES)
    estimate = np.abs(lanes.astype(float)) * (kernel_f * np.abs(depth.astype(float)) + per_channel)
    exact = estimate < _SAFE
    row = np.where(exact, row, 0)
    size = np.where(exact, _round_up(lanes * (row + per_channel), ALIGN), 0)
    return size, row, exact


def largest_activation(sg: Subgraph, columns: SubgraphColumns, ops: Sequence[int]) -> tuple[str, int] | None:
    """The largest non-constant tensor the given ops read or write, as tpulint.memory.largest_activation."""
    if not len(ops):
        return None
    at = np.array(sorted(ops), np.int64)
    touched = np.zeros(len(sg.tensors) + 1, bool)  # the last slot takes -1, an omitted input
    for values, offsets in ((columns.inputs, columns.input_offsets), (columns.outputs, columns.output_offsets)):
        touched[values[_spans(offsets, at)[0]]] = True
    tensors = np.flatnonzero(touched[:-1] & ~columns.is_constant)
    if not len(tensors):
        return None
    positions, rank = _spans(columns.shape_offsets, tensors)
    dims = np.maximum(columns.shapes[positions].astype(np.int64), 1)
    item = columns.by_dtype(lambda name: _ITEMSIZE.get(name, 1), tensors, np.int64)
    shaped = rank > 0
    log_size = np.zeros(len(tensors))
    elements = np.ones(len(tensors), np.int64)
    if len(dims):
        segments = (np.cumsum(rank) - rank)[shaped]
        log_size[shaped] = np.add.reduceat(np.log2(dims.astype(float)), segments)
        if float((log_size + np.log2(item)).max()) >= 62:  # a hostile shape: past int64, measured in Python
            from tpulint.memory import largest_activation as by_objects

            return by_objects(sg, ops)
        elements[shaped] = np.multiply.reduceat(dims, segments)
    size = elements * item
    best = int(np.argmax(size))  # the first of equal sizes, as the per-tensor loop in index order keeps
    return sg.tensors[int(tensors[best])].name, int(size[best])
