"""What the JSON path imports: neither tflite, numpy, networkx nor jinja2 (README "Performance and hostile
input"), even when rules read constant values; and the constants read without numpy equal numpy's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from checks.rulecase import Q, const
from tpulint.checks._base import integer_values
from tpulint.checks._constants import ConstantReader
from tpulint.model import read_model, read_model_bytes
from tpulint.testing import ModelBuilder

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "real"
HEAVY = ("tflite", "numpy", "networkx", "jinja2")

# The CLI in a child, then the heavy modules it imported, on stderr's last line.
_CHILD = """import atexit, runpy, sys
atexit.register(lambda: print(sorted(m for m in sys.modules if m.split('.')[0] in sys.argv[1].split(',')),
                              file=sys.stderr))
sys.argv = ['tpulint', *sys.argv[2:]]
runpy.run_module('tpulint', run_name='__main__')
"""


def heavy_imports(*args: str) -> tuple[list[str], str]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, ",".join(HEAVY), "--isolated", *args],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode in (0, 1), proc.stderr
    return eval(proc.stderr.strip().splitlines()[-1]), proc.stdout  # noqa: S307 - our own child's list


def reads_constants() -> bytes:
    """STRIDED_SLICE with strides 2, PAD of the batch, SPLIT on a constant axis: rules read all three."""
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "int8", quant=Q)
    const(b, "begin", [0, 0, 0, 0])
    const(b, "end", [1, 8, 8, 4])
    const(b, "strides", [1, 2, 2, 1])
    b.tensor("s", [1, 4, 4, 4], "int8", quant=Q)
    b.op("STRIDED_SLICE", ["x", "begin", "end", "strides"], ["s"])
    const(b, "pads", [[1, 1], [0, 0], [0, 0], [0, 0]])
    b.tensor("p", [3, 4, 4, 4], "int8", quant=Q)
    b.op("PAD", ["s", "pads"], ["p"])
    const(b, "axis", [0])
    b.tensor("a", [1, 4, 4, 4], "int8", quant=Q)
    b.tensor("c", [2, 4, 4, 4], "int8", quant=Q)
    b.op("SPLIT", ["axis", "p"], ["a", "c"], num_splits=2)
    return b.io(["x"], ["a", "c"]).build()


def test_json_path_reading_constants_imports_no_heavy_module(tmp_path: Path) -> None:
    model = tmp_path / "m.tflite"
    model.write_bytes(reads_constants())
    imported, out = heavy_imports("--format", "json", str(model))
    assert imported == []
    messages = [f["message"] for f in json.loads(out)["models"][0]["findings"]]
    assert any("strides [1, 2, 2, 1]" in m for m in messages)  # the constants were read
    assert any("pads the batch" in m for m in messages)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="no corpus beside the project")
def test_json_path_on_a_corpus_yolo_model_imports_no_heavy_module() -> None:
    yolo = sorted(CORPUS.glob("ext_yolov8*/*_full_integer_quant.tflite"))
    if not yolo:
        pytest.skip("no YOLO model in the corpus")
    imported, _ = heavy_imports("--format", "json", str(yolo[0]))
    assert imported == []


@pytest.mark.parametrize("dtype", ["int32", "int64", "int16", "int8", "uint8", "float32"])
def test_constants_read_without_numpy_are_numpys(dtype: str) -> None:
    values = np.array([0, 1, -1, 7, 100] if dtype != "uint8" else [0, 1, 255, 7, 100], dtype=dtype)
    if dtype == "float32":
        values = np.array([0.1, -0.0, float("nan"), float("inf"), 3.0], dtype=dtype)
    b = ModelBuilder()
    b.tensor("v", [5], dtype, data=values)
    b.tensor("x", [1], "int8", quant=Q)
    b.tensor("y", [1], "int8", quant=Q)
    b.op("ADD", ["x", "v"], ["y"])
    model = read_model_bytes(b.io(["x"], ["y"]).build(), "m.tflite")
    got = ConstantReader(model).values(model.subgraphs[0].tensors[0])
    assert got is not None
    assert repr(list(got)) == repr(values.tolist())  # same numbers, same types (float32 widened alike)
    assert (integer_values(got) is not None) == bool(np.isfinite(values).all())


def test_constants_from_a_reopened_file(tmp_path: Path) -> None:
    path = tmp_path / "m.tflite"
    path.write_bytes(reads_constants())
    model = read_model(path)
    reader = ConstantReader(model)
    strides = next(t for t in model.subgraphs[0].tensors if t.name == "strides")
    try:
        assert reader.values(strides) == (1, 2, 2, 1)
    finally:
        reader.close()
