"""Terminal output: golden concise/full/statistics reports, colour rules, and escaping of hostile names."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from render_support import HOSTILE, copy_fixtures, finding, hostile_model, make_doc, with_findings

from tpulint import cli
from tpulint.render import RenderOptions, render


@pytest.fixture
def doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    return make_doc(copy_fixtures(tmp_path), failures=(("missing.tflite", "no such file"),))


@pytest.mark.parametrize("fmt", ["concise", "full"])
def test_text_golden(doc, golden, fmt: str) -> None:
    golden(f"report.{fmt}.txt", render(doc, RenderOptions(format=fmt)))


def test_statistics_golden(doc, golden) -> None:
    golden("report.statistics.txt", render(doc, RenderOptions(format="concise", statistics=True)))


def test_full_lists_table_with_compiler_column_widths(doc) -> None:
    text = render(doc, RenderOptions(format="full"))
    assert "Operator                       Count      Status\n" in text
    assert "FLOOR                          1          Operation not supported\n" in text
    assert ("  - not a fix, for a clean Edge TPU / CPU split (e.g. to pipeline the CPU part): -i ends the Edge TPU "
            "segment at 'relu_0', before op 1 FLOOR; 1 op on the Edge TPU, as now\n"
            "     run: edgetpu_compiler -i relu_0 broken_chain.tflite\n") in text


def test_full_renders_compiled_info_and_memory_panels(doc) -> None:
    m = doc["models"][0]
    m["memory"] = {"cached_bytes": 7_225_344, "streamed_bytes": 179_200, "parameter_bytes": 7_404_544,
                   "on_chip_budget_bytes": 8_388_608, "largest_activation": {"name": "conv", "bytes": 1024},
                   "uncertainty_pct": 15, "method": "sum of mapped weights"}
    m["compiled_info"] = {"edgetpu_subgraphs": 1, "compiler_version": "16.0.384591198", "chip_ids": [18, 19],
                          "executables": [{"type": "PARAMETER_CACHING", "inputs": []},
                                          {"type": "EXECUTION_ONLY", "inputs": [{"name": "x"}], "shape": [1, 2]}]}
    text = render(doc, RenderOptions(format="full"))
    assert "On-chip memory used for caching model parameters: 6.89MiB (estimated)\n" in text
    assert "Off-chip memory used for streaming uncached model parameters: 175.00KiB (estimated)\n" in text
    assert ("\nCompiled model:\n  CPU ops: 0\n  Compiler version: 16.0.384591198\n  Chip IDs: 18, 19\n"
            "  Executables 1: type=PARAMETER_CACHING, inputs=[]\n"
            "  Executables 2: type=EXECUTION_ONLY, inputs=1 item, shape=[1,2]\n") in text
    assert ("\nOn-chip memory:\n  Parameters: 7.06MiB in total (estimated, ±15%)\n"
            "  Cached on chip: 6.89MiB of a 8.00MiB budget\n  Streamed per inference: 175.00KiB\n"
            "  Largest activation: conv (1.00KiB)\n  Method: sum of mapped weights\n") in text


def test_concise_colour_marks_code_by_severity(doc) -> None:
    text = render(doc, RenderOptions(format="concise", color=True))
    assert "\x1b[1mbroken_chain.tflite\x1b[0m: op 1 FLOOR (floor_1): \x1b[31mTPU100\x1b[0m" in text
    assert "\x1b" not in render(doc, RenderOptions(format="concise"))


class _Stdout(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(("tty", "env", "expected"), [
    (True, {}, True), (False, {}, False), (True, {"NO_COLOR": "1"}, False), (True, {"NO_COLOR": ""}, True),  # no-color.org: empty means unset
    (True, {"TERM": "dumb"}, False),
])
def test_colour_only_on_a_tty_and_never_with_no_color(monkeypatch, tty, env, expected) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(sys, "stdout", _Stdout(tty))
    assert cli._use_color() is expected


def test_hostile_names_are_escaped_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    evil = "evil\x1b]0;pwned\x07\u202e.tflite"
    Path(evil).write_bytes(hostile_model())
    doc = with_findings(make_doc([evil]), [finding(message=f"tensor {HOSTILE!r} breaks\x9b2J")])
    assert render(doc, RenderOptions(format="concise")) == (
        "evil\\x1b]0;pwned\\x07\\u202e.tflite: op 1 FLOOR (<script>alert(1)</script>\\x1b[31m%0A\\x0d\\x0a::error::x,y|`*_): "
        "TPU100 tensor '<script>alert(1)</script>\\x1b[31m%0A\\r\\n::error::x,y|`*_' breaks\\x9b2J\n"
        "evil\\x1b]0;pwned\\x07\\u202e.tflite: 1/3 ops on the Edge TPU, 2 on the CPU, "
        "1 Edge TPU subgraph; partially mapped\n")
    full = render(doc, RenderOptions(format="full"))
    assert "\x1b" not in full and "\x07" not in full and "\u202e" not in full and "\r" not in full
    assert "  op    1 FLOOR                    <script>alert(1)</script>\\x1b[31m%0A\\x0d\\x0a::error::x,y|`*_: " \
           "Operation not supported\n" in full


def _run_in_pty(args: list[str], env: dict[str, str]) -> bytes:
    import os
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI, its stdout a terminal
        os.execvpe(sys.executable, [sys.executable, "-m", "tpulint", *args], env)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    os.close(fd)
    return out


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_cli_colours_a_real_terminal_unless_no_color() -> None:
    import os

    from render_support import FIXTURES, ROOT

    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(TERM="xterm", PYTHONPATH=str(ROOT))
    model = str(FIXTURES / "broken_chain.tflite")
    assert b"\x1b[31mTPU100\x1b[0m" in _run_in_pty([model], env)
    assert b"\x1b[" not in _run_in_pty([model], dict(env, NO_COLOR="1"))
