"""The columnar decoder: every field of all tensors, operators and buffers gathered in vectorised (numpy) passes.

Each table type is decoded column by column: the table positions, their vtables (validated once per distinct
vtable, by the same `Reader.plan` as the object decoder), then one gather per field over all tables, every
offset, vector length and index checked as arrays. Shapes and op inputs/outputs come out as flat int32 arrays
with offsets (`SubgraphColumns`, kept on the Subgraph for the analysis core), names as one gathered blob
decoded in one call. The Tensor and Operator views are then built from these columns.

A check that fails raises `Fallback`: the caller then runs the object decoder, whose first failing check
names the problem, so a hostile file gets the same one-line ModelError from both decoders.
"""

from __future__ import annotations

from itertools import repeat
from typing import Any, Mapping

import numpy as np

from tpulint import _schema
from tpulint.column_tuples import cut, distinct
from tpulint.errors import ModelError
from tpulint.flatbuf import Reader
from tpulint.model_types import MAX_RANK, Operator, Quantization, Subgraph, SubgraphColumns, Tensor
from tpulint.object_decoder import _VECTORS, ObjectDecoder, _new_operator, _new_quantization, _new_tensor, _vector
from tpulint.flatbuf import Layout
from tpulint.tflite_layouts import BUFFER, OPERATOR, OPTIONS, QUANT, SUBGRAPH, TENSOR, options_of

_I64 = np.int64
_NO_OPTIONS: Mapping[str, object] = {}
_TENSOR_TYPES = _schema.TENSOR_TYPES


class Fallback(Exception):
    """A vectorised check failed: the object decoder must decode the file to name the problem."""


_CHUNK = 1 << 14  # tables per chunk where Python objects are made from columns (bounds the temporary lists)


_TABLE_CHUNK = 1 << 15  # tables decoded per vectorised pass (bounds the temporary arrays: ~25 int64 per table)


def _chunks(n: int, size: int = _CHUNK) -> list[slice]:
    """Consecutive slices of at most `size` covering range(n); one empty slice when n is 0."""
    return [slice(lo, min(lo + size, n)) for lo in range(0, n, size)] or [slice(0, 0)]


def _joined(parts: list[dict[str, Any]], vectors: tuple[str, ...]) -> dict[str, Any]:
    """The columns of consecutive chunks end to end; `vectors`: (values, offsets) pairs, offsets rebased."""
    if len(parts) == 1:
        return parts[0]
    out: dict[str, Any] = {}
    for key in parts[0]:
        if key in vectors[1::2]:
            base, pieces = 0, []
            for p in parts:
                pieces.append(p[key][:-1] + base)
                base += int(p[key][-1])
            pieces.append(np.array([base], _I64))
            out[key] = np.concatenate(pieces)
        else:
            out[key] = np.concatenate([p[key] for p in parts])
    return out


class _Shared(dict):  # type: ignore[type-arg]
    """A cache whose misses build the value from the key: `map(cache.__getitem__, keys)` runs at C speed on hits."""

    __slots__ = ("make",)

    def __init__(self, make: Any) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, key: Any) -> Any:
        value = self[key] = self.make(key)
        return value


def _int32s(raw: bytes) -> tuple[int, ...]:
    """The little-endian int32 values of `raw`."""
    n = len(raw) >> 2
    return (_INT32S.get(n) or _vector("i", n))(raw)  # type: ignore[no-any-return]


_INT32S = _VECTORS["i"]


def _quantization_of(key: tuple[bytes, bytes, int]) -> Quantization | None:
    raw_scales, raw_zero_points, axis = key
    if not raw_scales:
        return None
    return _new_quantization(raw_scales, raw_zero_points, axis)  # type: ignore[no-any-return]


class ColumnarDecoder(ObjectDecoder):
    """The object decoder's walk of the Model table, with the tensor, operator and buffer vectors decoded as columns.

    `min_tables`: subgraphs (and buffer vectors) with fewer tables than this are decoded as objects, where the
    fixed cost of a vectorised pass (about a hundred numpy calls) exceeds the per-table saving.
    """

    def __init__(self, reader: Reader, path: str, size: int, source: bytes | None = None, min_tables: int = 0) -> None:
        super().__init__(reader, path, size, source)
        self.min_tables = min_tables
        data = reader.data
        self.u8 = np.frombuffer(data, np.uint8)
        # Aligned 32-bit words of the buffer (FlatBuffers aligns every scalar to its size in a valid file).
        self.w32 = np.frombuffer(data, "<u4", count=len(data) // 4)

    def release(self) -> None:
        """Drop the views of the buffer (a mapping cannot be closed while a numpy view of it exists)."""
        self.u8 = self.w32 = None  # type: ignore[assignment]

    # --- gathers ----------------------------------------------------------------------------------

    def _u32(self, pos: np.ndarray) -> np.ndarray:
        """The little-endian uint32 at each position (as int64); callers checked 0 <= pos <= size - 4."""
        if not pos.size:
            return pos.astype(_I64)
        if not (pos & 3).any():
            return self.w32[pos >> 2].astype(_I64)
        b = self.u8
        return (b[pos].astype(_I64) | (b[pos + 1].astype(_I64) << 8) | (b[pos + 2].astype(_I64) << 16)
                | (b[pos + 3].astype(_I64) << 24))

    def _i32(self, pos: np.ndarray) -> np.ndarray:
        v = self._u32(pos)
        return v - ((v >> 31) << 32)

    def _positions(self, pos: int) -> np.ndarray:
        """The table positions of the vector of tables at `pos`, checked like Reader.table_positions."""
        size = self.size
        if pos < 0 or pos > size - 4:
            raise Fallback
        count = int(self._u32(np.array([pos], _I64))[0])
        start = pos + 4
        if count > (size - start) >> 2:
            raise Fallback
        slots = start + 4 * np.arange(count, dtype=_I64)
        out = slots + self._u32(slots)
        if count and int(out.max()) > size - 4:
            raise Fallback
        return out

    def _tables(self, pos: np.ndarray, layout: Layout) -> tuple[np.ndarray, list[Any]]:
        """(field offsets (n, fields), plans per table) of the tables at `pos`, each vtable validated once."""
        r = self.r
        if not pos.size:
            return np.zeros((0, len(layout.slots)), _I64), []
        vt = pos - self._i32(pos)
        if int(vt.min()) < 0 or int(vt.max()) > self.size - 4:
            raise Fallback
        if bool((vt == vt[0]).all()):  # the usual case: one vtable for every table (no sort needed)
            vts, inverse = vt[:1], np.zeros(len(vt), _I64)
        else:
            vts, inverse = np.unique(vt, return_inverse=True)
        plans = r.plans(layout)
        unique = [plans.get(v) or r.plan(v, layout) for v in vts.tolist()]
        table_size = np.array([p[1] for p in unique], _I64)[inverse]
        if int((pos + table_size).max()) > self.size:
            raise Fallback
        offsets = np.array([p[2] for p in unique], _I64).reshape(len(unique), len(layout.slots))[inverse]
        return offsets, [unique, inverse]

    def _field_u32(self, pos: np.ndarray, fo: np.ndarray) -> np.ndarray:
        """A 4-byte field (offset or uint32) of each table, 0 where absent."""
        return np.where(fo > 0, self._u32(pos + fo), 0)

    def _field_u8(self, pos: np.ndarray, fo: np.ndarray, default: int = 0) -> np.ndarray:
        return np.where(fo > 0, self.u8[pos + fo].astype(_I64), default)

    def _vectors(self, at: np.ndarray, present: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(element counts, first element positions) of the vectors whose count word is at `at` (where
        `present`), checked inside the buffer like the object decoder: count <= (size - 4 - at) // width."""
        last = self.size - 4
        at = np.where(present, at, 0)
        if int(at.max(initial=0)) > last:
            raise Fallback
        count = np.where(present, self._u32(at), 0)
        if present.any() and bool((count > (last - at) // width).any()):
            raise Fallback
        return count, at + 4

    def _flat(self, start: np.ndarray, count: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(byte positions of every element, offsets: element k of vector i is at offsets[i] + k)."""
        offsets = np.zeros(len(count) + 1, _I64)
        np.cumsum(count, out=offsets[1:])
        total = int(offsets[-1])
        if not total:
            return np.zeros(0, _I64), offsets
        owner = np.repeat(np.arange(len(count), dtype=_I64), count)
        element = np.arange(total, dtype=_I64) - offsets[:-1][owner]
        return start[owner] + width * element, offsets

    def _int32_vectors(self, start: np.ndarray, count: np.ndarray,
                       make: Any) -> tuple[list[Any], np.ndarray, np.ndarray]:
        """(`make(raw bytes)` of each int32 vector (none when `make` is None), all values end to end, offsets):
        sliced from the buffer a chunk at a time, so neither per-element index arrays nor a list of every slice exist at once (the
        vectors were checked to lie inside the buffer)."""
        data = self.r.data
        views: list[Any] = []
        parts = []
        for part in _chunks(len(count)):
            first = start[part]
            raw: list[bytes] = list(map(data.__getitem__, map(slice, first.tolist(), (first + 4 * count[part]).tolist())))  # type: ignore[arg-type]
            if make is not None:
                views += map(make, raw)
            parts.append(b"".join(raw))
        offsets = np.zeros(len(count) + 1, _I64)
        np.cumsum(count, out=offsets[1:])
        return views, np.frombuffer(b"".join(parts), "<i4").astype(np.int32), offsets

    def _gather_i32(self, positions: np.ndarray) -> np.ndarray:
        return self._i32(positions).astype(np.int32) if positions.size else np.zeros(0, np.int32)

    def _gather_bytes(self, positions: np.ndarray, width: int) -> bytes:
        """The raw bytes of `width`-byte elements at `positions`, concatenated."""
        if not positions.size:
            return b""
        return self.u8[(positions[:, None] + np.arange(width, dtype=_I64)).reshape(-1)].tobytes()

    # --- tables -----------------------------------------------------------------------------------

    def _buffers(self, positions: list[int]) -> list[int]:
        if self.r.fd is not None or len(positions) < max(self.min_tables, 1):
            return super()._buffers(positions)  # large files read Buffer tables with pread (they sit among weights)
        pos = np.array(positions, _I64)
        fo, _ = self._tables(pos, BUFFER)
        data_r = self._field_u32(pos, fo[:, 0])
        has_data = data_r > 0
        at = pos + fo[:, 0] + data_r
        n, first = self._vectors(at, has_data, 1)
        external = self._field_u64(pos, fo[:, 1])
        self.buffer_positions = np.where(has_data, first, 0).tolist()
        return np.where(has_data & (n > 0), n, external).tolist()  # type: ignore[no-any-return]

    def _field_u64(self, pos: np.ndarray, fo: np.ndarray) -> np.ndarray:
        present = fo > 0
        if not present.any():
            return np.zeros(len(pos), _I64)
        at = np.where(present, pos + fo, 0)
        low = self._u32(at)
        high = self._u32(at + 4)
        if bool((high[present] >= 1 << 31).any()):
            raise Fallback  # a size past 2^63: left to the object decoder's Python ints
        return np.where(present, low | (high << 32), 0)

    def _subgraph(self, index: int, pos: int, opcodes: list, buffers: list[int]) -> Subgraph:
        r = self.r
        (tensors_r, inputs_r, outputs_r, operators_r, name_r), fo = r.decode(pos, SUBGRAPH)
        tensor_positions = self._positions(pos + fo[0] + tensors_r) if tensors_r else np.zeros(0, _I64)
        operator_positions = self._positions(pos + fo[3] + operators_r) if operators_r else np.zeros(0, _I64)
        if len(tensor_positions) + len(operator_positions) < self.min_tables:
            return super()._subgraph(index, pos, opcodes, buffers)
        # One int object per tensor index, shared by the Tensor and every op input and output naming it (as in
        # the object decoder): ids[i] is i, ids[-1] is -1 (an omitted optional input).
        ids = list(range(len(tensor_positions)))
        ids.append(-1)
        tensors, tensor_columns = self._tensor_columns(tensor_positions, buffers, ids)
        n = len(tensors)
        where = f"subgraph {index}"
        inputs = self._indices(r.vector(pos + fo[1] + inputs_r, "i") if inputs_r else (), n, f"{where} input")
        outputs = self._indices(r.vector(pos + fo[2] + outputs_r, "i") if outputs_r else (), n, f"{where} output")
        id_objects = np.empty(len(ids), dtype=object)
        id_objects[:] = ids
        operators, operator_columns = self._operator_columns(operator_positions, opcodes, n, where, id_objects)
        name = r.text(pos + fo[4] + name_r) if name_r else ""
        columns = SubgraphColumns(**tensor_columns, **operator_columns)
        return Subgraph(index, name, tensors, operators, inputs, outputs, columns)

    def _tensor_columns(self, pos: np.ndarray, buffers: list[int],
                        ids: list[int]) -> tuple[tuple[Tensor, ...], dict[str, Any]]:
        """The tensors, decoded a chunk of tables at a time (the temporary arrays stay a few MiB), and their
        columns end to end."""
        shapes, quantizations = _Shared(_int32s), _Shared(_quantization_of)
        constant = np.array(buffers, np.uint64) > 0 if buffers else np.zeros(1, bool)
        tensors: list[Tensor] = []
        parts = []
        for part in _chunks(len(pos), _TABLE_CHUNK):
            views, columns = self._tensor_chunk(pos[part], ids[part], buffers, constant, shapes, quantizations)
            tensors += views
            parts.append(columns)
        return tuple(tensors), _joined(parts, ("shapes", "shape_offsets"))

    def _tensor_chunk(self, pos: np.ndarray, indices: list[int], buffers: list[int], constant: np.ndarray,
                      shared_shapes: Any, shared_quantizations: Any) -> tuple[list[Tensor], dict[str, Any]]:
        r = self.r
        n_tensors = len(pos)
        fo, _ = self._tables(pos, TENSOR)
        shape_r = self._field_u32(pos, fo[:, 0])
        dtype = self._field_u8(pos, fo[:, 1])
        dtype = dtype - ((dtype >> 7) << 8)  # a signed byte
        buffer = self._field_u32(pos, fo[:, 2])
        name_r = self._field_u32(pos, fo[:, 3])
        quant_r = self._field_u32(pos, fo[:, 4])
        is_variable = self._field_u8(pos, fo[:, 5]) != 0
        signature_r = self._field_u32(pos, fo[:, 6])
        n_buffers = len(buffers)
        if n_tensors and (int(buffer.max()) >= n_buffers) and (n_buffers or int(buffer.max()) > 0):
            raise Fallback
        decoded = 0
        has_shape = shape_r > 0
        rank, shape_start = self._vectors(pos + fo[:, 0] + shape_r, has_shape, 4)
        if n_tensors and int(rank.max()) > MAX_RANK:
            raise Fallback
        has_name = name_r > 0
        name_length, name_start = self._vectors(pos + fo[:, 3] + name_r, has_name, 1)
        has_signature = signature_r > 0
        signature_rank, signature_start = self._vectors(pos + fo[:, 6] + signature_r, has_signature, 4)
        if n_tensors and int(signature_rank.max()) > MAX_RANK:
            raise Fallback
        decoded += int(rank.sum()) + int(name_length.sum()) + int(signature_rank.sum())
        shape_tuples, shapes, shape_offsets = self._int32_vectors(shape_start, rank, shared_shapes.__getitem__)
        signature_at, signature_offsets = self._flat(signature_start, signature_rank, 4)
        signatures = self._gather_i32(signature_at).tolist()
        quantizations, quant_decoded = self._quantizations(pos, fo[:, 4], quant_r, shared_quantizations)
        decoded += quant_decoded
        r.budget -= decoded
        if r.budget < 0:
            raise Fallback
        names = self._names(name_start, name_length)

        # The views, built by C-level maps over the columns (equal shapes shared, like the object decoder).
        # Keyed by the vector's raw bytes, streamed: equal shapes share one tuple, and no list of all keys exists.
        signature_list: list[Any] = [None] * n_tensors
        if signatures or bool(has_signature.any()):
            signature_bounds = signature_offsets.tolist()
            for index in np.flatnonzero(has_signature).tolist():
                signature_list[index] = tuple(signatures[signature_bounds[index]:signature_bounds[index + 1]])
        codes = dtype.tolist()
        type_names = {c: _TENSOR_TYPES.get(c) or f"type{c}" for c in set(codes)}
        buffer_list = buffer.tolist()
        data_sizes = list(map(buffers.__getitem__, buffer_list)) if n_buffers else [0] * n_tensors
        out = list(map(_new_tensor, indices, names,
                       map(type_names.__getitem__, codes), shape_tuples, signature_list, quantizations, buffer_list,
                       data_sizes, is_variable.tolist()))
        columns = {"shapes": shapes, "shape_offsets": shape_offsets, "dtype_code": dtype.astype(np.int16),
                   "is_constant": constant[buffer] if n_buffers else np.zeros(n_tensors, bool),
                   "is_variable": is_variable, "has_signature": has_signature}
        return out, columns

    def _names(self, start: np.ndarray, length: np.ndarray) -> list[str]:
        """Every name, each decoded from its slice of the buffer (C-level maps; no per-byte index arrays)."""
        data = self.r.data
        names: list[str] = []
        for part in _chunks(len(start)):
            first = start[part]
            slices = map(data.__getitem__, map(slice, first.tolist(), (first + length[part]).tolist()))
            names += map(str, slices, repeat("utf-8"), repeat("backslashreplace"))  # type: ignore[arg-type]
        return names

    def _quantizations(self, pos: np.ndarray, fo: np.ndarray, quant_r: np.ndarray,
                       shared: Any) -> tuple[list[Any], int]:
        """Per tensor: its Quantization (equal parameters shared, as the object decoder does) or None."""
        n = len(pos)
        present = quant_r > 0
        if not present.any():
            return [None] * n, 0
        size = self.size
        last = size - 4
        q = np.where(present, pos + fo + quant_r, 0)
        if int(q.max()) > last:
            raise Fallback
        qi = np.flatnonzero(present)
        qpos = q[qi]
        qfo, _ = self._tables(qpos, QUANT)
        scales_r = self._field_u32(qpos, qfo[:, 0])
        zero_points_r = self._field_u32(qpos, qfo[:, 1])
        axis = np.where(qfo[:, 2] > 0, self._i32(np.where(qfo[:, 2] > 0, qpos + qfo[:, 2], 0)), 0)
        has_scales = scales_r > 0
        n_scales, scales_start = self._vectors(qpos + qfo[:, 0] + scales_r, has_scales, 4)
        # Zero points are read only when there are scales (the object decoder's order of checks).
        has_zero_points = (n_scales > 0) & (zero_points_r > 0)
        n_zero_points, zero_points_start = self._vectors(qpos + qfo[:, 1] + zero_points_r, has_zero_points, 8)
        decoded = int(n_scales.sum()) + int(n_zero_points.sum())
        # Keyed by the raw bytes (slices of the buffer), as in the object decoder: equal parameters share one
        # Quantization.
        data = self.r.data
        zero_point_start = np.where(has_zero_points, zero_points_start, 0)
        quantizations: list[Any] = []
        for part in _chunks(len(qi)):
            s0, z0 = scales_start[part], zero_point_start[part]
            keys = zip(map(data.__getitem__, map(slice, s0.tolist(), (s0 + 4 * n_scales[part]).tolist())),
                       map(data.__getitem__, map(slice, z0.tolist(), (z0 + 8 * n_zero_points[part]).tolist())),
                       axis[part].tolist())
            quantizations += map(shared.__getitem__, keys)
        if len(qi) == n:
            return quantizations, decoded
        out: list[Any] = [None] * n
        for tensor, quantization in zip(qi.tolist(), quantizations):
            out[tensor] = quantization
        return out, decoded

    def _operator_columns(self, pos: np.ndarray, opcodes: list, n_tensors: int, where: str,
                          ids: np.ndarray) -> tuple[tuple[Operator, ...], dict[str, np.ndarray]]:
        """The operators, a chunk of tables at a time, and their columns end to end."""
        shared_options: dict[Any, Any] = {}
        operators: list[Operator] = []
        parts = []
        for part in _chunks(len(pos), _TABLE_CHUNK):
            views, columns = self._operator_chunk(pos[part], part.start, opcodes, n_tensors, where, shared_options,
                                                  ids)
            operators += views
            parts.append(columns)
        return tuple(operators), _joined(parts, ("inputs", "input_offsets", "outputs", "output_offsets"))

    def _operator_chunk(self, pos: np.ndarray, first_index: int, opcodes: list, n_tensors: int, where: str,
                        shared_options: dict[Any, Any], ids: np.ndarray) -> tuple[list[Operator], dict[str, np.ndarray]]:
        r = self.r
        n_ops = len(pos)
        fo, plans = self._tables(pos, OPERATOR)
        code_index = self._field_u32(pos, fo[:, 0])
        inputs_r = self._field_u32(pos, fo[:, 1])
        outputs_r = self._field_u32(pos, fo[:, 2])
        options_type = self._field_u8(pos, fo[:, 3])
        options_r = self._field_u32(pos, fo[:, 4])
        custom_r = self._field_u32(pos, fo[:, 5])
        intermediates_r = self._field_u32(pos, fo[:, 6])
        if n_ops and int(code_index.max()) >= len(opcodes):
            raise Fallback
        n_inputs, inputs_start = self._vectors(pos + fo[:, 1] + inputs_r, inputs_r > 0, 4)
        n_outputs, outputs_start = self._vectors(pos + fo[:, 2] + outputs_r, outputs_r > 0, 4)
        r.budget -= int(n_inputs.sum()) + int(n_outputs.sum())
        if r.budget < 0:
            raise Fallback
        _, inputs, input_offsets = self._int32_vectors(inputs_start, n_inputs, None)
        _, outputs, output_offsets = self._int32_vectors(outputs_start, n_outputs, None)
        if inputs.size and (int(inputs.max()) >= n_tensors or int(inputs.min()) < -1):
            raise Fallback
        if outputs.size and (int(outputs.max()) >= n_tensors or int(outputs.min()) < 0):
            raise Fallback
        options = self._operator_options(pos, fo[:, 4], options_type, options_r, shared_options)
        # The indices were checked: each names a tensor, or is -1 (ids[-1]) for an omitted input; the tuples hold
        # the tensors' own int objects, gathered and cut at C level.
        in_tuples = cut(ids[inputs], input_offsets)
        out_tuples = cut(ids[outputs], output_offsets)

        names = [c[0] for c in opcodes]
        op_names = [names[c] for c in code_index.tolist()]
        rare = np.flatnonzero((intermediates_r > 0) | (custom_r > 0)).tolist()
        intermediates: dict[int, tuple[int, ...]] = {}
        spans: dict[int, tuple[int, int]] = {}
        positions = pos.tolist()
        fo_list = fo.tolist() if rare else []
        for i in rare:
            at = positions[i]
            if intermediates_r[i]:
                intermediates[i] = self._indices(r.vector(at + fo_list[i][6] + int(intermediates_r[i]), "i"),
                                                 n_tensors, f"{where} op {first_index + i} intermediate")
            if custom_r[i] and op_names[i] == "CUSTOM":
                start = at + fo_list[i][5] + int(custom_r[i])
                spans[i] = (start + 4, r.length(start, 1, cold=True))
        new_operator = _new_operator
        out = []
        for index, (code, ins, outs, opts) in enumerate(zip(code_index.tolist(), in_tuples, out_tuples, options)):
            name, custom, version = opcodes[code]
            out.append(new_operator(first_index + index, name, version, ins, outs, custom, opts,
                                    intermediates.get(index, ()), spans.get(index)))
        columns = {"opcode_index": code_index.astype(np.int32), "inputs": inputs, "input_offsets": input_offsets,
                   "outputs": outputs, "output_offsets": output_offsets}
        return out, columns

    def _operator_options(self, pos: np.ndarray, fo: np.ndarray, options_type: np.ndarray,
                          options_r: np.ndarray, shared: dict[Any, Any]) -> list[Any]:
        """Per op: its options dict; tables without vector fields and equal bytes share one dict (as in the
        object decoder), decoded once per distinct table."""
        n = len(pos)
        out: list[Any] = [_NO_OPTIONS] * n
        wanted = (options_type > 0) & (options_r > 0)
        if not wanted.any():
            return out
        types = options_type[wanted]
        opt_pos = (pos + fo + options_r)[wanted]
        op_index = np.flatnonzero(wanted)
        if int(opt_pos.max()) > self.size - 4:
            raise Fallback
        for t in distinct(types).tolist():
            spec = OPTIONS.get(t) or options_of(t)
            if spec is None:
                continue
            sel = types == t
            at, ops = opt_pos[sel], op_index[sel]
            if spec.vectors:
                for a, i in zip(at.tolist(), ops.tolist()):
                    out[i] = self._options(a, spec, shared)
                continue
            _, (unique, inverse) = self._tables(at, spec.layout)
            for k, plan in enumerate(unique):
                group = np.flatnonzero(inverse == k)
                table_size = plan[1]
                gat, gops = at[group], ops[group]
                rows = self.u8[(gat[:, None] + np.arange(4, table_size, dtype=_I64)).reshape(-1)].reshape(
                    len(gat), table_size - 4)
                tables, first, which = np.unique(rows, axis=0, return_index=True, return_inverse=True)
                unpack, _, _, pick, defaults = plan
                data = self.r.data
                dicts = []
                for f, raw in zip(first.tolist(), tables):
                    key = (id(plan), raw.tobytes())
                    options = shared.get(key)
                    if options is None:
                        options = shared[key] = dict(zip(spec.names, pick(unpack(data, int(gat[f])) + defaults)))
                    dicts.append(options)
                for i, w in zip(gops.tolist(), which.reshape(-1).tolist()):
                    out[i] = dicts[w]
        return out


def decode_columnar(reader: Reader, path: str, size: int, source: bytes | None, min_tables: int) -> Any:
    """The Model decoded by the columnar decoder; raises Fallback or ModelError when a check fails."""
    decoder = ColumnarDecoder(reader, path, size, source, min_tables)
    try:
        return decoder.parse()
    finally:
        decoder.release()


__all__ = ["ColumnarDecoder", "Fallback", "decode_columnar", "ModelError"]
