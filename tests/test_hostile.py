"""Hostile input: broken graphs raise ModelError (never another exception), the reader's own bounds checks,
and untrusted strings in the terminal and JSON channels (exact escaped output, valid JSON for any bytes)."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tpulint
from tpulint import cli
from tpulint.errors import ModelError
from tpulint.flatbuf import Reader
from tpulint.graph import Graph
from tpulint.model import read_model_bytes
from tpulint.render.escape import terminal_safe
from tpulint.testing import ModelBuilder

# --- broken graphs and indices: reported as ModelError, never followed --------------------------------------


def _analyze(tmp_path, b: ModelBuilder):
    path = tmp_path / "m.tflite"
    path.write_bytes(b.build())
    return tpulint.analyze(path)


def _chain() -> ModelBuilder:
    b = ModelBuilder()
    for name in ("x", "a", "b"):
        b.tensor(name, [1, 4], "int8")
    return b


@pytest.mark.parametrize("build, message", [
    # op 0 reads a, which op 1 writes from op 0's output: a cycle
    (lambda b: b.op("RELU", ["a"], ["b"]).op("RELU", ["b"], ["a"]),
     "corrupt model: op 0 of subgraph 0 reads tensor 1 before op 1 writes it (a cycle, or ops out of execution order)"),
    (lambda b: b.op("RELU", ["a"], ["a"]),  # reads its own output
     "corrupt model: op 0 of subgraph 0 reads tensor 1 before op 0 writes it (a cycle, or ops out of execution order)"),
    (lambda b: b.op("RELU", ["x"], ["a"]).op("RELU", ["x"], ["a"]),
     "corrupt model: tensor 1 is written by both op 0 and op 1 of subgraph 0"),
    (lambda b: b.op("RELU", ["x"], ["a", "a"]),
     "corrupt model: tensor 1 is written by both op 0 and op 0 of subgraph 0"),
    (lambda b: b.op("RELU", [3], ["a"]),
     "corrupt model: subgraph 0 op 0 input refers to tensor 3, but there are only 3 tensors"),
    (lambda b: b.op("RELU", [-2], ["a"]),
     "corrupt model: subgraph 0 op 0 input refers to tensor -2, but there are only 3 tensors"),
    (lambda b: b.op("RELU", ["x"], [-1]),
     "corrupt model: subgraph 0 op 0 output refers to tensor -1, but there are only 3 tensors"),
    (lambda b: b.op("RELU", ["x"], [2**31 - 1]),
     "corrupt model: subgraph 0 op 0 output refers to tensor 2147483647, but there are only 3 tensors"),
    (lambda b: b.op("RELU", ["x"], ["a"], opcode_index=1),
     "corrupt model: subgraph 0 op 0 uses operator code 1, but there are only 1"),
    (lambda b: b.tensor("c", [4], "int32", buffer_index=2).op("RELU", ["x"], ["a"]),
     "corrupt model: tensor 3 refers to buffer 2, but there are only 1 buffers"),
])
def test_broken_graph_raises_model_error(tmp_path, build, message):
    b = _chain()
    build(b)
    with pytest.raises(ModelError) as e:
        _analyze(tmp_path, b)
    assert str(e.value) == message


def test_reading_a_tensor_nobody_writes_is_recorded_not_followed(tmp_path):
    b = _chain()
    b.op("ADD", ["x", "a"], ["b"])  # "a" is neither written, constant, nor a graph input
    b.io(["x"], ["b"])
    report = _analyze(tmp_path, b)
    graph = report.graphs[0]
    assert graph.unwritten_reads == ((0, 1),)
    assert graph.producer == (-1, -1, 0) and graph.preds == ((),)
    assert report.ops == 1


def test_graph_of_a_long_chain_is_iterative(tmp_path):
    """Ancestors/descendants of a 5,000-op chain: no recursion limit, exact sets."""
    b = ModelBuilder()
    b.tensor("t0", [1, 4], "int8")
    for i in range(5000):
        b.tensor(f"t{i + 1}", [1, 4], "int8")
        b.op("RELU", [f"t{i}"], [f"t{i + 1}"])
    g = Graph.build(read_model_bytes(b.build()).main)
    assert g.ancestors(4999) == set(range(4999))
    assert g.descendants([0]) == set(range(1, 5000))
    assert g.succs[0] == (1,) and g.preds[4999] == (4998,)


# --- the reader's own checks (the TFLite verifier's rules) ---------------------------------------------------

def _patched(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


def test_vector_longer_than_the_file_is_rejected_before_use():
    """A 4 GB vector claimed by a small file is checked against the file size, not followed."""
    b = ModelBuilder()
    b.tensor("x", [1, 7], "int8")
    b.tensor("y", [1, 4], "int8")
    b.op("RELU", ["x"], ["y"])
    shape = struct.pack("<I2i", 2, 1, 7)
    bad = _patched(b.build(), shape, struct.pack("<I2i", 0xFFFFFFFF, 1, 7))
    with pytest.raises(ModelError, match=r"^corrupt model: the shape of tensor 0 lies outside the buffer$"):
        read_model_bytes(bad)
    ten_bytes = Reader(struct.pack("<I", 0xFFFFFFFF) + bytes(6))
    for read in (lambda: ten_bytes.vector(0, "i"), lambda: ten_bytes.length(0, 1), lambda: ten_bytes.text(0),
                 lambda: ten_bytes.table_positions(0)):
        with pytest.raises(ModelError, match=r"^corrupt model: (vector|string) at 0 claims 4294967295 "
                                             r"(elements|bytes|tables), past the end of the 10-byte buffer$"):
            read()
    with pytest.raises(ModelError, match=r"^corrupt model: vtable at -860636752 outside the 10-byte buffer$"):
        read_model_bytes(struct.pack("<I", 4) + b"TFL3" + b"\xff\xff")


def test_root_offset_past_the_end():
    with pytest.raises(ModelError, match=r"^corrupt model: table at 4294967295 outside the 10-byte buffer$"):
        read_model_bytes(struct.pack("<I", 0xFFFFFFFF) + b"TFL3\0\0")


def test_shared_vectors_cannot_amplify_work():
    """Every tensor pointing its name at one huge string: bounded by the file size, not the product."""
    b = ModelBuilder()
    big = "n" * 4000
    b.tensor(big, [1], "int8")
    for i in range(50):
        b.tensor(f"t{i:03d}", [1], "int8")
    data = bytearray(b.build())
    model = read_model_bytes(bytes(data))
    assert len(model.main.tensors) == 51
    # Re-point every small name at the big string: 51 x 4 KB decoded from a ~7 KB file.
    big_at = data.index(big.encode()) - 4
    for i in range(50):
        at = data.index(f"t{i:03d}".encode()) - 4
        for field in range(0, len(data) - 4, 4):  # find the uoffset that points at this name
            if struct.unpack_from("<I", data, field)[0] + field == at:
                struct.pack_into("<I", data, field, big_at - field)
                break
    with pytest.raises(ModelError, match="overlap"):
        read_model_bytes(bytes(data))


# --- terminal channel -----------------------------------------------------------------------------------------

EVIL = "evil\x1b[2J\x1b]0;title\x07\r\nnext\x9b31m\x7fZZ"  # ZZ becomes two bytes that are not UTF-8
EVIL_BYTES = EVIL.encode()[:-2] + b"\xff\xc3"
EVIL_TERMINAL = r"evil\x1b[2J\x1b]0;title\x07\x0d\x0anext\x9b31m\x7f\xff\xc3"
EVIL_JSON = r'"evil\u001b[2J\u001b]0;title\u0007\r\nnext\u009b31m\u007f\\xff\\xc3"'


def evil_model(custom_code: str = "MyOp") -> bytes:
    b = ModelBuilder()
    b.tensor("input", [1, 4], "int8")
    b.tensor(EVIL, [1, 4], "int8")
    b.op("FLOOR", ["input"], [EVIL])
    b.tensor("out", [1, 4], "float32")
    b.op("CUSTOM", [EVIL], ["out"], custom_code=custom_code)
    data = b.build()
    return _patched(data, EVIL.encode(), EVIL_BYTES)


def _assert_no_control_characters(text: str) -> None:
    bad = [hex(ord(c)) for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F]
    assert not bad, bad


def test_reader_keeps_the_name_and_escapes_invalid_utf8():
    name = read_model_bytes(evil_model()).main.tensors[1].name
    assert name == "evil\x1b[2J\x1b]0;title\x07\r\nnext\x9b31m\x7f\\xff\\xc3"


@pytest.mark.parametrize("fmt", ["concise", "full"])
def test_terminal_output_escapes_tensor_names(tmp_path, capsys, fmt):
    path = tmp_path / "evil.tflite"
    path.write_bytes(evil_model())
    cli.main(["--isolated", "--format", fmt, str(path)])
    out, err = capsys.readouterr()
    _assert_no_control_characters(out)
    doc_findings = json.loads(_json(tmp_path, capsys))["models"][0]["findings"]
    floor = next(f for f in doc_findings if f["location"]["operator"] == 0)
    if fmt == "concise":
        assert f"{path}: op 0 FLOOR ({EVIL_TERMINAL}): {floor['code']} {floor['message']}" in out.splitlines()
    else:
        assert f"  op    0 FLOOR                    {EVIL_TERMINAL}: {floor['status']}" in out.splitlines()
    assert err == ""


def _json(tmp_path, capsys) -> str:
    cli.main(["--isolated", "--format", "json", str(tmp_path / "evil.tflite")])
    return capsys.readouterr()[0]


def test_terminal_output_escapes_custom_codes(tmp_path, capsys):
    path = tmp_path / "evil.tflite"
    path.write_bytes(evil_model(custom_code="My\x1b[5mOp\x07"))
    cli.main(["--isolated", "--format", "concise", str(path)])
    _assert_no_control_characters(capsys.readouterr()[0])


def test_error_line_escapes_the_path(tmp_path, capsys):
    name = "evil\x1b]0;pwned\x07\r\x9b.tflite"
    assert cli.main(["--isolated", str(tmp_path / name)]) == 2
    out, err = capsys.readouterr()
    assert err == f"tpulint: {tmp_path}/evil\\x1b]0;pwned\\x07\\x0d\\x9b.tflite: no such file\n"


def test_undecodable_file_name(tmp_path, capsys):
    """A file name with bytes that are not UTF-8 (surrogate-escaped by Python) prints as \\xNN everywhere."""
    import os

    raw = os.fsencode(str(tmp_path)) + b"/m\xff.tflite"
    with open(raw, "wb") as f:
        f.write(evil_model())
    path = os.fsdecode(raw)
    assert cli.main(["--isolated", "--format", "json", path]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["models"][0]["path"] == f"{tmp_path}/m\\xff.tflite"
    out.encode("ascii")
    cli.main(["--isolated", path])
    out, _ = capsys.readouterr()
    assert out.splitlines()[-1].startswith(f"{tmp_path}/m\\xff.tflite: 0/2 ops on the Edge TPU")


@pytest.mark.parametrize("text, expected", [
    ("plain name/with:punct,%", "plain name/with:punct,%"),
    ("\x1b[31mred\x1b[0m", r"\x1b[31mred\x1b[0m"),
    ("a\rb\nc\td\x00e", r"a\x0db\x0ac\x09d\x00e"),
    ("\x7f\x80\x9b\x9f", r"\x7f\x80\x9b\x9f"),
    ("é ü 名前 \xa0", "é ü 名前 \xa0"),  # printable Unicode is kept
])
def test_terminal_safe_exact(text, expected):
    assert terminal_safe(text) == expected


# --- JSON channel -----------------------------------------------------------------------------------------

def test_json_output_escapes_exactly(tmp_path, capsys):
    path = tmp_path / "evil.tflite"
    path.write_bytes(evil_model())
    text = _json(tmp_path, capsys)
    text.encode("ascii")  # 7-bit output
    assert f'"name": {EVIL_JSON}' in text
    doc = json.loads(text)
    names = {t["name"] for op in doc["models"][0]["ops"] for t in op["inputs"] + op["outputs"]}
    assert names == {"input", "out", "evil\x1b[2J\x1b]0;title\x07\r\nnext\x9b31m\x7f\\xff\\xc3"}


_PLACEHOLDER = "N:"


def model_with_name(raw: bytes) -> bytes:
    """A model whose second tensor's name is exactly the bytes `raw` (any bytes)."""
    b = ModelBuilder()
    b.tensor("input", [1, 4], "int8")
    placeholder = _PLACEHOLDER + "Q" * len(raw)
    b.tensor(placeholder, [1, 4], "int8")
    b.op("RELU", ["input"], [placeholder])
    data = b.build()
    old = struct.pack("<I", len(placeholder)) + placeholder.encode()
    return _patched(data, old, struct.pack("<I", len(raw)) + raw + bytes(len(placeholder) - len(raw)))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=40))
def test_json_is_valid_for_any_bytes_in_a_name(raw):
    from tpulint.config import Config
    from tpulint.analysis import analyze_model
    from tpulint.render import RenderOptions, render
    from tpulint.report import document

    model = read_model_bytes(model_with_name(raw))
    name = model.main.tensors[1].name
    assert name == raw.decode("utf-8", "backslashreplace")
    doc = document([analyze_model(model, Config())], Config())
    text = render(doc, RenderOptions(format="json"))
    text.encode("ascii")
    parsed = json.loads(text)
    assert parsed["models"][0]["ops"][0]["outputs"][0]["name"] == name
    name.encode("utf-8")  # no lone surrogates: strict UTF-8 consumers accept the document too
    for fmt in ("concise", "full"):
        _assert_no_control_characters(render(doc, RenderOptions(format=fmt)))


def test_large_file_reads_weight_tables_unmapped_with_the_same_result(tmp_path):
    """Files over COLD_FILE_SIZE read Buffer tables with pread: same model as reading the bytes."""
    from tpulint.flatbuf import COLD_FILE_SIZE
    from tpulint.model import read_model

    b = ModelBuilder()
    b.tensor("x", [1, 1024], "int8")
    for i in range(3):
        b.tensor(f"w{i}", [COLD_FILE_SIZE // 2048, 1024], "int8", data=COLD_FILE_SIZE // 2)
        b.tensor(f"y{i}", [1, COLD_FILE_SIZE // 2048], "int8")
        b.op("FULLY_CONNECTED", ["x", f"w{i}", None], [f"y{i}"])
    b.metadata("min_runtime_version", b"1.14.0\0\0\0")
    data = b.build()
    path = tmp_path / "large.tflite"
    path.write_bytes(data)
    assert len(data) > COLD_FILE_SIZE
    mapped, in_memory = read_model(path), read_model_bytes(data, str(path))
    assert mapped == in_memory
    assert [t.data_size for t in mapped.main.tensors if t.is_constant] == [COLD_FILE_SIZE // 2] * 3
    assert mapped.min_runtime_version == "1.14.0"


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs named pipes")
def test_fifo_named_like_a_model_does_not_block(tmp_path):
    import os

    fifo = tmp_path / "pipe.tflite"
    os.mkfifo(fifo)
    with pytest.raises(ModelError, match="^not a regular file$"):
        tpulint.analyze(fifo)


@pytest.mark.parametrize("vtable, table, message", [
    # vtable: (vtable size, table size, field offsets...); the table starts with its soffset to the vtable
    ((3, 8), b"", "vtable at 0 has bad size 3"),
    ((8, 8, 4, 12), b"\0" * 4, r"Tensor field 1 at offset 12 lies outside its 8-byte table"),
    ((8, 12, 4, 5), b"\0" * 8, r"Tensor fields overlap in the vtable at 0"),
    ((6, 2, 0), b"", "vtable at 0 declares a 2-byte table"),
])
def test_reader_rejects_bad_vtables(vtable, table, message):
    from tpulint.flatbuf import Layout
    from tpulint.model import _TENSOR

    assert isinstance(_TENSOR, Layout)
    vt = struct.pack(f"<{len(vtable)}H", *vtable)
    data = vt + struct.pack("<i", len(vt)) + table + bytes(16)
    with pytest.raises(ModelError, match=f"^corrupt model: {message}$"):
        Reader(data).decode(len(vt), _TENSOR)
