"""Checks never raise on ops with missing inputs or outputs (the reader accepts such models)."""

from __future__ import annotations

import pytest

from tpulint.analysis import analyze_model
from tpulint.config import COMPILERS, Config
from tpulint.model import read_model_bytes
from tpulint.registry import all_rules
from tpulint.testing import ModelBuilder

TARGETED = sorted({op for r in all_rules() if r.opcodes for op in r.opcodes})


@pytest.mark.parametrize("compiler", COMPILERS)
def test_ops_without_operands(compiler: str) -> None:
    b = ModelBuilder()
    b.tensor("x", [1, 4, 4, 4], "int8", quant=(0.1, 0))
    b.tensor("y", [1, 4, 4, 4], "int8", quant=(0.1, 0))
    for opcode in TARGETED:
        b.op(opcode, [], [])
        b.op(opcode, [None], ["y"] if opcode == TARGETED[0] else [])
        b.op(opcode, ["x"], [])
    b.io(["x"], ["y"])
    report = analyze_model(read_model_bytes(b.build()), Config(compiler=compiler))
    assert len(report.main.placements) == 3 * len(TARGETED)
