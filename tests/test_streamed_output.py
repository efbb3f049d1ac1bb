"""The streamed JSON output and the -j transport: byte for byte what rendering the whole document gives."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from render_support import copy_fixtures

from tpulint import cli
from tpulint.analysis import analyze_model
from tpulint.config import Config
from tpulint.model import (Operator, Quantization, Tensor, _new_operator, _new_tensor, fast_constructor, read_model,
                           read_model_bytes)
from tpulint.render.json import Stream, entry_text, render
from tpulint.report import ModelFailure, document, header, model_entry, plain_entry, rules_of, streamed_entry
from tpulint.parallel import batches
from tpulint.runner import worker_result

MODELS = ("broken_chain.tflite", "int8_cnn.tflite", "float_model.tflite", "custom_op.tflite")


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    copy_fixtures(tmp_path, MODELS)
    (tmp_path / "truncated.tflite").write_bytes((tmp_path / "int8_cnn.tflite").read_bytes()[:100])
    return tmp_path


def whole_document(paths: list[str]) -> str:
    """The reference: every report built, then the document rendered in one piece."""
    cfg = Config()
    results: list[object] = []
    for p in paths:
        try:
            results.append(analyze_model(read_model(p), cfg))
        except Exception as e:  # noqa: BLE001 - the CLI's ModelError, as a failed entry
            results.append(ModelFailure(p, str(e)))
    return render(document(results, cfg))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_streamed_json_is_the_rendered_document(models, capsysbinary, jobs) -> None:
    paths = [*MODELS, "truncated.tflite"]
    assert cli.main(["--isolated", "--format", "json", "-j", jobs, *paths]) == 2
    out = capsysbinary.readouterr()
    assert out.out.decode() == whole_document(paths)
    assert out.err.decode().startswith("tpulint: truncated.tflite: ")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_streamed_json_to_a_file(models, capsys, jobs) -> None:
    assert cli.main(["--isolated", "--format", "json", "-j", jobs, "-o", "out.json", *MODELS]) == 1
    assert Path("out.json").read_text() == whole_document(list(MODELS))
    assert not [p.name for p in models.iterdir() if p.name.endswith(".tmp")]


def test_streamed_json_with_a_text_only_stdout(models, monkeypatch) -> None:
    """A stdout without a binary buffer (an embedding application's StringIO) gets the same text."""
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    assert cli.main(["--isolated", "--format", "json", "int8_cnn.tflite"]) == 0
    assert out.getvalue() == whole_document(["int8_cnn.tflite"])


def test_no_models_streams_an_empty_list(models, capsysbinary) -> None:
    assert cli.main(["--isolated", "--format", "json", "missing.tflite"]) == 2
    text = capsysbinary.readouterr().out.decode()
    assert text == render(document([ModelFailure("missing.tflite", "no such file")], Config()))
    parts: list[str] = []
    stream = Stream(header(Config()), parts.append)
    stream.close(rules_of([]))
    assert "".join(parts) == render(document([], Config()))


@pytest.mark.parametrize("binary", [False, True])
def test_stream_takes_dicts_lazy_ops_and_laid_out_entries(models, binary) -> None:
    cfg = Config()
    reports = [analyze_model(read_model(p), cfg) for p in MODELS]
    parts: list[object] = []
    stream = Stream(header(cfg), parts.append, binary=binary, flush_at=100)  # many small flushes
    stream.entry(streamed_entry(reports[0]))  # "ops" an iterator
    stream.entry(model_entry(reports[1]))  # a plain entry
    stream.entry(entry_text(model_entry(reports[2])))  # laid out by a worker, as text
    stream.entry(entry_text(model_entry(reports[3])).encode())  # ... and as bytes
    stream.close(rules_of([model_entry(r) for r in reports]))
    text = b"".join(parts).decode() if binary else "".join(parts)  # type: ignore[arg-type]
    assert text == render(document(reports, cfg))


def test_an_op_with_a_long_operand_list_is_written_value_by_value() -> None:
    """An ADD_N reading one tensor 3,000 times: its line is the rendered document's, and no write holds it whole."""
    from tpulint.testing import ModelBuilder

    b = ModelBuilder()
    b.tensor("x", [1, 8], "int8", quant=(0.5, 0))
    b.tensor("y", [1, 8], "int8", quant=(0.5, 0))
    b.tensor("z", [1, 8], "int8", quant=(0.5, 0))
    b.op("RELU", ["x"], ["y"])
    b.op("ADD_N", ["y"] * 3000, ["z"])
    cfg = Config()
    report = analyze_model(read_model_bytes(b.io(["x"], ["z"]).build(), "long.tflite"), cfg)
    pieces: list[str] = []
    stream = Stream(header(cfg), pieces.append, flush_at=1)  # every write reaches `pieces` as it was made
    stream.entry(streamed_entry(report))
    stream.close(rules_of([model_entry(report)]))
    text = "".join(pieces)
    assert text == render(document([report], cfg))
    (line,) = [x for x in text.splitlines() if '"opcode": "ADD_N"' in x]
    assert len(line) > 3000 * 60 and max(map(len, pieces)) < len(line) // 50


def over_budget() -> bytes:
    """Three FULLY_CONNECTED layers of 3 MiB of weights each: the third does not fit the on-chip budget."""
    from tpulint.testing import ModelBuilder

    b = ModelBuilder("three 3 MiB layers")
    b.tensor("input", [1, 1792], "int8", quant=(0.05, 0))
    x = "input"
    for i in range(3):
        b.tensor(f"fc{i}/weights", [1792, 1792], "int8", quant=(0.01, 0), data=1792 * 1792)
        b.tensor(f"fc{i}/bias", [1792], "int32", quant=(0.0005, 0), data=4 * 1792)
        b.tensor(f"fc{i}", [1, 1792], "int8", quant=(0.05, 0))
        b.op("FULLY_CONNECTED", [x, f"fc{i}/weights", f"fc{i}/bias"], [f"fc{i}"])
        x = f"fc{i}"
    return b.io(["input"], [x]).build()


def test_streamed_layers_are_built_as_they_are_written(models, capsysbinary) -> None:
    Path("big.tflite").write_bytes(over_budget())
    report = analyze_model(read_model("big.tflite"), Config())
    entry = streamed_entry(report)
    layers = entry["memory"]["streamed_layers"]
    assert not isinstance(layers, list) and len(layers) == 1
    assert list(layers) == list(layers) == [{"subgraph": 0, "op": 2, "opcode": "FULLY_CONNECTED",
                                             "bytes": 1792 * (1792 + 8), "reason": "on-chip budget exhausted"}]
    assert model_entry(report)["memory"]["streamed_layers"] == list(layers)
    assert cli.main(["--isolated", "--format", "json", "big.tflite"]) == 0
    assert capsysbinary.readouterr().out.decode() == whole_document(["big.tflite"])
    assert worker_result(report, "summary")["memory"] == model_entry(report)["memory"]  # plain data for the pipe
    plain = {"ops": [], "memory": {"cached_bytes": 1}}  # an entry made elsewhere, without streamed layers
    assert plain_entry(plain) is plain and plain_entry({"ops": [], "memory": None})["memory"] is None


def test_worker_results(models) -> None:
    report = analyze_model(read_model("broken_chain.tflite"), Config())
    entry = model_entry(report)
    assert worker_result(report, "entry") == entry
    assert worker_result(report, "summary") == {**entry, "ops": []}
    text, summary = worker_result(report, "json")
    assert text == entry_text(entry) and summary == {**entry, "ops": []}


def test_summary_entries_render_like_full_ones(models) -> None:
    """-j sends the concise, github and sarif renderers entries without ops: they must not read them."""
    from tpulint.render import SUMMARY_ONLY, RenderOptions
    from tpulint.render import render as render_format

    cfg = Config()
    reports = [analyze_model(read_model(p), cfg) for p in MODELS]
    full = document(reports, cfg)
    light = document([worker_result(r, "summary") for r in reports], cfg)
    for fmt in sorted(SUMMARY_ONLY):
        options = RenderOptions(format=fmt, root=str(models))
        assert render_format(light, options) == render_format(full, options)


@pytest.mark.parametrize(("n", "jobs"), [(1, 2), (7, 2), (500, 2), (500, 3), (40, 8)])
def test_batches_cover_every_path_in_order_and_shrink(n, jobs) -> None:
    paths = [f"m{i}" for i in range(n)]
    cut = batches(paths, jobs)
    assert [p for b in cut for p in b] == paths
    sizes = [len(b) for b in cut]
    assert max(sizes) == min(8, max(1, n // (3 * jobs))) and sizes == sorted(sizes, reverse=True) and sizes[-1] == 1


def test_fast_constructors_build_the_frozen_dataclass() -> None:
    q = fast_constructor(Quantization)(b"\0\0\0?", bytes(8), 0)
    t = _new_tensor(3, "x", "int8", (1, 4), None, q, 2, 16, False)
    assert type(t) is Tensor and type(q) is Quantization
    assert t == Tensor(3, "x", "int8", (1, 4), None, Quantization.of((0.5,), (0,), 0), 2, 16, False)
    assert hash(t) == hash(Tensor(3, "x", "int8", (1, 4), None, Quantization.of((0.5,), (0,), 0), 2, 16, False))
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.name = "y"  # type: ignore[misc]
    op = _new_operator(0, "ADD", 1, (0, 1), (2,), None, {}, (), None)
    assert op == Operator(0, "ADD", 1, (0, 1), (2,))
    assert dataclasses.replace(op, index=5).index == 5
