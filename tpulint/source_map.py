"""A compiled model's Edge TPU custom ops mapped back to the ops of its uncompiled source model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from tpulint.model import Model

COMPILED_SUFFIX = "_edgetpu"


@dataclass(frozen=True, slots=True)
class SourceMap:
    """How many source ops each edgetpu-custom-op holds, and what that makes of the source's op counts."""

    path: str
    ops: int  # ops of the source model (all subgraphs)
    tpu_ops: int  # source ops inside the Edge TPU custom ops
    per_edgetpu_op: tuple[int, ...] | None  # source ops per custom op, in file order; None when names do not match
    method: str

    @property
    def cpu_ops(self) -> int:
        return self.ops - self.tpu_ops

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "ops": self.ops, "tpu_ops": self.tpu_ops, "cpu_ops": self.cpu_ops,
                "per_edgetpu_op": list(self.per_edgetpu_op) if self.per_edgetpu_op is not None else None,
                "method": self.method}


def sibling_source(path: str) -> str | None:
    """`dir/name.tflite` for `dir/name_edgetpu.tflite` when that file exists (the compiler's naming), else None."""
    stem, ext = os.path.splitext(path)
    if not stem.endswith(COMPILED_SUFFIX):
        return None
    candidate = stem[:-len(COMPILED_SUFFIX)] + ext
    return candidate if os.path.isfile(candidate) else None


def map_to_source(compiled: Model, source: Model) -> SourceMap:
    """Source ops per edgetpu-custom-op: those between the custom op's input and output tensors, by name.

    The compiler keeps the boundary tensors' names and copies every CPU op unchanged, so where a name does not
    match (older compilers renamed boundary tensors), the count falls back to the source's ops less the CPU ops
    left in the compiled file.
    """
    src = source.main
    by_name = {t.name: t.index for t in src.tensors}
    producer = [-1] * len(src.tensors)
    for op in src.operators:
        for t in op.outputs:
            if 0 <= t < len(producer):
                producer[t] = op.index
    total = sum(len(sg.operators) for sg in source.subgraphs)
    cpu_left = sum(1 for sg in compiled.subgraphs for op in sg.operators if not op.is_edgetpu)
    fallback = SourceMap(source.path, total, max(total - cpu_left, 0), None,
                         "source ops less the CPU ops left in the compiled file")
    main = compiled.main
    counts: list[int] = []
    inside: set[int] = set()
    for op in main.operators:
        if not op.is_edgetpu:
            continue
        ins = {main.tensors[t].name for t in op.inputs if t >= 0}
        outs = [main.tensors[t].name for t in op.outputs]
        if not outs or any(name not in by_name for name in outs):
            return fallback
        held = _between(src, producer, {by_name[n] for n in ins if n in by_name}, [by_name[n] for n in outs])
        if held is None:
            return fallback
        counts.append(len(held))
        inside |= held
    if len(inside) + cpu_left != total:  # some op is neither inside nor left on the CPU: names are ambiguous
        return fallback
    return SourceMap(source.path, total, len(inside), tuple(counts), "boundary tensor names")


def _between(src: Any, producer: list[int], inputs: set[int], outputs: list[int]) -> set[int] | None:
    """Source ops from the output tensors back to the input tensors (None when the walk reaches a graph input
    that is not one of them: then the names do not describe this custom op)."""
    held: set[int] = set()
    stack = list(outputs)
    seen: set[int] = set()
    while stack:
        t = stack.pop()
        if t in seen or t in inputs:
            continue
        seen.add(t)
        p = producer[t]
        if p < 0:
            if not src.tensors[t].is_constant:
                return None
            continue
        if p not in held:
            held.add(p)
            stack.extend(i for i in src.operators[p].inputs if i >= 0)
    return held


__all__ = ["SourceMap", "map_to_source", "sibling_source", "COMPILED_SUFFIX"]
