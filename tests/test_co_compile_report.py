"""`--co-compile` in every report: the compiler-style header, the memory panel and the JSON give one set of
figures (the model's share of the cache), and the share is told in words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tpulint import cli
from tpulint.testing import ModelBuilder


def fc_model() -> bytes:
    """One 2048x2048 FULLY_CONNECTED layer: 4.02MiB of parameters, cached completely when compiled alone."""
    b = ModelBuilder()
    b.tensor("x0", [1, 2048], "int8", quant=(0.5, 0))
    b.tensor("w", [2048, 2048], "int8", quant=(0.01, 0), data=2048 * 2048)
    b.tensor("b", [2048], "int32", quant=(0.005, 0), data=4 * 2048)
    b.tensor("x1", [1, 2048], "int8", quant=(0.5, 0))
    b.op("FULLY_CONNECTED", ["x0", "w", "b"], ["x1"])
    return b.io(["x0"], ["x1"]).build()


@pytest.fixture
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(tmp_path)
    for name in ("a.tflite", "b.tflite"):
        Path(name).write_bytes(fc_model())
    return ["--isolated", "--co-compile", "a.tflite", "b.tflite"]


SECOND = [
    ("Cached on chip", "2.87MiB of a 6.89MiB budget shared by 2 co-compiled models"),
    ("Streamed per inference", "1.14MiB"),
    ("Co-compiled", "model 2 of 2; after a.tflite, 2.87MiB of the cache was left for it (alone it would cache "
                    "4.02MiB and stream 0.00B)"),
]
FIRST_CO = ("Co-compiled", "model 1 of 2; compiled first, the whole 6.89MiB cache was free (alone it would cache "
                           "4.02MiB and stream 0.00B)")


def test_full_report_header_and_panel_show_the_share(pair, capsys) -> None:
    assert cli.main(["--format", "full", *pair]) == 0
    out = capsys.readouterr().out
    second = out[out.index("Model: b.tflite"):]
    assert second.splitlines()[1:3] == [
        "On-chip memory used for caching model parameters: 2.87MiB (estimated)",
        "Off-chip memory used for streaming uncached model parameters: 1.14MiB (estimated)"]
    for name, text in SECOND:
        assert f"\n  {name}: {text}\n" in second
    assert f"\n  {FIRST_CO[0]}: {FIRST_CO[1]}\n" in out[:out.index("Model: b.tflite")]
    assert "position=" not in out and "cached_bytes=" not in out
    assert ("TPU810 [warning, heuristic] co-compiled as model 2 of 2 (after a.tflite), 1.14MiB of its parameters "
            "are streamed and 2.87MiB cached" in second)


def test_markdown_and_html_show_the_same_share(pair, capsys) -> None:
    assert cli.main(["--format", "markdown", *pair]) == 0
    md = capsys.readouterr().out
    from tpulint.render.escape import markdown_text

    for name, text in SECOND:
        assert f"| {name} | {markdown_text(text)} |" in md
    assert cli.main(["--format", "html", *pair]) == 0
    page = capsys.readouterr().out
    for name, text in SECOND:
        assert f"<tr><th>{name}</th><td>{text}</td></tr>" in page
    assert "position=" not in md + page


def test_json_carries_the_share_next_to_the_stand_alone_estimate(pair, capsys) -> None:
    assert cli.main(["--format", "json", *pair]) == 0
    second = json.loads(capsys.readouterr().out)["models"][1]["memory"]
    assert (second["cached_bytes"], second["streamed_bytes"]) == (4210688, 0)  # compiled alone
    assert second["co_compile"] == {"position": 1, "models": ["a.tflite", "b.tflite"], "cached_bytes": 3014000,
                                    "streamed_bytes": 1196688, "remaining_before_bytes": 3014000}
