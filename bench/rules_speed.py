"""Time the rule checks on a generated 30,000-op model against a bare walk of it with the `tflite` accessors.

    python bench/rules_speed.py [--ops N]

Issue 7's budget for the whole analysis is 0.25x the bare walk; the rules' share is about 2-3 us per op.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import tflite  # noqa: E402

from tpulint.checks import run_checks  # noqa: E402
from tpulint.config import Config  # noqa: E402
from tpulint.graph import Graph  # noqa: E402
from tpulint.model import read_model_bytes  # noqa: E402
from tpulint.testing import ModelBuilder  # noqa: E402

Q = (0.1, 0)


def build(n: int) -> bytes:
    """A chain cycling CONV_2D, RELU, ADD, LOGISTIC, MUL on int8[1, 16, 16, 8]."""
    b = ModelBuilder()
    b.tensor("t0", [1, 16, 16, 8], "int8", quant=Q)
    b.tensor("w", [8, 3, 3, 8], "int8", quant=Q, data=np.ones((8, 3, 3, 8), np.int8))
    b.tensor("bias", [8], "int32", data=np.zeros(8, np.int32))
    for i in range(n):
        prev, name = f"t{i}", f"t{i + 1}"
        b.tensor(name, [1, 16, 16, 8], "int8", quant=Q)
        kind = i % 5
        if kind == 0:
            b.op("CONV_2D", [prev, "w", "bias"], [name], padding="SAME", stride_w=1, stride_h=1)
        elif kind in (2, 4):
            b.op("ADD" if kind == 2 else "MUL", [prev, prev], [name])
        else:
            b.op("RELU" if kind == 1 else "LOGISTIC", [prev], [name])
    return b.io(["t0"], [f"t{n}"]).build()


def bare_walk(data: bytes) -> None:
    m = tflite.Model.GetRootAsModel(data, 0)
    sg = m.Subgraphs(0)
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        m.OperatorCodes(op.OpcodeIndex()).BuiltinCode()
        for j in range(op.InputsLength()):
            t = sg.Tensors(op.Inputs(j))
            t.ShapeAsNumpy(), t.Type()
        for j in range(op.OutputsLength()):
            t = sg.Tensors(op.Outputs(j))
            t.ShapeAsNumpy(), t.Type()


def best_of(repeat: int, func, *args) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=30_000)
    args = parser.parse_args()
    data = build(args.ops)
    model = read_model_bytes(data)
    graphs = [Graph.build(sg) for sg in model.subgraphs]
    config = Config()
    run_checks(model, graphs, config)  # warm: profile loaded and validated once per process
    rules = best_of(5, run_checks, model, graphs, config)
    walk = best_of(3, bare_walk, data)
    print(f"rules: {rules * 1e3:.1f} ms ({rules / args.ops * 1e6:.2f} us/op); bare tflite walk: {walk * 1e3:.1f} ms "
          f"({walk / args.ops * 1e6:.2f} us/op); rules/walk = {rules / walk:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
