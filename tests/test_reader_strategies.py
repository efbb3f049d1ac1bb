"""Both reader strategies (objects, columnar) decode every model to the same Model and reject a bad one alike."""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest

from conftest import CORPUS, ROOT
from tpulint.analysis import analyze
from tpulint.errors import ModelError
from tpulint.model import READER_ENV, read_model, read_model_bytes, reader_strategy
from tpulint.testing import ModelBuilder, int8_cnn

sys.path.insert(0, str(ROOT / "bench"))

import fuzz  # noqa: E402


def _corpus_models() -> list[object]:
    if not CORPUS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason="../shared/corpus/real is absent"))]
    return [pytest.param(p, id=str(p.relative_to(CORPUS))) for p in sorted(CORPUS.rglob("*.tflite"))]


def _decode(monkeypatch: pytest.MonkeyPatch, strategy: str, path: object) -> object:
    monkeypatch.setenv(READER_ENV, strategy)
    try:
        return read_model(path) if not isinstance(path, bytes) else read_model_bytes(path)  # type: ignore[arg-type]
    except ModelError as e:
        return f"ModelError: {e}"


def _same(monkeypatch: pytest.MonkeyPatch, source: object) -> object:
    objects = _decode(monkeypatch, "objects", source)
    columns = _decode(monkeypatch, "columnar", source)
    assert fuzz.models_equal(objects, columns), fuzz._first_difference(repr(objects), repr(columns))
    return columns


@pytest.mark.parametrize("path", _corpus_models())
def test_corpus_model_decodes_the_same_with_both_strategies(monkeypatch, path):
    model = _same(monkeypatch, path)
    assert not isinstance(model, str)
    assert all(sg.columns is not None for sg in model.subgraphs)  # type: ignore[attr-defined]


def test_the_strategy_is_forced_by_the_environment(monkeypatch):
    data = int8_cnn().build()
    monkeypatch.setenv(READER_ENV, "objects")
    assert reader_strategy() == "objects" and read_model_bytes(data).main.columns is None
    monkeypatch.setenv(READER_ENV, "columnar")
    assert reader_strategy() == "columnar" and read_model_bytes(data).main.columns is not None
    monkeypatch.setenv(READER_ENV, "whatever")
    assert reader_strategy() == "auto"


def test_auto_decodes_small_models_as_objects_and_large_ones_as_columns(monkeypatch):
    monkeypatch.setenv(READER_ENV, "auto")
    assert read_model_bytes(int8_cnn().build()).main.columns is None
    assert read_model_bytes(_chain(300)).main.columns is None  # 1,201 tables
    assert read_model_bytes(_chain(1400)).main.columns is not None  # 5,601 tables, numpy loaded in the test process


def _chain(n_ops: int) -> bytes:
    b = ModelBuilder()
    b.tensor("t0", [1, 8, 8, 4], "int8", quant=(0.5, 0))
    for i in range(n_ops):
        b.tensor(f"w{i}", [4, 1, 1, 4], "int8", data=np.ones(16, np.int8), quant=([0.1] * 4, [0] * 4, 0))
        b.tensor(f"b{i}", [4], "int32", data=np.zeros(4, np.int32))
        b.tensor(f"t{i + 1}", [1, 8, 8, 4], "int8", quant=(0.5, 0), shape_signature=[-1, 8, 8, 4] if i == 7 else None)
        b.op("CONV_2D", [f"t{i}", f"w{i}", f"b{i}"], [f"t{i + 1}"], padding="SAME", stride_w=1, stride_h=1,
             fused_activation_function="RELU6" if i % 2 else "NONE")
    return b.build()


def test_generated_models_decode_and_analyse_the_same(monkeypatch):
    for data in (_chain(60), int8_cnn().build(), fuzz.kitchen_sink()):
        _same(monkeypatch, data)
        reports = []
        for strategy in ("objects", "columnar"):
            monkeypatch.setenv(READER_ENV, strategy)
            report = analyze(data)
            reports.append((report.findings, [p.placements for p in report.partitions], report.memory))
        assert reports[0] == reports[1]


def test_columns_hold_the_views_values(monkeypatch):
    monkeypatch.setenv(READER_ENV, "columnar")
    sg = read_model_bytes(_chain(10)).main
    c = sg.columns
    assert c is not None
    for t in sg.tensors:
        assert tuple(c.shapes[c.shape_offsets[t.index]:c.shape_offsets[t.index + 1]].tolist()) == t.shape
        assert bool(c.is_constant[t.index]) == t.is_constant
        assert bool(c.has_signature[t.index]) == (t.shape_signature is not None)
    for op in sg.operators:
        assert tuple(c.inputs[c.input_offsets[op.index]:c.input_offsets[op.index + 1]].tolist()) == op.inputs
        assert tuple(c.outputs[c.output_offsets[op.index]:c.output_offsets[op.index + 1]].tolist()) == op.outputs


def _patched(data: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


def test_hostile_words_give_the_same_error_with_both_strategies(monkeypatch):
    """Every 32-bit word of a model overwritten with boundary values: same model or same one-line error."""
    data = _chain(3)
    for at in range(8, len(data) - 4, 4):
        for value in (0, 1, 0x7FFFFFFF, 0xFFFFFFFF, len(data)):
            result = _same(monkeypatch, _patched(data, at, "<I", value))
            assert not isinstance(result, str) or "\n" not in result


def test_fuzzed_inputs_agree_between_strategies(monkeypatch):
    corpus = fuzz.seeds()
    for case in range(600):
        _, data, _ = fuzz.case_input(case, corpus)
        _same(monkeypatch, data)


def test_fuzz_script_runs_each_strategy():
    for reader in ("objects", "both"):
        run = subprocess.run([sys.executable, str(ROOT / "bench" / "fuzz.py"), "--cases", "150", "--reader", reader,
                              "--html-every", "50"], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"reader {reader}: 150 cases" in run.stdout and " 0 failures" in run.stdout


def test_a_large_mapped_file_decodes_the_same(monkeypatch, tmp_path):
    """Files over 16 MiB are mapped; the columnar views of the mapping are released before it closes."""
    from tpulint.flatbuf import COLD_FILE_SIZE

    b = ModelBuilder()
    rows = COLD_FILE_SIZE // 1024 + 16
    b.tensor("x", [1, 1024], "int8", quant=(0.5, 0))
    b.tensor("w", [rows, 1024], "int8", data=rows * 1024, quant=(0.1, 0))
    b.tensor("y", [1, rows], "int8", quant=(0.5, 0))
    b.op("FULLY_CONNECTED", ["x", "w", None], ["y"])
    path = tmp_path / "large.tflite"
    path.write_bytes(b.build())
    _same(monkeypatch, path)
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(path.read_bytes()[:COLD_FILE_SIZE + 100])
    message = _same(monkeypatch, truncated)
    assert isinstance(message, str) and message.startswith("ModelError: ")


def _column_subgraphs(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    monkeypatch.setenv(READER_ENV, "columnar")
    models = [read_model_bytes(_chain(300)), read_model_bytes(fuzz.kitchen_sink())]
    if CORPUS.is_dir():
        models += [read_model(p) for p in sorted(CORPUS.rglob("*.tflite"))]
    return [sg for m in models for sg in m.subgraphs]


def test_graph_from_columns_equals_graph_from_objects(monkeypatch):
    from tpulint.graph import Graph, _build_from_columns

    for sg in _column_subgraphs(monkeypatch):
        assert _build_from_columns(Graph, sg) == Graph._build_from_objects(sg)  # type: ignore[arg-type]


def test_graph_from_columns_leaves_malformed_subgraphs_to_the_object_build(monkeypatch):
    from tpulint.graph import Graph, _build_from_columns

    b = ModelBuilder()
    b.tensor("x", [1, 4], "int8")
    b.tensor("y", [1, 4], "int8")
    b.op("RELU", ["y"], ["x"])
    b.op("RELU", ["x"], ["y"])  # y read by op 0 before op 1 writes it
    monkeypatch.setenv(READER_ENV, "columnar")
    sg = read_model_bytes(b.build()).main
    assert _build_from_columns(Graph, sg) is None
    with pytest.raises(ModelError, match="reads tensor 1 before op 1 writes it"):
        Graph.build(sg)


@pytest.mark.parametrize("compiler", ["14.1", "15.0", "16.0"])
def test_tensor_and_op_flags_from_columns_equal_the_loop(monkeypatch, compiler):
    import tpulint.checks._base as base
    import tpulint.model_types as model_types
    from tpulint.config import Config
    from tpulint.graph import Graph
    from tpulint.profile import load_profile

    profile = load_profile(compiler)
    for sg in _column_subgraphs(monkeypatch):
        monkeypatch.setattr(model_types, "COLUMNS_FROM_TENSORS", 10 ** 9)
        loop = base.Context(None, Graph._build_from_objects(sg), profile, Config()).flags  # type: ignore[arg-type]
        monkeypatch.setattr(model_types, "COLUMNS_FROM_TENSORS", 0)
        assert base.tensor_flags(sg.columns, profile).tolist() == loop  # type: ignore[attr-defined]
        per_op = [0] * len(sg.operators)  # type: ignore[attr-defined]
        for op in sg.operators:  # type: ignore[attr-defined]
            for i in op.inputs + op.outputs:
                if i >= 0:
                    per_op[op.index] |= loop[i]
        assert base.op_flags(sg.columns, loop, len(per_op)).tolist() == per_op  # type: ignore[attr-defined]


def test_chunked_decoding_gives_the_same_model(monkeypatch):
    """Large subgraphs are decoded a chunk of tables at a time; tiny chunks must not change the result."""
    import tpulint.columnar_decoder as columnar

    monkeypatch.setattr(columnar, "_TABLE_CHUNK", 7)
    monkeypatch.setattr(columnar, "_CHUNK", 5)
    sources: list[object] = [_chain(40), fuzz.kitchen_sink()]
    if CORPUS.is_dir():
        sources += sorted(CORPUS.rglob("*.tflite"))[:20]
    for source in sources:
        model = _same(monkeypatch, source)
        assert not isinstance(model, str)


def test_first_op_of_each_code_keeps_every_distinct_code_in_order(monkeypatch):
    from tpulint.checks._base import first_op_of_each_code

    for sg in _column_subgraphs(monkeypatch):
        firsts: dict[tuple[object, ...], int] = {}
        for op in sg.operators:  # type: ignore[attr-defined]
            firsts.setdefault((op.opcode, op.version, op.custom_code), op.index)
        got = [op.index for op in first_op_of_each_code(sg)]  # type: ignore[arg-type]
        assert got == sorted(got) and set(firsts.values()) <= set(got)


def test_auto_without_numpy_loaded_reads_objects_and_does_not_import_numpy(tmp_path, monkeypatch):
    path = tmp_path / "chain.tflite"
    path.write_bytes(_chain(300))
    monkeypatch.delenv(READER_ENV, raising=False)
    code = ("import sys; from tpulint.model import read_model; m = read_model(sys.argv[1]); "
            "assert m.main.columns is None and len(m.main.operators) == 300; assert 'numpy' not in sys.modules")
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def _reads_in_reverse() -> bytes:
    """An ADD reading tensor 1 before tensor 0: its segment's inputs are listed in read order, (1, 0)."""
    b = ModelBuilder()
    b.tensor("a", [1, 8, 8, 4], "int8", quant=(0.5, 0))
    b.tensor("b", [1, 8, 8, 4], "int8", quant=(0.5, 0))
    b.tensor("y", [1, 8, 8, 4], "int8", quant=(0.5, 0))
    b.op("ADD", ["b", "a"], ["y"])
    return b.io(["a", "b"], ["y"]).build()


def test_the_array_paths_report_what_the_loops_report(monkeypatch):
    """Every corpus model and the fuzzer's kitchen sink, however small: the findings, placements and memory
    estimate (each parameter block) over the columns (flags, rule prefilters, graph, memory) equal those of the
    object path."""
    import tpulint.model_types as model_types

    sources: list[object] = [fuzz.kitchen_sink(), _chain(40), int8_cnn().build(), _reads_in_reverse()]
    if CORPUS.is_dir():
        sources += sorted(CORPUS.rglob("*.tflite"))
    for source in sources:
        reports = []
        for strategy, threshold in (("objects", 10 ** 9), ("columnar", 0)):
            monkeypatch.setenv(READER_ENV, strategy)
            monkeypatch.setattr(model_types, "COLUMNS_FROM_TENSORS", threshold)
            report = analyze(source)  # type: ignore[arg-type]
            memory = report.memory
            reports.append((report.findings, report.partitions, memory,
                            memory.layers if memory is not None else None))
        assert reports[0] == reports[1], source
