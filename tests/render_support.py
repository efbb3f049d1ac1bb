"""Helpers for the renderer tests: documents from generated fixtures with scrubbed, relative paths."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tpulint.testing import ModelBuilder

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
GOLDEN_MODELS = ("broken_chain.tflite", "custom_op.tflite", "int8_cnn.tflite", "float_model.tflite")
SCRIPT = "<script>alert(1)</script>"
# Every channel's metacharacters in one name: HTML, ANSI/terminal, GitHub workflow commands, Markdown tables.
HOSTILE = "<script>alert(1)</script>\x1b[31m%0A\r\n::error::x,y|`*_"


def hostile_model() -> bytes:
    """An int8 chain cut by a FLOOR whose tensors carry hostile names; ops before and after it are mappable."""
    b = ModelBuilder()
    q = (0.05, 0)
    b.tensor("input", [1, 8, 8, 4], "int8", quant=q)
    b.tensor(SCRIPT, [1, 8, 8, 4], "int8", quant=q)
    b.op("RELU", ["input"], [SCRIPT])
    b.tensor(HOSTILE, [1, 8, 8, 4], "int8", quant=q)
    b.op("FLOOR", [SCRIPT], [HOSTILE])
    b.tensor("w", [4, 1, 1, 4], "int8", quant=(0.02, 0), data=np.ones(16, np.int8))
    b.tensor("out", [1, 8, 8, 4], "int8", quant=q)
    b.op("CONV_2D", [HOSTILE, "w", None], ["out"], padding="SAME", stride_w=1, stride_h=1)
    b.io(["input"], ["out"])
    return b.build()


def copy_fixtures(dest: Path, names: tuple[str, ...] = GOLDEN_MODELS) -> list[str]:
    for name in names:
        shutil.copy(FIXTURES / name, dest / name)
    return list(names)


def make_doc(paths: list[str], failures: tuple[tuple[str, str], ...] = (), **options: Any) -> dict[str, Any]:
    """The JSON document for `paths` (relative to the current folder), with the tool version scrubbed."""
    from tpulint.analysis import analyze_model
    from tpulint.config import Config, merge
    from tpulint.model import read_model
    from tpulint.report import ModelFailure, document

    cfg = merge(Config(), **options)
    results: list[Any] = [analyze_model(read_model(p), cfg) for p in paths]
    results += [ModelFailure(p, why) for p, why in failures]
    doc = document(results, cfg)
    doc["tool"]["version"] = "VERSION"
    return doc


def finding(code: str = "TPU100", severity: str = "error", message: str = "FLOOR is not supported",
            operator: int | None = 1, op_type: str | None = "FLOOR", tensor: int | None = 2,
            tensor_name: str | None = HOSTILE, fix: str | None = None, effect: str = "cpu") -> dict[str, Any]:
    """A finding dict as the report emits it; used where a test must not depend on the rule set's wording."""
    return {
        "code": code, "name": "unsupported-op", "severity": severity, "confidence": "documented", "effect": effect,
        "message": message, "status": "Operation not supported", "fix": fix,
        "location": {"subgraph": 0, "operator": operator, "op_type": op_type, "tensor": tensor,
                     "tensor_name": tensor_name},
        "fingerprint": f"{code.lower()}{operator}".ljust(32, "0"),
    }


def with_findings(doc: dict[str, Any], findings: list[dict[str, Any]], model: int = 0) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["models"][model]["findings"] = findings
    return doc
