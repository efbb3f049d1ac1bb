"""Leading CPU ops: input conversions (QUANTIZE, CAST) do not cut the segment; any other CPU op does (#342, #433)."""

from __future__ import annotations

from tpulint.analysis import analyze_model
from tpulint.config import Config
from tpulint.findings import MAPPED, MORE_THAN_ONE_SUBGRAPH
from tpulint.model import read_model_bytes
from tpulint.testing import ModelBuilder

Q = (0.1, 0)


def leading(opcode: str, in_dtype: str) -> ModelBuilder:
    b = ModelBuilder()
    b.tensor("image", [1, 8, 8, 4], in_dtype, quant=Q if in_dtype in ("int8", "uint8") else None)
    b.tensor("a", [1, 8, 8, 4], "int8" if opcode != "CAST" else "float32", quant=Q if opcode != "CAST" else None)
    b.op(opcode, ["image"], ["a"])
    prev = "a"
    if opcode == "CAST":  # uint8 -> float -> int8, as in MoveNet
        b.tensor("q", [1, 8, 8, 4], "int8", quant=Q)
        b.op("QUANTIZE", ["a"], ["q"])
        prev = "q"
    b.tensor("r", [1, 8, 8, 4], "int8", quant=Q)
    b.op("RELU", [prev], ["r"])
    b.tensor("side", [1, 8, 8, 4], "int8", quant=Q)
    b.tensor("c", [1, 8, 8, 4], "int8", quant=Q)
    b.op("CONCATENATION", ["r", "side"], ["c"], axis=3)
    return b.io(["image", "side"], ["c"])


def statuses(b: ModelBuilder) -> list[tuple[str, str]]:
    r = analyze_model(read_model_bytes(b.build()), Config())
    return [(p.placement, p.status) for p in r.main.placements]


def test_cast_and_float_quantize_before_the_start_do_not_block() -> None:
    assert statuses(leading("CAST", "uint8"))[2:] == [("tpu", MAPPED), ("tpu", MAPPED)]
    assert statuses(leading("QUANTIZE", "float32"))[1:] == [("tpu", MAPPED), ("tpu", MAPPED)]


def test_another_leading_cpu_op_cuts_off_what_depends_on_it() -> None:
    got = statuses(leading("FLOOR", "int8"))
    assert got[1:] == [("cpu", MORE_THAN_ONE_SUBGRAPH), ("cpu", MORE_THAN_ONE_SUBGRAPH)]
    r = analyze_model(read_model_bytes(leading("FLOOR", "int8").build()), Config())
    assert [p.blocked_by for p in r.main.placements] == [None, 0, 0]
    assert [(x.op, x.regained) for x in r.main.blockers] == [(0, 3)]
