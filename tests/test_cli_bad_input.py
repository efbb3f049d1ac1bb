"""Bad input never crashes: one line on stderr naming the file and the problem, exit 2, other files still done."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES
from tpulint.testing import ModelBuilder, int8_cnn


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tpulint", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "NO_COLOR": "1"})


def _one_bad_op(**tensor_or_op: object) -> bytes:
    b = ModelBuilder()
    b.tensor("x", [1, 4], "int8", buffer_index=tensor_or_op.get("buffer_index"))  # type: ignore[arg-type]
    b.tensor("y", [1, 4], "int8")
    b.op("RELU", [tensor_or_op.get("input", "x")], ["y"], opcode_index=tensor_or_op.get("opcode_index"))  # type: ignore[arg-type]
    return b.build()


GOOD = int8_cnn().build()

BAD_FILES = {
    "truncated.tflite": (GOOD[: len(GOOD) // 2], "corrupt model"),
    "empty.tflite": (b"", "empty file"),
    "random.tflite": (random.Random(7).randbytes(3000), "not a TFLite model"),
    "image.tflite": (b"\x89PNG\r\n\x1a\n" + bytes(200), "not a TFLite model: this is a PNG image"),
    "onnx.tflite": (b"\x08\x07\x12\x07pytorch\x1a\x052.1.0" + bytes(100), "not a TFLite model: this is an ONNX model"),
    "lfs.tflite": (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n",
                   "Git LFS pointer"),
    "tensor_index.tflite": (_one_bad_op(input=7), "refers to tensor 7, but there are only 2 tensors"),
    "opcode_index.tflite": (_one_bad_op(opcode_index=5), "uses operator code 5, but there are only 1"),
    "buffer_index.tflite": (_one_bad_op(buffer_index=9), "refers to buffer 9, but there are only 1 buffers"),
}


@pytest.fixture
def bad_dir(tmp_path: Path) -> Path:
    for name, (data, _) in BAD_FILES.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def assert_one_line_error(result: subprocess.CompletedProcess[str], path: str, expected: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"tpulint: {path}: ") and expected in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_gives_one_line_and_exit_2(bad_dir: Path, name: str) -> None:
    path = str(bad_dir / name)
    assert_one_line_error(run_cli(path), path, BAD_FILES[name][1])


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.tflite")
    assert_one_line_error(run_cli(path), path, "no such file")


def test_directory_without_models(tmp_path: Path) -> None:
    assert_one_line_error(run_cli(str(tmp_path)), str(tmp_path), "directory contains no *.tflite files")


def test_directory_named_like_a_model(tmp_path: Path) -> None:
    folder = tmp_path / "model.tflite"
    folder.mkdir()
    (folder / "inner.tflite").write_bytes(GOOD)
    result = run_cli(str(folder / "inner.tflite"), str(tmp_path / "model.tflite" / "missing.tflite"))
    assert result.returncode == 2 and "6/6 ops on the Edge TPU" in result.stdout


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "locked.tflite"
    path.write_bytes(GOOD)
    real_open = open

    def deny(file, *args, **kwargs):  # root ignores chmod 000, so deny the open itself
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    from tpulint.cli import main

    assert main([str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"tpulint: {path}: permission denied"]


def test_other_files_are_still_processed(bad_dir: Path) -> None:
    good = str(FIXTURES / "int8_cnn.tflite")
    paths = [str(bad_dir / n) for n in sorted(BAD_FILES)]
    result = run_cli(paths[0], good, *paths[1:])
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == len(BAD_FILES)
    assert f"{good}: 6/6 ops on the Edge TPU" in result.stdout
    assert "Traceback" not in result.stderr


def test_directory_is_searched_recursively(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.tflite").write_bytes(GOOD)
    (tmp_path / "top.tflite").write_bytes(GOOD)
    (tmp_path / "notes.txt").write_text("not a model")
    result = run_cli(str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if ".tflite: " in line]
    assert [line.split(":")[0] for line in lines] == [str(tmp_path / "a" / "b" / "deep.tflite"),
                                                       str(tmp_path / "top.tflite")]


def test_glob_pattern(tmp_path: Path) -> None:
    for name in ("one.tflite", "two.tflite"):
        (tmp_path / name).write_bytes(GOOD)
    result = run_cli(str(tmp_path / "*.tflite"))
    assert result.returncode == 0
    assert result.stdout.count("ops on the Edge TPU, ") == 2
    none = run_cli(str(tmp_path / "*.nothing"))
    assert_one_line_error(none, str(tmp_path / "*.nothing"), "no file matches this pattern")


def test_usage_errors_exit_2() -> None:
    assert run_cli().returncode == 2
    bad = run_cli("--compiler", "9.9", str(FIXTURES / "int8_cnn.tflite"))
    assert bad.returncode == 2 and bad.stderr.startswith("tpulint: unknown compiler version '9.9'")
    assert "Traceback" not in bad.stderr


def test_version() -> None:
    from tpulint import __version__

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"tpulint {__version__}"


def test_options_may_follow_the_paths() -> None:
    cnn, chain = str(FIXTURES / "int8_cnn.tflite"), str(FIXTURES / "broken_chain.tflite")
    result = run_cli(cnn, "--format", "json", chain, "--fail-on", "never")
    assert result.returncode == 0, result.stderr
    import json

    assert [m["path"] for m in json.loads(result.stdout)["models"]] == [cnn, chain]
