"""Reading a model costs little memory: large files are mapped, weight buffers are never read; small files
are read whole, so that one truncated while tpulint reads it cannot kill the process (SIGBUS)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CORPUS

PROBE = """
import resource, sys
from tpulint.model import read_model
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model = read_model(sys.argv[1])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024)
"""


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/real is absent")
def test_largest_corpus_model_costs_less_than_twice_its_size() -> None:
    largest = max(CORPUS.glob("*/*.tflite"), key=lambda p: p.stat().st_size)
    size = largest.stat().st_size
    out = subprocess.run([sys.executable, "-c", PROBE, str(largest)], capture_output=True, text=True, check=True)
    grown = int(out.stdout)
    assert grown < 2 * size, f"reading {largest.name} ({size} bytes) grew peak RSS by {grown} bytes"


def fully_connected_file(folder: Path, units: int, depth: int) -> Path:
    """A FULLY_CONNECTED model with units × depth bytes of int8 weights, written to folder/big.tflite."""
    from tpulint.testing import ModelBuilder

    b = ModelBuilder()
    b.tensor("x", [1, depth], "int8")
    b.tensor("w", [units, depth], "int8", data=units * depth)
    b.tensor("y", [1, units], "int8")
    b.op("FULLY_CONNECTED", ["x", "w", None], ["y"])
    path = folder / "big.tflite"
    path.write_bytes(b.build())
    return path


def test_weights_are_not_read(tmp_path) -> None:
    """A model with 64 MiB of weights: peak RSS grows by far less than the weights."""
    path = fully_connected_file(tmp_path, 16384, 4096)
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True)
    assert int(out.stdout) < 8 * 1024 * 1024


def test_small_files_are_read_not_mapped(monkeypatch) -> None:
    import mmap

    from tpulint.model import read_model

    def no_mapping(*args: object, **kwargs: object) -> None:
        raise AssertionError("a small model file was mapped")

    monkeypatch.setattr(mmap, "mmap", no_mapping)
    model = read_model(Path(__file__).resolve().parents[1] / "fixtures" / "int8_cnn.tflite")
    assert [op.name for op in model.subgraphs[0].operators] == [
        "CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]


def test_large_files_without_pread_are_read_through_the_mapping(tmp_path, monkeypatch) -> None:
    """Windows has no os.pread: files over 16 MiB then go through the mapping alone."""
    import os

    from tpulint.model import read_model

    path = fully_connected_file(tmp_path, 20480, 1024)
    monkeypatch.delattr(os, "pread")
    model = read_model(path)
    assert [t.data_size for t in model.main.tensors] == [0, 20 * 1024 * 1024, 0]


def test_tensor_indices_are_one_int_object_each() -> None:
    """Tensor.index and every op input and output naming that tensor are the same int object (above the
    interpreter's small-int cache, the same value would otherwise be stored once per mention)."""
    from tpulint.model import read_model_bytes
    from tpulint.testing import ModelBuilder

    b = ModelBuilder()
    for i in range(300):  # indices past 256, which Python does not cache
        b.tensor(f"pad{i}", [1], "int8")
    b.tensor("x", [1, 4], "int8")
    b.tensor("y", [1, 4], "int8")
    b.tensor("z", [1, 4], "int8")
    b.op("RELU", ["x"], ["y"])
    b.op("ADD", ["y", "x"], ["z"])
    b.op("FULLY_CONNECTED", ["z", "y", None], ["pad299"])
    sg = read_model_bytes(b.io(["x"], ["pad299"]).build()).main
    tensors = {t.name: t for t in sg.tensors}
    relu, add, fc = sg.operators
    assert relu.inputs[0] is add.inputs[1] is tensors["x"].index == 300
    assert relu.outputs[0] is add.inputs[0] is fc.inputs[1] is tensors["y"].index
    assert fc.inputs[2] == -1 and fc.outputs[0] is tensors["pad299"].index


def test_graph_shares_the_one_op_tuples() -> None:
    """consumers, preds and succs hold one (i,) per op, whichever of them names op i alone."""
    from tpulint.graph import Graph
    from tpulint.model import read_model_bytes
    from tpulint.testing import ModelBuilder

    b = ModelBuilder()
    for name in "abcd":
        b.tensor(name, [1, 4], "int8")
    b.op("RELU", ["a"], ["b"])
    b.op("RELU", ["b"], ["c"])
    b.op("ADD", ["c", "b"], ["d"])
    g = Graph.build(read_model_bytes(b.io(["a"], ["d"]).build()).main)
    assert g.consumers == ((0,), (1, 2), (2,), ()) and g.preds == ((), (0,), (0, 1)) and g.succs == ((1, 2), (2,), ())
    assert g.consumers[0] is g.preds[1] and g.consumers[2] is g.succs[1]


def test_cold_reads_come_from_a_few_windows_and_equal_the_file(tmp_path, monkeypatch):
    import os
    import random

    from tpulint import flatbuf
    from tpulint.errors import ModelError

    data = random.Random(1).randbytes(1 << 20)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    monkeypatch.setattr(flatbuf, "COLD_FILE_SIZE", 1 << 16)
    reads = []
    real_pread = os.pread
    monkeypatch.setattr(flatbuf.os, "pread", lambda fd, n, at: reads.append(at) or real_pread(fd, n, at))
    with open(path, "rb") as f:
        r = flatbuf.Reader(data, "model", f.fileno())
        assert r.fd is not None
        positions = [(1 << 19) - 80 * i for i in range(400)] + [900_000 - 80 * i for i in range(400)]
        for pos in (p for pair in zip(positions[:400], positions[400:]) for p in pair):  # two regions, interleaved
            assert r.cold(pos, 12) == data[pos:pos + 12]
        assert len(reads) == 2  # one centred window per region, 32 KiB each side
        assert r.cold(len(data) - 4, 4) == data[-4:]
        with pytest.raises(ModelError, match="outside"):
            r.cold(len(data) - 2, 4)


def _many_buffers() -> bytes:
    """Small weights and a few larger than a cold window between them: Buffer tables close together and far apart."""
    from tpulint.testing import ModelBuilder

    b = ModelBuilder()
    b.tensor("t0", [1, 64], "int8")
    for i in range(300):
        units = 160 if i % 50 == 7 else 4  # 160 x 64 weights: a 10 KiB gap, bigger than the test's windows
        b.tensor(f"w{i}", [units, 64], "int8", data=units * 64)
        b.tensor(f"t{i + 1}", [1, units], "int8")
        b.op("FULLY_CONNECTED", ["t0", f"w{i}", None], [f"t{i + 1}"])
    return b.io(["t0"], [f"t{i + 1}" for i in range(300)]).build()


@pytest.mark.parametrize("strategy", ["objects", "columnar"])
def test_cold_buffer_tables_decode_like_the_bytes_in_memory(tmp_path, monkeypatch, strategy) -> None:
    """Buffer tables of a large file come from pread windows, decoded in place: the same model as from the file's
    bytes, and the same one-line error when a table or its data vector is corrupt."""
    import os
    import random

    from tpulint import flatbuf, model
    from tpulint.errors import ModelError
    from tpulint.model import read_model, read_model_bytes

    monkeypatch.setenv("TPULINT_READER", strategy)
    monkeypatch.setattr(flatbuf, "COLD_FILE_SIZE", 1 << 12)
    monkeypatch.setattr(flatbuf, "COLD_WINDOW", 1 << 12)
    monkeypatch.setattr(model, "COLD_FILE_SIZE", 1 << 12)
    reads = []
    real_pread = os.pread
    monkeypatch.setattr(flatbuf.os, "pread", lambda fd, n, at: reads.append(at) or real_pread(fd, n, at))
    data = _many_buffers()
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    cold = read_model(path)
    assert cold == read_model_bytes(data, str(path)) and cold.num_buffers == 301
    assert 0 < len(reads) < cold.num_buffers / 4  # read unmapped, each window shared by many tables
    start = min(cold.buffer_offsets[1:]) - 64  # the Buffer tables and the data around them
    rng = random.Random(7)
    outcomes = set()
    for _ in range(150):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(start, len(data) - 4)
            damaged[at:at + 4] = rng.choice([b"\xff\xff\xff\x7f", b"\x00\x00\x00\x00", rng.randbytes(4)])
        path.write_bytes(bytes(damaged))
        try:
            expected: object = read_model_bytes(bytes(damaged), str(path))
        except ModelError as e:
            expected = str(e)
        try:
            got: object = read_model(path)
        except ModelError as e:
            got = str(e)
        assert got == expected
        outcomes.add(type(expected).__name__)
    assert outcomes == {"Model", "str"}  # both readable and corrupt files were met
