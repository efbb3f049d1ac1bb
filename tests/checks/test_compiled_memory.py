"""TPU8xx compiled-model and memory rules on generated models: exact (code, op) sets with only the rule selected."""

from __future__ import annotations

import pytest
from checks.rulecase import Case, bad, found, good

from edgetpu_package import compiled_builder, custom_options, standard_package
from tpulint.testing import ModelBuilder, int8_cnn


def compiled() -> ModelBuilder:
    return compiled_builder(custom_options(standard_package(min_runtime=14)), cpu_tail=False)


def damaged() -> ModelBuilder:
    pkg = standard_package()
    return compiled_builder(custom_options(pkg[:4] + b"XXXX" + pkg[8:]), cpu_tail=False)


def uncompiled() -> ModelBuilder:
    return int8_cnn().io(["input"], ["probs"])


def long_rows() -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("x", [1, 94400], "int8", quant=(0.5, 0))
    b.tensor("w", [1, 94400], "int8", quant=(0.01, 0), data=94400)
    b.tensor("b", [1], "int32", quant=(0.005, 0), data=4)
    b.tensor("y", [1, 1], "int8", quant=(0.5, 0))
    b.op("FULLY_CONNECTED", ["x", "w", "b"], ["y"])
    return b.io(["x"], ["y"])


CASES = [
    bad("TPU800", compiled, None),
    good("TPU800", uncompiled),
    bad("TPU801", damaged, 0),
    good("TPU801", compiled),
    bad("TPU802", compiled, 0, runtime_version=13),
    good("TPU802", compiled, runtime_version=14),
    bad("TPU810", long_rows, None),
    good("TPU810", uncompiled),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case: Case, tmp_path) -> None:
    assert found(case, tmp_path) == set(case.expected)
