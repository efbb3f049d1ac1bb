"""Helpers for the per-rule tests: tiny generated models, analysed with only the rule under test selected."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tpulint.analysis import analyze_model
from tpulint.config import Config
from tpulint.model import read_model
from tpulint.testing import ModelBuilder, array_paths

Q = (0.1, 0)


@dataclass(frozen=True)
class Case:
    """A model that violates (`bad`) or satisfies (`good`) rule `code`, and the exact (code, op) set expected."""

    code: str
    kind: str  # "bad" or "good"
    build: Callable[[], ModelBuilder]
    expected: frozenset[tuple[str, int | None]]
    config: tuple[tuple[str, Any], ...] = ()

    @property
    def id(self) -> str:
        return f"{self.code}-{self.kind}-{self.build.__name__}"


def bad(code: str, build: Callable[[], ModelBuilder], *ops: int | None, **config: Any) -> Case:
    return Case(code, "bad", build, frozenset((code, op) for op in ops), tuple(config.items()))


def good(code: str, build: Callable[[], ModelBuilder], **config: Any) -> Case:
    return Case(code, "good", build, frozenset(), tuple(config.items()))


def found(case: Case, tmp_path: Path) -> set[tuple[str, int | None]]:
    """(code, operator index) of every finding reported with only the case's rule selected; the array paths
    over the reader's columns must report the same findings."""
    path = tmp_path / "model.tflite"
    path.write_bytes(case.build().build())
    config = Config(select=(case.code,), **dict(case.config))
    report = analyze_model(read_model(path), config)
    assert all(f.code == case.code for f in report.findings)
    with array_paths():
        over_columns = analyze_model(read_model(path), config)
    assert over_columns.findings == report.findings
    return {(f.code, f.location.operator) for f in report.findings}


def unary(opcode: str, shape: list[int], out_shape: list[int] | None = None, dtype: str = "int8",
          out_dtype: str | None = None, b: ModelBuilder | None = None, **options: Any) -> ModelBuilder:
    """One op reading tensor "x" and writing "y"."""
    b = b or ModelBuilder()
    b.tensor("x", shape, dtype, quant=Q if dtype in ("int8", "uint8") else None)
    od = out_dtype or dtype
    b.tensor("y", out_shape or shape, od, quant=Q if od in ("int8", "uint8") else None)
    b.op(opcode, ["x"], ["y"], **options)
    return b.io(["x"], ["y"])


def const(b: ModelBuilder, name: str, values: Any, dtype: str = "int32") -> str:
    arr = np.asarray(values, dtype=dtype)
    b.tensor(name, list(arr.shape), dtype, data=arr)
    return name


def conv(b: ModelBuilder, x: str, y: str, shape_in: list[int], out_channels: int, kernel: tuple[int, int] = (3, 3),
         opcode: str = "CONV_2D", bias_dtype: str = "int32", **options: Any) -> None:
    """A CONV_2D (or DEPTHWISE_CONV_2D) with constant int8 weights and a constant bias."""
    cin = shape_in[-1]
    wshape = [out_channels, *kernel, cin] if opcode == "CONV_2D" else [1, *kernel, out_channels]
    b.tensor(f"{y}/w", wshape, "int8", quant=Q, data=np.ones(wshape, np.int8))
    b.tensor(f"{y}/b", [out_channels], bias_dtype, data=np.zeros(out_channels, bias_dtype))
    b.tensor(y, [*shape_in[:-1], out_channels], "int8", quant=Q)
    options.setdefault("padding", "SAME")
    options.setdefault("stride_w", 1)
    options.setdefault("stride_h", 1)
    b.op(opcode, [x, f"{y}/w", f"{y}/b"], [y], **options)
