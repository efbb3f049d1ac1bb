"""No `{placeholder}` is left in any output: every format, every fixture, a compiled model, every compiler."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from edgetpu_package import compiled_model, custom_options, standard_package
from render_support import FIXTURES, make_doc

from tpulint import rule_command
from tpulint.config import COMPILERS
from tpulint.render import FORMATS, RenderOptions, render

PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def models(tmp_path: Path) -> list[str]:
    paths = [str(p) for p in sorted(FIXTURES.glob("*.tflite"))]
    compiled = tmp_path / "m_edgetpu.tflite"
    compiled.write_bytes(compiled_model(custom_options(standard_package())))
    return paths + [str(compiled)]


@pytest.mark.parametrize("compiler", COMPILERS)
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_no_placeholder_in_any_format(tmp_path: Path, fmt: str, compiler: str) -> None:
    text = render(make_doc(models(tmp_path), compiler=compiler), RenderOptions(format=fmt, root=str(tmp_path)))
    assert PLACEHOLDER.findall(text) == []


def test_no_placeholder_in_rule_docs(capsys: pytest.CaptureFixture[str]) -> None:
    for compiler in COMPILERS:
        assert rule_command.main(["--all", "--compiler", compiler]) == 0
        assert PLACEHOLDER.findall(capsys.readouterr().out) == []


def test_the_pattern_finds_one() -> None:
    assert PLACEHOLDER.findall("a {compiler} and {tensor_row_max_elements}, not { color: red }") == [
        "{compiler}", "{tensor_row_max_elements}"]
