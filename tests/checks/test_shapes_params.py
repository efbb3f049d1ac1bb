"""TPU3xx shapes and TPU4xx constant parameters on generated models: exact (code, op) sets."""

from __future__ import annotations

import numpy as np
import pytest

from tpulint.analysis import analyze_model
from tpulint.config import Config
from tpulint.model import read_model
from checks.rulecase import Case, Q, bad, found, good, unary
from tpulint.testing import ModelBuilder


def rank5() -> ModelBuilder:
    return unary("RELU", [1, 2, 4, 4, 4])


def rank5_unit() -> ModelBuilder:
    return unary("RELU", [1, 1, 4, 4, 4])


def batch2() -> ModelBuilder:
    return unary("RELU", [2, 8, 8, 4])


def batch1() -> ModelBuilder:
    return unary("RELU", [1, 8, 8, 4])


def scalar_quantize() -> ModelBuilder:  # the unsized outputs of a detection post-process (corpus clsandoval)
    return unary("QUANTIZE", [], out_dtype="uint8")


def vector_quantize() -> ModelBuilder:
    return unary("QUANTIZE", [1], out_dtype="uint8")


def fc(weights_from_op: bool) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 16], "int8", quant=Q)
    if weights_from_op:
        b.tensor("w_in", [8, 16], "int8", quant=Q)
        b.tensor("w", [8, 16], "int8", quant=Q)
        b.op("RELU", ["w_in"], ["w"])
        inputs = ["x", "w_in"]
    else:
        b.tensor("w", [8, 16], "int8", quant=Q, data=np.ones((8, 16), np.int8))
        inputs = ["x"]
    b.tensor("bias", [8], "int32", data=np.zeros(8, np.int32))
    b.tensor("y", [1, 8], "int8", quant=Q)
    b.op("FULLY_CONNECTED", ["x", "w", "bias"], ["y"])
    return b.io(inputs, ["y"])


def runtime_weights() -> ModelBuilder:
    return fc(True)


def constant_weights() -> ModelBuilder:
    return fc(False)


def conv_runtime_weights() -> ModelBuilder:
    """A CONV_2D whose int8 weights are another op's output: on every compiler, and no other per-op rule fires."""
    b = ModelBuilder()
    b.tensor("x", [1, 8, 8, 4], "int8", quant=Q)
    b.tensor("w_in", [1, 1, 1, 4], "int8", quant=Q)  # one output channel: no batch dimension > 1 (TPU301)
    b.tensor("w", [1, 1, 1, 4], "int8", quant=Q)
    b.tensor("bias", [1], "int32", data=np.zeros(1, np.int32))
    b.tensor("y", [1, 8, 8, 1], "int8", quant=Q)
    b.op("RELU", ["w_in"], ["w"])
    b.op("CONV_2D", ["x", "w", "bias"], ["y"], padding="SAME", stride_w=1, stride_h=1)
    return b.io(["x", "w_in"], ["y"])


CASES = [
    bad("TPU300", rank5, 0),
    good("TPU300", rank5_unit),
    good("TPU300", batch2),  # batch alone is TPU301
    bad("TPU301", batch2, 0),
    bad("TPU302", scalar_quantize, 0),
    good("TPU302", vector_quantize),
    good("TPU301", batch1),
    # Activation weights: refused by compiler 2.0 (#25), mapped by 16.0 (corpus ext_redax_*), unobserved between.
    good("TPU400", runtime_weights),
    bad("TPU400", runtime_weights, 1, compiler="2.0"),
    bad("TPU400", runtime_weights, 1, compiler="15.0"),
    good("TPU400", constant_weights),
    good("TPU400", constant_weights, compiler="2.0"),
    bad("TPU400", conv_runtime_weights, 1),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule_case(case: Case, tmp_path) -> None:
    assert found(case, tmp_path) == set(case.expected)


@pytest.mark.parametrize(("compiler", "confidence"), [("2.0", "observed"), ("14.1", "heuristic"),
                                                      ("15.0", "heuristic")])
def test_activation_weights_confidence_follows_the_compiler_evidence(tmp_path, compiler, confidence) -> None:
    path = tmp_path / "fc.tflite"
    path.write_bytes(runtime_weights().build())
    report = analyze_model(read_model(path), Config(compiler=compiler, select=("TPU400",)))
    (finding,) = report.findings
    assert str(finding.confidence) == confidence
    assert ("compiler 16.0 maps it" in finding.message) == (confidence == "heuristic")
    assert report.main.placements[1].placement == "cpu"
