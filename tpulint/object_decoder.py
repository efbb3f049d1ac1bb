"""The object decoder: one `struct` call per FlatBuffer table, building every Tensor and Operator as it goes."""

from __future__ import annotations

import struct
from typing import Any, Callable, Mapping

from tpulint import _schema
from tpulint.errors import ModelError
from tpulint.flatbuf import _I32, _U32, Reader
from tpulint.model_types import (MAX_RANK, Model, Operator, Quantization, Signature, Subgraph, Tensor,
                                  fast_constructor)
from tpulint.tflite_layouts import (BUFFER, METADATA, MODEL, OPCODE, OPERATOR, OPTIONS, QUANT, SIGNATURE,
                                    SUBGRAPH, TENSOR, TENSOR_MAP, Options, options_of)

_TENSOR_TYPES = _schema.TENSOR_TYPES
_VECTORS: dict[str, dict[int, Callable]] = {"i": {}}


def _vector(fmt: str, n: int) -> Callable:
    """The unpacker of a vector of `n` scalars (cached for short vectors: shapes, op inputs and outputs)."""
    unpack = struct.Struct(f"<{n}{fmt}").unpack_from
    if n <= 16:
        _VECTORS.setdefault(fmt, {})[n] = unpack
    return unpack


_new_tensor = fast_constructor(Tensor)
_new_quantization = fast_constructor(Quantization)
_new_operator = fast_constructor(Operator)
_NO_OPTIONS: Mapping[str, object] = {}


class ObjectDecoder:
    """One pass over the Model table: each table is decoded once, with one struct call, and vectors in bulk.

    Every position comes from Reader methods that check it (tables, vectors, strings) or is compared with
    the buffer size before use; every tensor, buffer, operator-code and subgraph index is range-checked.
    """

    def __init__(self, reader: Reader, path: str, size: int, source: bytes | None = None) -> None:
        self.r = reader
        self.path = path
        self.size = size
        self.source = source
        self.buffer_positions: list[int] = []

    def parse(self) -> Model:
        r = self.r
        root = r.u32(0)
        (version, opcodes_r, subgraphs_r, description_r, buffers_r, metadata_r, signatures_r), fo = r.decode(
            root, MODEL)
        buffers = self._buffers(r.table_positions(root + fo[4] + buffers_r) if buffers_r else [])
        opcodes = [self._opcode(p) for p in (r.table_positions(root + fo[1] + opcodes_r) if opcodes_r else [])]
        subgraph_positions = r.table_positions(root + fo[2] + subgraphs_r) if subgraphs_r else []
        if not subgraph_positions:
            raise ModelError("corrupt model: no subgraphs")
        subgraphs = tuple(self._subgraph(i, p, opcodes, buffers) for i, p in enumerate(subgraph_positions))
        metadata, min_runtime = self._metadata(r.table_positions(root + fo[5] + metadata_r) if metadata_r else [])
        signatures = tuple(self._signature(p, subgraphs)
                           for p in (r.table_positions(root + fo[6] + signatures_r) if signatures_r else []))
        return Model(
            path=self.path,
            file_size=self.size,
            schema_version=version,
            description=r.text(root + fo[3] + description_r) if description_r else "",
            subgraphs=subgraphs,
            num_buffers=len(buffers),
            metadata=metadata,
            signatures=signatures,
            min_runtime_version=min_runtime,
            buffer_offsets=tuple(self.buffer_positions),
            source=self.source,
        )

    def _buffers(self, positions: list[int]) -> list[int]:
        """Byte length of every buffer; the data itself is never read.

        A large file's Buffer tables sit next to the weights: they are read unmapped, each decoded from the
        Reader's cold window that holds it (a small file is one window: the whole buffer).
        """
        r = self.r
        size = r.size
        cold = r.fd is not None
        plans = r.plans(BUFFER)
        sizes = []
        data_positions = []
        last = size - 4
        window_at, window = (0, b"") if cold else (0, r.data)
        for pos in positions:
            offset = pos - window_at
            if cold and (offset < 0 or offset + 4 > len(window)):  # table_positions checked pos + 4 <= size
                window_at, window = r.cold_window(pos, 4)
                offset = pos - window_at
            vt = pos - _I32(window, offset)[0]
            unpack, table_size, fo, pick, defaults = plans.get(vt) or r.plan(vt, BUFFER)
            if pos + table_size > size:
                raise r.fail(f"Buffer table at {pos} runs past the end of the buffer")
            if cold and offset + table_size > len(window):
                window_at, window = r.cold_window(pos, table_size)
                offset = pos - window_at
            data_r, external = pick(unpack(window, offset) + defaults)
            if data_r:
                at = pos + fo[0] + data_r
                offset = at - window_at
                if at > last or offset < 0 or offset + 4 > len(window) or (n := _U32(window, offset)[0]) > last - at:
                    n = r.length(at, 1, cold=cold)  # another window; raises when the vector is out of bounds
                data_positions.append(at + 4)
                sizes.append(n if n else external)
            else:
                data_positions.append(0)
                sizes.append(external)  # data stored after the flatbuffer (models over 2 GiB)
        self.buffer_positions = data_positions
        return sizes

    def _opcode(self, pos: int) -> tuple[str, str | None, int]:
        r = self.r
        (deprecated, custom_r, version, builtin), fo = r.decode(pos, OPCODE)
        code = max(deprecated, builtin)
        name = _schema.BUILTIN_OPERATORS.get(code, f"UNKNOWN_{code}")
        custom = r.text(pos + fo[1] + custom_r) if name == "CUSTOM" and custom_r else None
        return name, custom, version

    def _subgraph(self, index: int, pos: int, opcodes: list, buffers: list[int]) -> Subgraph:
        r = self.r
        (tensors_r, inputs_r, outputs_r, operators_r, name_r), fo = r.decode(pos, SUBGRAPH)
        tensor_positions = r.table_positions(pos + fo[0] + tensors_r) if tensors_r else []
        # One int object per tensor index, shared by the Tensor and every op input and output naming it (a
        # 100,000-op model otherwise holds each index three times over: 12 MB).
        ids = list(range(len(tensor_positions)))
        ids.append(-1)  # ids[-1]: an omitted optional input stays -1
        tensors = self._tensors(tensor_positions, buffers, ids)
        n = len(tensors)
        where = f"subgraph {index}"
        inputs = self._indices(r.vector(pos + fo[1] + inputs_r, "i") if inputs_r else (), n, f"{where} input")
        outputs = self._indices(r.vector(pos + fo[2] + outputs_r, "i") if outputs_r else (), n, f"{where} output")
        operators = self._operators(r.table_positions(pos + fo[3] + operators_r) if operators_r else [],
                                    opcodes, n, where, ids)
        name = r.text(pos + fo[4] + name_r) if name_r else ""
        return Subgraph(index, name, tensors, operators, inputs, outputs)

    @staticmethod
    def _indices(values: tuple, limit: int, what: str, optional: bool = False) -> tuple[int, ...]:
        """`values` unchanged when every one is a tensor index below `limit` (or -1 for an omitted input)."""
        if values and (max(values) >= limit or min(values) < (-1 if optional else 0)):
            for v in values:
                if v >= limit or (v < 0 and not (optional and v == -1)):
                    raise ModelError(
                        f"corrupt model: {what} refers to tensor {v}, but there are only {limit} tensors")
        return values

    def _tensors(self, positions: list[int], buffers: list[int], ids: list[int]) -> tuple[Tensor, ...]:
        # The hottest loop of the reader. Vectors and strings are decoded inline with the same checks as
        # Reader.vector/Reader.text: the count word inside the buffer, the elements inside the buffer, and
        # the total decoded length within the budget (checked once at the end: it only bounds the work).
        r = self.r
        data, size = r.data, r.size
        plans, qplans = r.plans(TENSOR), r.plans(QUANT)
        n_buffers = len(buffers)
        types = _TENSOR_TYPES
        ints = _VECTORS["i"]
        new_tensor, new_quantization = _new_tensor, _new_quantization
        # Equal shapes and quantization parameters are shared (they are immutable): a real model repeats
        # them often, and a 30,000-op model then needs a third less memory.
        shapes: dict[Any, tuple[int, ...]] = {}  # keyed by the raw bytes of the vector
        quantizations: dict[tuple[Any, Any, int], Quantization] = {}
        decoded = 0
        out: list[Any] = []
        append = out.append
        last = size - 4
        for index, pos in zip(ids, positions):
            vt = pos - _I32(data, pos)[0]  # table_positions checked pos + 4 <= size
            unpack, table_size, fo, pick, defaults = plans.get(vt) or r.plan(vt, TENSOR)
            if pos + table_size > size:
                raise r.fail(f"Tensor table at {pos} runs past the end of the buffer")
            shape_r, dtype_code, buffer, name_r, quant_r, is_variable, signature_r = pick(unpack(data, pos) + defaults)
            if buffer >= n_buffers and (buffer or n_buffers):
                raise ModelError(f"corrupt model: tensor {index} refers to buffer {buffer}, "
                                 f"but there are only {n_buffers} buffers")
            shape: tuple[int, ...] | None = ()
            if shape_r:
                at = pos + fo[0] + shape_r
                if at > last or (n := _U32(data, at)[0]) > (last - at) >> 2:
                    raise r.fail(f"the shape of tensor {index} lies outside the buffer")
                if n > MAX_RANK:
                    raise r.fail(f"tensor {index} has {n} dimensions (TFLite tensors have at most {MAX_RANK})")
                decoded += n
                raw = data[at + 4:at + 4 + 4 * n]
                shape = shapes.get(raw)
                if shape is None:
                    shape = shapes[raw] = (ints.get(n) or _vector("i", n))(raw)
            name = ""
            if name_r:
                at = pos + fo[3] + name_r
                if at > last or (n := _U32(data, at)[0]) > last - at:
                    raise r.fail(f"the name of tensor {index} lies outside the buffer")
                decoded += n
                name = str(data[at + 4:at + 4 + n], "utf-8", "backslashreplace")
            quantization = None
            if quant_r:
                q = pos + fo[4] + quant_r
                if q > last:
                    raise r.fail(f"the quantization of tensor {index} lies outside the buffer")
                qvt = q - _I32(data, q)[0]
                qunpack, qsize, qfo, qpick, qdefaults = qplans.get(qvt) or r.plan(qvt, QUANT)
                if q + qsize > size:
                    raise r.fail(f"QuantizationParameters table at {q} runs past the end of the buffer")
                scales_r, zero_points_r, axis = qpick(qunpack(data, q) + qdefaults)
                if scales_r:
                    at = q + qfo[0] + scales_r
                    if at > last or (n := _U32(data, at)[0]) > (last - at) >> 2:
                        raise r.fail(f"the quantization scales of tensor {index} lie outside the buffer")
                    if n:
                        decoded += n
                        raw_scales = data[at + 4:at + 4 + 4 * n]
                        raw_zero_points: Any = b""
                        if zero_points_r:
                            at = q + qfo[1] + zero_points_r
                            if at > last or (m := _U32(data, at)[0]) > (last - at) >> 3:
                                raise r.fail(f"the zero points of tensor {index} lie outside the buffer")
                            decoded += m
                            raw_zero_points = data[at + 4:at + 4 + 8 * m]
                        key = (raw_scales, raw_zero_points, axis)
                        quantization = quantizations.get(key)
                        if quantization is None:
                            quantization = quantizations[key] = new_quantization(raw_scales, raw_zero_points, axis)
            signature = None
            if signature_r:
                at = pos + fo[6] + signature_r
                if at > last or (n := _U32(data, at)[0]) > (last - at) >> 2:
                    raise r.fail(f"the shape signature of tensor {index} lies outside the buffer")
                if n > MAX_RANK:
                    raise r.fail(f"tensor {index} has {n} dimensions (TFLite tensors have at most {MAX_RANK})")
                decoded += n
                signature = (ints.get(n) or _vector("i", n))(data, at + 4)
            append(new_tensor(index, name, types.get(dtype_code) or f"type{dtype_code}", shape, signature,
                              quantization, buffer, buffers[buffer] if n_buffers else 0, is_variable))
        r.budget -= decoded
        if r.budget < 0:
            raise r.fail("vectors overlap: decoding them would read more than the whole file")
        return tuple(out)

    def _operators(self, positions: list[int], opcodes: list, n_tensors: int, where: str,
                   ids: list[int]) -> tuple[Operator, ...]:
        """The operators; their input and output indices are the int objects of `ids` (ids[i] == i, ids[-1] == -1)."""
        r = self.r
        data, size = r.data, r.size
        plans = r.plans(OPERATOR)
        ints = _VECTORS["i"]
        new_operator = _new_operator
        n_opcodes = len(opcodes)
        decoded = 0
        last = size - 4
        shared_options: dict = {}
        tensor_id = ids.__getitem__
        out: list[Any] = []
        append = out.append
        for index, pos in enumerate(positions):
            vt = pos - _I32(data, pos)[0]  # table_positions checked pos + 4 <= size
            unpack, table_size, fo, pick, defaults = plans.get(vt) or r.plan(vt, OPERATOR)
            if pos + table_size > size:
                raise r.fail(f"Operator table at {pos} runs past the end of the buffer")
            code_index, inputs_r, outputs_r, options_type, options_r, custom_r, intermediates_r = pick(
                unpack(data, pos) + defaults)
            if code_index >= n_opcodes:
                raise ModelError(f"corrupt model: {where} op {index} uses operator code {code_index}, "
                                 f"but there are only {n_opcodes}")
            name, custom, version = opcodes[code_index]
            inputs: tuple[int, ...] = ()
            outputs: tuple[int, ...] = ()
            if inputs_r:
                at = pos + fo[1] + inputs_r
                if at > last or (n := _U32(data, at)[0]) > (last - at) >> 2:
                    raise r.fail(f"the inputs of {where} op {index} lie outside the buffer")
                decoded += n
                inputs = (ints.get(n) or _vector("i", n))(data, at + 4)
                if inputs and (max(inputs) >= n_tensors or min(inputs) < -1):
                    self._indices(inputs, n_tensors, f"{where} op {index} input", optional=True)
                inputs = tuple(map(tensor_id, inputs))
            if outputs_r:
                at = pos + fo[2] + outputs_r
                if at > last or (n := _U32(data, at)[0]) > (last - at) >> 2:
                    raise r.fail(f"the outputs of {where} op {index} lie outside the buffer")
                decoded += n
                outputs = (ints.get(n) or _vector("i", n))(data, at + 4)
                if outputs and (max(outputs) >= n_tensors or min(outputs) < 0):
                    self._indices(outputs, n_tensors, f"{where} op {index} output")
                outputs = tuple(map(tensor_id, outputs))
            intermediates: tuple[int, ...] = ()
            if intermediates_r:
                intermediates = self._indices(r.vector(pos + fo[6] + intermediates_r, "i"), n_tensors,
                                              f"{where} op {index} intermediate")
            options = _NO_OPTIONS
            if options_type and options_r:
                spec = OPTIONS.get(options_type) or options_of(options_type)
                if spec is not None:
                    options = self._options(pos + fo[4] + options_r, spec, shared_options)
            custom_span = None
            if custom_r and name == "CUSTOM":
                at = pos + fo[5] + custom_r
                custom_span = (at + 4, r.length(at, 1, cold=True))
            append(new_operator(index, name, version, inputs, outputs, custom, options, intermediates, custom_span))
        r.budget -= decoded
        if r.budget < 0:
            raise r.fail("vectors overlap: decoding them would read more than the whole file")
        return tuple(out)

    def _options(self, pos: int, spec: Options, shared: dict) -> dict[str, object]:
        """The options dict of the table at `pos`. Tables without vector fields that have the same vtable and
        the same bytes decode to one shared dict (`shared`): most convolutions of a model have equal options."""
        r = self.r
        data = r.data
        if pos > r.size - 4:
            raise r.fail(f"{spec.layout.name} table at {pos} outside the {r.size}-byte buffer")
        vt = pos - _I32(data, pos)[0]
        plan = r.plans(spec.layout).get(vt) or r.plan(vt, spec.layout)
        unpack, table_size, fo, pick, defaults = plan
        if pos + table_size > r.size:
            raise r.fail(f"{spec.layout.name} table at {pos} runs past the end of the buffer")
        if not spec.vectors:
            key = (id(plan), data[pos + 4:pos + table_size])  # plans live as long as the parse
            options = shared.get(key)
            if options is None:
                options = shared[key] = dict(zip(spec.names, pick(unpack(data, pos) + defaults)))
            return options  # type: ignore[no-any-return]
        values = list(pick(unpack(data, pos) + defaults))
        for i, fmt in spec.vectors:
            values[i] = r.vector(pos + fo[i] + values[i], fmt) if values[i] else ()
        return dict(zip(spec.names, values))

    def _metadata(self, positions: list[int]) -> tuple[tuple[str, ...], str | None]:
        r = self.r
        names = []
        min_runtime = None
        for pos in positions:
            (name_r, buffer), fo = r.decode(pos, METADATA)
            name = r.text(pos + fo[0] + name_r) if name_r else ""
            names.append(name)
            if name == "min_runtime_version":
                min_runtime = self._small_buffer_text(buffer)
        return tuple(names), min_runtime

    def _small_buffer_text(self, buffer: int) -> str | None:
        if buffer >= len(self.buffer_positions):
            return None
        start = self.buffer_positions[buffer]
        if not start:
            return None
        n = self.r.length(start - 4, 1)
        if n > 64:
            return None
        return self.r.bytes_at(start, n).split(b"\0", 1)[0].decode("ascii", "backslashreplace")

    def _signature(self, pos: int, subgraphs: tuple[Subgraph, ...]) -> Signature:
        r = self.r
        (inputs_r, outputs_r, key_r, sg), fo = r.decode(pos, SIGNATURE)
        if sg >= len(subgraphs):
            raise ModelError(f"corrupt model: signature refers to subgraph {sg}, but there are only {len(subgraphs)}")
        limit = len(subgraphs[sg].tensors)

        def tensor_map(at: int) -> tuple[tuple[str, int], ...]:
            out = []
            for m in r.table_positions(at):
                (name_r, ti), mfo = r.decode(m, TENSOR_MAP)
                if ti >= limit:
                    raise ModelError(f"corrupt model: signature refers to tensor {ti}, but there are only {limit}")
                out.append((r.text(m + mfo[0] + name_r) if name_r else "", ti))
            return tuple(out)

        return Signature(r.text(pos + fo[2] + key_r) if key_r else "", sg,
                         tensor_map(pos + fo[0] + inputs_r) if inputs_r else (),
                         tensor_map(pos + fo[1] + outputs_r) if outputs_r else ())
