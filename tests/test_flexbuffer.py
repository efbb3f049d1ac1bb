"""The FlexBuffer reader against the flatbuffers package's own flexbuffers module, and on damaged input."""

from __future__ import annotations

import pytest
from flatbuffers import flexbuffers as fx
from hypothesis import given, settings
from hypothesis import strategies as st

from tpulint.flexbuffer import FlexBufferError, Span, loads


def plain(value, buf):
    """Our decoded value with spans read back, to compare with flexbuffers.Loads."""
    if isinstance(value, Span):
        raw = value.read(buf)
        return raw.decode() if value.kind == "string" else bytearray(raw)
    if isinstance(value, dict):
        return {k: plain(v, buf) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v, buf) for v in value]
    return value


def test_every_value_type_matches_the_reference_decoder():
    b = fx.Builder()
    with b.Map():
        b.Int("a", -5)
        b.UInt("u", 300)
        b.Float("f", 1.5)
        b.Bool("t", True)
        b.String("s", "hello")
        b.Blob("b", b"\x00\x01")
        b.Key("k")
        b.Null()
        with b.Vector("v"):
            b.Int(1)
            b.String("x")
            b.Float(2.0)
            b.Int(-(2 ** 40))
        b.Key("tv")
        b.TypedVectorFromElements([1, 2, 70000])
        b.Key("fv")
        b.FixedTypedVectorFromElements([1.0, 2.0, 3.0])
        with b.Map("m"):
            b.Int("z", 1)
        b.IndirectInt("ii", -7)
        b.IndirectFloat("if", 0.25)
    buf = bytes(b.Finish())
    value = loads(buf)
    assert plain(value, buf) == fx.Loads(buf)
    assert value["s"] == Span("string", value["s"].start, 5) and value["s"].text(buf) == "hello"


@settings(max_examples=200, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63 - 1) | st.floats(-1e38, 1e38) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text("abc123", min_size=1, max_size=4),
                                                                      children, max_size=5),
    max_leaves=20))
def test_round_trips_what_the_reference_encoder_writes(obj):
    buf = bytes(fx.Dumps(obj))
    assert plain(loads(buf), buf) == fx.Loads(buf)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_garbage_raises_only_flexbuffer_error(data):
    try:
        loads(data)
    except FlexBufferError as e:
        assert str(e).startswith("corrupt FlexBuffer: ")


@pytest.mark.parametrize("data, message", [
    (b"", "only 0 bytes"),
    (b"\x00\x00\x03", "bad root width 3"),
    (b"\x05\x25\x01", "offset at 0 points outside the buffer"),  # a map whose offset points before the start
])
def test_exact_errors(data, message):
    with pytest.raises(FlexBufferError, match=message):
        loads(data)


def test_self_referencing_vector_is_stopped():
    # [count 1][element: offset 0, i.e. the vector itself][its type VECTOR][root offset 2][root type VECTOR][width 1]
    data = bytes([1, 0, 10 << 2, 2, 10 << 2, 1])
    with pytest.raises(FlexBufferError, match="^corrupt FlexBuffer: decodes to more values than its 6 bytes can "
                                              r"hold \(shared sub-vectors\)$"):
        loads(data)
    with pytest.raises(FlexBufferError, match="^corrupt FlexBuffer: nesting deeper than 16 levels$"):
        loads(bytes(64) + data)  # room for the values (offsets are relative): the depth limit stops it
