"""Mutation fuzzing of the reader and the whole analysis: every mutated model gives a report or a ModelError.

    python bench/fuzz.py --cases 20000           # the long run (the suite runs a few thousand: tests/test_fuzz.py)
    python bench/fuzz.py --replay 1234           # re-run one case by its seed and show the mutation
    python bench/fuzz.py --reader both           # the columnar reader, each case also compared with the object one

Seeds: the committed fixtures plus a "kitchen sink" model built here (two subgraphs, metadata, a signature,
a custom op with options, intermediates, option vectors, per-channel quantization, a dynamic shape).
Mutations: truncation, flipped bytes, overwritten 32-bit words (with boundary values: 0, -1, huge, the file
size...), zeroed regions, duplicated regions (copied over or inserted, which shifts every later offset),
shuffled blocks of the body, and random bytes (with and without the TFL3 identifier). Case N is fully
determined by (seed model, N): a failure is reproduced with --replay N.

A case fails when anything other than a ModelError escapes reading, analysis, the JSON document or any
renderer (every --format), when it takes longer than --timeout seconds, or when it allocates more than
--max-mib MiB (tracemalloc peak; checked on every 50th case, and on all with --memory-every 1).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
import traceback
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import attacks  # noqa: E402  (bench/ is this script's folder)
from tpulint.analysis import analyze_model  # noqa: E402
from tpulint.config import Config  # noqa: E402
from tpulint.errors import ModelError  # noqa: E402
from tpulint.model import READER_ENV, read_model_bytes  # noqa: E402

INTERESTING_WORDS = (0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE,
                     0xFFFFFFFC)


def kitchen_sink() -> bytes:
    """A small model that exercises every part of the reader."""
    import numpy as np

    from tpulint.testing import int8_cnn

    b = int8_cnn()
    b.tensor("sq", [10], "int8", quant=(0.05, -128), shape_signature=[-1])
    b.op("SQUEEZE", ["probs"], ["sq"], squeeze_dims=[0])
    b.tensor("post", [10], "float32")
    b.op("CUSTOM", ["sq"], ["post"], custom_code="MyPostProcess", custom_options=b"\x01\x02\x03\x04")
    b.tensor("state", [1, 10], "int8", quant=(0.1, 0), is_variable=True)
    b.tensor("lstm_tmp", [1, 10], "int8", quant=(0.1, 0))
    b.tensor("lstm", [1, 10], "int8", quant=(0.1, 0))
    b.op("ADD", ["logits", "state"], ["lstm"], intermediates=["lstm_tmp"], fused_activation_function="RELU")
    b.metadata("min_runtime_version", b"1.14.0\0\0\0")
    b.metadata("description", "é ünïcode \x1b[31m".encode())
    b.signature("serving_default", [("input", "input")], [("output", "post")])
    b.new_subgraph("second")
    b.tensor("a", [2, 2], "int8", quant=([0.1, 0.2], [0, 1], 1))
    b.tensor("w", [2], "int32", data=np.array([2, 2], np.int32))
    b.tensor("b", [2, 2], "int8", quant=(0.1, 0))
    b.op("RESHAPE", ["a", "w"], ["b"], new_shape=[2, 2])
    return b.build()


def random_model(rng: random.Random) -> bytes:
    """A structurally valid flatbuffer with hostile values: indices out of range or -1, cycles, tensors written
    twice, odd dims and ranks, unknown types and opcodes, names with control characters and invalid UTF-8."""
    import flatbuffers
    import numpy as np
    import tflite

    b = flatbuffers.Builder(1024)
    n_tensors = rng.randint(0, 12)
    n_ops = rng.randint(0, 10)
    n_buffers = rng.randint(0, 6)
    n_codes = rng.randint(1, 4)

    hostile = rng.random() < 0.4  # else every index is in range and the ops form a DAG in execution order
    n_ops = min(n_ops, n_tensors) if not hostile else n_ops

    def index(limit: int) -> int:
        if (not hostile or rng.random() < 0.9) and limit > 0:
            return rng.randrange(limit)
        return rng.choice((-1, -2, limit, limit + 1, 2**31 - 1, -(2**31)))

    def ints(values: list[int]) -> int:
        return b.CreateNumpyVector(np.asarray(values, dtype=np.int32))

    def name() -> int:
        raw = bytes(rng.choice((65, 0, 7, 10, 13, 27, 0x9B, 0xC3, 0xFF, 0x22, 0x3C, 0x25, 0x3A, 0x2C))
                    for _ in range(rng.randint(0, 12)))
        return b.CreateString(raw)

    buffers = []
    for _ in range(n_buffers):
        data = b.CreateNumpyVector(np.zeros(rng.choice((0, 1, 4, 64)), np.uint8))
        tflite.BufferStart(b)
        tflite.BufferAddData(b, data)
        buffers.append(tflite.BufferEnd(b))
    codes = []
    for _ in range(n_codes):
        code = rng.choice((0, 3, 4, 9, 17, 22, 25, 32, 32, 40, 127, 150, 200, 255, 1000))
        custom = name() if code == 32 or rng.random() < 0.2 else None
        tflite.OperatorCodeStart(b)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127) if rng.random() < 0.8 else rng.randint(-128, 127))
        tflite.OperatorCodeAddBuiltinCode(b, code)
        tflite.OperatorCodeAddVersion(b, rng.choice((1, 2, 0, -1, 99)))
        if custom is not None:
            tflite.OperatorCodeAddCustomCode(b, custom)
        codes.append(tflite.OperatorCodeEnd(b))
    tensors = []
    for _ in range(n_tensors):
        rank = rng.choice((0, 1, 2, 4, 4, 4, 6, 9))
        shape = ints([rng.choice((1, 1, 8, 0, -1, 3, 2**31 - 1, 255)) for _ in range(rank)])
        signature = ints([rng.choice((1, -1, 8)) for _ in range(rank)]) if rng.random() < 0.3 else None
        tname = name()
        quant = None
        if rng.random() < 0.7:
            n = rng.choice((0, 1, 1, 3, 8))
            scales = b.CreateNumpyVector(np.asarray([rng.choice((0.1, 0.0, -1.0, float("nan"), float("inf"), 1e-30))
                                                     for _ in range(n)], np.float32))
            zps = b.CreateNumpyVector(np.asarray([rng.choice((0, -128, 127, 2**40)) for _ in range(rng.choice((0, n, n + 1)))],
                                                 np.int64))
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, scales)
            tflite.QuantizationParametersAddZeroPoint(b, zps)
            tflite.QuantizationParametersAddQuantizedDimension(b, rng.choice((0, 3, -1, 100)))
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        tflite.TensorAddType(b, rng.choice((9, 9, 3, 0, 2, 1, 17, 100, -5)))
        tflite.TensorAddBuffer(b, max(0, index(n_buffers)) if not hostile or rng.random() < 0.9
                               else rng.choice((n_buffers, 2**32 - 1)))
        tflite.TensorAddName(b, tname)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        if signature is not None:
            tflite.TensorAddShapeSignature(b, signature)
        if rng.random() < 0.1:
            tflite.TensorAddIsVariable(b, True)
        tensors.append(tflite.TensorEnd(b))
    ops = []
    written = rng.sample(range(n_tensors), n_ops) if not hostile else []  # op k writes tensor written[k]
    for k in range(n_ops):
        if hostile:
            inputs = ints([index(n_tensors) for _ in range(rng.randint(0, 4))])
            outputs = ints([index(n_tensors) for _ in range(rng.randint(0, 2))])
        else:
            ready = [t for t in range(n_tensors) if t not in written[k:]]
            inputs = ints([rng.choice(ready) if ready and rng.random() < 0.9 else -1 for _ in range(rng.randint(0, 4))])
            outputs = ints([written[k]])
        options = None
        options_type = rng.choice((0, 0, 1, 3, 14, 17, 255, 200))
        if options_type:
            # whatever the declared type, a table with a few scalar fields of odd values
            b.StartObject(4)
            b.PrependInt32Slot(0, rng.choice((0, 1, -1, 2**31 - 1)), 0)
            b.PrependInt32Slot(1, rng.choice((0, 2, -7)), 0)
            b.PrependInt8Slot(3, rng.choice((0, 1, 6, 127)), 0)
            options = b.EndObject()
        custom = b.CreateNumpyVector(np.zeros(rng.randint(0, 8), np.uint8)) if rng.random() < 0.3 else None
        intermediates = ints([index(n_tensors) for _ in range(rng.randint(1, 2))]) if rng.random() < 0.1 else None
        tflite.OperatorStart(b)
        tflite.OperatorAddOpcodeIndex(b, max(0, index(n_codes)) if not hostile or rng.random() < 0.9 else n_codes)
        tflite.OperatorAddInputs(b, inputs)
        tflite.OperatorAddOutputs(b, outputs)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(b, options_type)
            tflite.OperatorAddBuiltinOptions(b, options)
        if custom is not None:
            tflite.OperatorAddCustomOptions(b, custom)
        if intermediates is not None:
            tflite.OperatorAddIntermediates(b, intermediates)
        ops.append(tflite.OperatorEnd(b))

    def table_vector(start: Callable, items: list[int]) -> int:
        start(b, len(items))
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return b.EndVector()

    tensor_vec = table_vector(tflite.SubGraphStartTensorsVector, tensors)
    op_vec = table_vector(tflite.SubGraphStartOperatorsVector, ops)
    sg_inputs = ints([index(n_tensors) for _ in range(rng.randint(0, 2))])
    sg_outputs = ints([index(n_tensors) for _ in range(rng.randint(0, 2))])
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensor_vec)
    tflite.SubGraphAddOperators(b, op_vec)
    tflite.SubGraphAddInputs(b, sg_inputs)
    tflite.SubGraphAddOutputs(b, sg_outputs)
    subgraph = tflite.SubGraphEnd(b)
    subgraphs = table_vector(tflite.ModelStartSubgraphsVector, [subgraph] * rng.choice((1, 1, 2)))
    code_vec = table_vector(tflite.ModelStartOperatorCodesVector, codes)
    buffer_vec = table_vector(tflite.ModelStartBuffersVector, buffers)
    description = name()
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, code_vec)
    tflite.ModelAddSubgraphs(b, subgraphs)
    tflite.ModelAddBuffers(b, buffer_vec)
    tflite.ModelAddDescription(b, description)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def seeds() -> dict[str, bytes]:
    found = {p.name: p.read_bytes() for p in sorted((ROOT / "fixtures").glob("*.tflite"))}
    found["kitchen_sink"] = kitchen_sink()
    return found


# --- mutations ------------------------------------------------------------------------------------

def _truncate(rng: random.Random, data: bytearray) -> str:
    n = rng.randrange(len(data))
    del data[n:]
    return f"truncate to {n}"


def _flip(rng: random.Random, data: bytearray) -> str:
    done = []
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8) if rng.random() < 0.5 else rng.randrange(1, 256)
        done.append(i)
    return f"flip bytes {done}"


def _word(rng: random.Random, data: bytearray) -> str:
    done = []
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(0, max(1, len(data) - 3)) & ~3 if rng.random() < 0.8 else rng.randrange(max(1, len(data) - 3))
        choice = rng.random()
        if choice < 0.5:
            value = rng.choice(INTERESTING_WORDS)
        elif choice < 0.7:
            value = (len(data) + rng.randint(-8, 8)) & 0xFFFFFFFF
        elif choice < 0.85:
            value = (int.from_bytes(data[i:i + 4], "little") + rng.randint(-16, 16)) & 0xFFFFFFFF
        else:
            value = rng.getrandbits(32)
        data[i:i + 4] = value.to_bytes(4, "little")[:len(data) - i]
        done.append((i, hex(value)))
    return f"overwrite words {done}"


def _zero(rng: random.Random, data: bytearray) -> str:
    i = rng.randrange(len(data))
    n = rng.randint(1, max(1, min(256, len(data) - i)))
    data[i:i + n] = bytes(n)
    return f"zero {n} bytes at {i}"


def _duplicate(rng: random.Random, data: bytearray) -> str:
    src = rng.randrange(len(data))
    n = rng.randint(1, max(1, min(128, len(data) - src)))
    chunk = data[src:src + n]
    dst = rng.randrange(len(data))
    if rng.random() < 0.5:
        data[dst:dst + n] = chunk  # overwrite (may extend the file)
        return f"copy {n} bytes from {src} over {dst}"
    data[dst:dst] = chunk  # insert: shifts every later offset
    return f"insert {n} bytes from {src} at {dst}"


def _shuffle(rng: random.Random, data: bytearray) -> str:
    block = rng.choice((4, 8, 16, 64))
    body = [data[i:i + block] for i in range(8, len(data), block)]
    if len(body) < 2:
        return "shuffle: nothing to shuffle"
    lo = rng.randrange(len(body))
    hi = min(len(body), lo + rng.randint(2, 16))
    part = body[lo:hi]
    rng.shuffle(part)
    body[lo:hi] = part
    data[8:] = b"".join(body)
    return f"shuffle {block}-byte blocks {lo}..{hi} of the body"


def _random(rng: random.Random, data: bytearray) -> str:
    n = rng.choice((0, 1, 4, 7, 8, 12, 16, 64, 256, len(data)))
    body = bytearray(rng.getrandbits(8) for _ in range(n))
    keep_header = rng.random() < 0.7 and n >= 8
    if keep_header:
        body[4:8] = b"TFL3"
        if rng.random() < 0.5:  # a root offset that points inside the file
            body[0:4] = (rng.randrange(8, max(9, n)) & ~3).to_bytes(4, "little")
    data[:] = body
    return f"{n} random bytes{' with a TFL3 header' if keep_header else ''}"


MUTATIONS: tuple[Callable[[random.Random, bytearray], str], ...] = (
    _truncate, _flip, _word, _word, _zero, _duplicate, _shuffle, _random)


def mutate(seed_data: bytes, case: int) -> tuple[bytes, str]:
    """The mutated bytes of case `case` and a description; 1-3 stacked mutations, deterministic."""
    rng = random.Random(case)
    data = bytearray(seed_data)
    steps = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not data:
            break
        steps.append(rng.choice(MUTATIONS)(rng, data))
    return bytes(data), "; ".join(steps)


def case_input(case: int, corpus: dict[str, bytes]) -> tuple[str, bytes, str]:
    """(seed name, bytes, description) of case `case`: every 4th case is a generated hostile model, every 8th
    (from case 5) one of bench/attacks.py's classes in turn (FlexBuffer DAGs, shared package parts, hostile
    constant values, rank-0 tensors), mutated 30% of the time."""
    if case % 8 == 5:
        rng = random.Random(case)
        generate = attacks.GENERATORS[(case // 8) % len(attacks.GENERATORS)]
        data, how = generate(rng)
        how = f"{generate.__name__}: {how}"
        if rng.random() < 0.3:
            data, more = mutate(data, case)
            how = f"{how}; {more}"
        return generate.__name__, data, how
    if case % 4 == 3:
        rng = random.Random(case)
        data = random_model(rng)
        if rng.random() < 0.3:
            data, how = mutate(data, case)
            return "random_model", data, f"generated hostile model; {how}"
        return "random_model", data, "generated hostile model"
    names = sorted(corpus)
    name = names[case % len(names)]
    data, how = mutate(corpus[name], case)
    return name, data, how


# --- running cases --------------------------------------------------------------------------------

class Hang(Exception):
    pass


@dataclass
class Outcome:
    case: int
    seed: str
    how: str
    result: str  # "report", "model-error"
    error: str | None = None  # the failure, when the case failed
    seconds: float = 0.0
    peak_mib: float | None = None


SLOW_FORMATS = frozenset({"html"})  # ~25 ms per document (a jinja2 template): rendered on every Nth case


# --reader both: every case is also decoded by both reader strategies, which must agree exactly, and analysed
# over objects and over columns with every array path taken, which must report the same.
COMPARE_READERS = False


def decoded_by(data: bytes, strategy: str, path: str = "fuzz.tflite") -> object:
    """The Model the reader `strategy` decodes from `data`, or the ModelError's message."""
    previous = os.environ.get(READER_ENV)
    os.environ[READER_ENV] = strategy
    try:
        return read_model_bytes(data, path)
    except ModelError as e:
        return f"ModelError: {e}"
    finally:
        if previous is None:
            del os.environ[READER_ENV]
        else:
            os.environ[READER_ENV] = previous


def models_equal(a: object, b: object) -> bool:
    """Two decodes are the same: equal reprs (every field, options included; NaN scales compare equal there)
    and equal buffer offsets, or the same error message."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return repr(a) == repr(b) and a.buffer_offsets == b.buffer_offsets  # type: ignore[attr-defined]


def _first_difference(a: str, b: str) -> str:
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"at {at}:\n  objects:  ...{a[max(0, at - 150):at + 150]}\n  columnar: ...{b[max(0, at - 150):at + 150]}"


def compare_readers(data: bytes) -> None:
    objects, columns = decoded_by(data, "objects"), decoded_by(data, "columnar")
    if not models_equal(objects, columns):
        raise AssertionError("the reader strategies disagree " + _first_difference(repr(objects), repr(columns)))
    if not isinstance(objects, str):
        loops, arrays = analysed(objects, 10 ** 9), analysed(columns, 0)  # type: ignore[arg-type]
        if loops != arrays:
            raise AssertionError("the array paths disagree with the loops " + _first_difference(repr(loops),
                                                                                                repr(arrays)))


def analysed(model: Any, columns_from: int) -> object:
    """Findings, partitions and memory blocks of `model` with the analysis over columns from `columns_from`
    tensors (0: every array path however small the model), or the ModelError's message."""
    from tpulint.testing import array_paths

    with array_paths(columns_from, reader=None):
        try:
            report = analyze_model(model, Config())
        except ModelError as e:
            return f"ModelError: {e}"
    memory = report.memory
    return (report.findings, report.partitions, memory,
            memory.layers if memory is not None else None)


def run_pipeline(data: bytes, path: str = "fuzz.tflite", slow_formats: bool = True) -> str:
    """Read, analyse, build the JSON document and render it in every format; 'report' or 'model-error'."""
    from tpulint.render import FORMATS, RenderOptions, render
    from tpulint.report import document

    if COMPARE_READERS:
        compare_readers(data)
    try:
        model = read_model_bytes(data, path)
        report = analyze_model(model, Config())
    except ModelError as e:
        message = str(e)
        if not message or "\n" in message:
            raise AssertionError(f"ModelError message must be one non-empty line: {message!r}") from None
        return "model-error"
    doc = document([report], Config())
    for fmt in FORMATS:
        if slow_formats or fmt not in SLOW_FORMATS:
            render(doc, RenderOptions(format=fmt))
    return "report"


def _alarm(signum: int, frame: object) -> None:
    raise Hang()


def run_case(case: int, corpus: dict[str, bytes], timeout: float, max_mib: float, measure_memory: bool,
             slow_formats: bool = True) -> Outcome:
    seed, data, how = case_input(case, corpus)
    out = Outcome(case, seed, how, "")
    use_alarm = hasattr(signal, "setitimer")
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    if measure_memory:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        out.result = run_pipeline(data, slow_formats=slow_formats)
    except Hang:
        out.error = f"took longer than {timeout} s"
    except Exception:  # noqa: BLE001 - the point: anything else is a bug
        out.error = traceback.format_exc()
    finally:
        out.seconds = time.perf_counter() - start
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        if measure_memory:
            out.peak_mib = tracemalloc.get_traced_memory()[1] / (1 << 20)
            tracemalloc.stop()
    if out.error is None and out.seconds > timeout:
        out.error = f"took {out.seconds:.2f} s (limit {timeout} s)"
    if out.error is None and out.peak_mib is not None and out.peak_mib > max_mib:
        out.error = f"allocated {out.peak_mib:.1f} MiB (limit {max_mib} MiB)"
    return out


@dataclass
class Extremes:
    """The slowest case's seconds and the largest allocation peak measured (MiB) in a run."""

    seconds: float
    peak_mib: float


def run(cases: range, timeout: float = 5.0, max_mib: float = 64.0, memory_every: int = 50,
        on_failure: Callable[[Outcome], None] | None = None,
        slow_every: int = 1) -> tuple[list[Outcome], dict[str, int], "Extremes"]:
    corpus = seeds()
    failures = []
    counts = {"report": 0, "model-error": 0}
    slowest = largest = 0.0
    for case in cases:
        out = run_case(case, corpus, timeout, max_mib, memory_every > 0 and case % memory_every == 0,
                       case % slow_every == 0)
        slowest = max(slowest, out.seconds)
        largest = max(largest, out.peak_mib or 0.0)
        if out.error is not None:
            failures.append(out)
            if on_failure:
                on_failure(out)
        else:
            counts[out.result] += 1
    return failures, counts, Extremes(slowest, largest)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=20000, help="number of cases (default 20000)")
    p.add_argument("--start", type=int, default=0, help="first case number (default 0)")
    p.add_argument("--replay", type=int, metavar="CASE", help="run one case and print its mutation and result")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds allowed per case (default 5)")
    p.add_argument("--max-mib", type=float, default=64.0, help="allocation peak allowed per case (default 64)")
    p.add_argument("--memory-every", type=int, default=50, help="measure memory on every Nth case (default 50)")
    p.add_argument("--save", metavar="DIR", help="write the input of every failing case to DIR")
    p.add_argument("--html-every", type=int, default=1, metavar="N",
                   help="render HTML (slow) on every Nth case only (default: every case)")
    p.add_argument("--reader", choices=("auto", "objects", "columnar", "both"), default="auto",
                   help="the reader strategy to fuzz ($TPULINT_READER); both: columnar, and every case decoded "
                        "by both strategies must give the same model or the same error (default auto)")
    ns = p.parse_args(argv)
    global COMPARE_READERS
    COMPARE_READERS = ns.reader == "both"
    os.environ[READER_ENV] = "columnar" if ns.reader == "both" else ns.reader
    if ns.replay is not None:
        corpus = seeds()
        seed, data, how = case_input(ns.replay, corpus)
        out = run_case(ns.replay, corpus, ns.timeout, ns.max_mib, True)
        print(f"case {ns.replay}: {seed}, {how} ({len(data)} bytes)")
        print(f"  {out.error or out.result} in {out.seconds * 1e3:.1f} ms, peak {out.peak_mib:.2f} MiB")
        return 1 if out.error else 0

    def report(out: Outcome) -> None:
        print(f"FAIL case {out.case} ({out.seed}: {out.how}):\n{out.error}", file=sys.stderr)
        if ns.save:
            Path(ns.save).mkdir(parents=True, exist_ok=True)
            Path(ns.save, f"case_{out.case}.tflite").write_bytes(case_input(out.case, seeds())[1])

    start = time.perf_counter()
    failures, counts, extremes = run(range(ns.start, ns.start + ns.cases), ns.timeout, ns.max_mib, ns.memory_every,
                                     report, max(1, ns.html_every))
    elapsed = time.perf_counter() - start
    print(f"reader {ns.reader}: {ns.cases} cases in {elapsed:.1f} s: {counts['report']} reports, {counts['model-error']} ModelErrors, "
          f"{len(failures)} failures; slowest case {extremes.seconds:.2f} s, largest allocation peak "
          f"{extremes.peak_mib:.1f} MiB")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
