"""Presentation helpers shared by the renderers: verdicts, sizes, and generic key/value views of optional panels."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tpulint.compiled import compiler_version_text
from tpulint.memory import _ITEMSIZE
from tpulint.units import size

EDGETPU_OP = "edgetpu-custom-op"  # the custom code of the ops a compiled model runs on the Edge TPU

# Optional per-model panels the report may carry (dicts filled by the compiled-model and memory analyses).
PANELS = (("compiled_info", "Compiled model"), ("memory", "On-chip memory"))


def op_counts(m: dict[str, Any]) -> tuple[int, int, int] | None:
    """(Edge TPU ops, CPU ops, ops) counted in source ops: for a compiled model those of its source model, or
    None without it (an edgetpu-custom-op holds many ops: counting it as one would understate the Edge TPU part)."""
    if m["error"] is not None:
        return None
    if m.get("compiled"):
        source = (m.get("compiled_info") or {}).get("source")
        return (source["tpu_ops"], source["cpu_ops"], source["ops"]) if source else None
    s = m["summary"]
    return s["tpu_ops"], s["cpu_ops"], s["ops"]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def compiled_verdict(m: dict[str, Any]) -> str:
    """What a compiled file holds, in its own terms: custom ops and the source ops in them, CPU ops, runtime."""
    info = m.get("compiled_info") or {}
    custom = info.get("edgetpu_subgraphs", m["summary"]["tpu_subgraphs"])
    cpu = info.get("cpu_ops", m["summary"]["cpu_ops"])
    source = info.get("source")
    head = f"compiled: {_plural(custom, 'Edge TPU custom op')}"
    if source:
        head += f" holding {source['tpu_ops']} of the source model's {source['ops']} ops"
    head += f", {_plural(cpu, 'op')} on the CPU"
    runtime = info.get("min_runtime_version")
    if runtime is not None:
        head += f"; needs Edge TPU runtime {runtime} or newer"
    if not source:
        head += " (source ops per custom op: give the uncompiled model with --source)"
    return head


def verdict(m: dict[str, Any]) -> str:
    """One line saying what the compiler will do with the model (or, for a compiled model, what it did)."""
    if m["error"] is not None:
        return f"not analysed: {m['error']['message']}"
    if m.get("compiled"):
        return compiled_verdict(m)
    s = m["summary"]
    return (f"{s['tpu_ops']}/{s['ops']} ops on the Edge TPU, {s['cpu_ops']} on the CPU, "
            f"{s['tpu_subgraphs']} Edge TPU subgraph{'' if s['tpu_subgraphs'] == 1 else 's'}; {verdict_head(m)}")


def verdict_head(m: dict[str, Any]) -> str:
    """The verdict in two or three words: "fully mapped", "partially mapped", "will NOT compile"..."""
    if m["error"] is not None:
        return "not analysed"
    s = m["summary"]
    if not m["compilable"]:
        return "will NOT compile"
    if s["ops"] and s["tpu_ops"] == s["ops"]:
        return "fully mapped"
    return "nothing maps" if s["tpu_ops"] == 0 else "partially mapped"


@dataclass(frozen=True, slots=True)
class BoundaryTensor:
    name: str
    shape: str  # int8[1x8x8x4]
    bytes: int | None  # None when a dimension is dynamic


@dataclass(frozen=True, slots=True)
class SegmentView:
    """One Edge TPU subgraph as the reports show it: its ops and the tensors crossing its boundary."""

    subgraph: int
    number: int  # 1-based, over the model
    ops: tuple[int, ...]
    inputs: tuple[BoundaryTensor, ...]
    outputs: tuple[BoundaryTensor, ...]

    @property
    def op_ranges(self) -> str:
        """`0-5, 7, 9-12`."""
        return op_ranges(self.ops)

    @property
    def transfer_bytes(self) -> int | None:
        sizes = [t.bytes for t in (*self.inputs, *self.outputs)]
        return None if None in sizes else sum(s for s in sizes if s is not None)


def op_ranges(ops: "tuple[int, ...] | list[int]") -> str:
    runs: list[list[int]] = []
    for i in sorted(ops):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def segment_views(m: dict[str, Any]) -> list[SegmentView]:
    """The model's Edge TPU subgraphs, with each boundary tensor's shape and size (each crossing is a
    transfer between the host and the Edge TPU). One pass over the ops, keeping only the boundary tensors."""
    wanted = {(s["subgraph"], n) for s in m["segments"] for n in (*s["inputs"], *s["outputs"])}
    tensors: dict[tuple[int, str], dict[str, Any]] = {}
    if wanted:
        for op in m["ops"]:
            sg = op["subgraph"]
            for t in (*op["inputs"], *op["outputs"]):
                key = (sg, t["name"])
                if key in wanted and key not in tensors:
                    tensors[key] = t

    def boundary(sg: int, name: str) -> BoundaryTensor:
        t = tensors.get((sg, name))
        if t is None:
            return BoundaryTensor(name, "?", None)
        shape = f"{t['dtype']}[{'x'.join(str(d) for d in t['shape'])}]"
        known = all(d >= 0 for d in t["shape"])
        n = _ITEMSIZE.get(t["dtype"], 1)
        for d in t["shape"]:
            n *= d
        return BoundaryTensor(name, shape, n if known else None)

    return [SegmentView(s["subgraph"], number, tuple(s["ops"]), tuple(boundary(s["subgraph"], n) for n in s["inputs"]),
                        tuple(boundary(s["subgraph"], n) for n in s["outputs"]))
            for number, s in enumerate(m["segments"], 1)]


def op_lookup(m: dict[str, Any]) -> Callable[[int, int], "dict[str, Any] | None"]:
    """`get(subgraph, index)`: one op of the model, without a scan per call (OpRows builds it; a list is
    indexed once, on the first call)."""
    ops = m["ops"]
    at = getattr(ops, "at", None)
    if at is not None:
        return at  # type: ignore[no-any-return]
    index: dict[tuple[int, int], dict[str, Any]] = {}

    def get(subgraph: int, i: int) -> dict[str, Any] | None:
        if not index:
            index.update(((o["subgraph"], o["index"]), o) for o in ops)
        return index.get((subgraph, i))

    return get


def tensor_size(n: int | None) -> str:
    return "size unknown (dynamic shape)" if n is None else size(n)


def suggestion_heads(advice: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """("1. +24 ops:", suggestion) for the ranked fixes; ("-", suggestion) for a split that is not a fix."""
    rank = 0
    for s in advice:
        if s["gain"] > 0:
            rank += 1
            yield f"{rank}. +{s['gain']} op{'s' if s['gain'] != 1 else ''}:", s
        else:
            yield "-", s


_WORDS = {"edgetpu": "Edge TPU", "cpu": "CPU", "tpu": "TPU", "pct": "%", "id": "ID", "ids": "IDs"}


def label(key: str) -> str:
    """`cached_parameter_bytes` -> `Cached parameter bytes`; `edgetpu_subgraphs` -> `Edge TPU subgraphs`."""
    words = [_WORDS.get(w, w) for w in key.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def value(key: str, v: Any) -> str:
    """A scalar or a short list as text; byte counts get the compiler's units too."""
    if isinstance(v, bool) or v is None:
        return {True: "yes", False: "no", None: "-"}[v]
    if isinstance(v, (int, float)) and key.endswith("bytes"):
        return f"{size(v)} ({v:,} B)"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return ", ".join(_short(x) for x in v) or "-"
    if isinstance(v, dict):
        return _inline(v)
    return str(v)


def _inline(item: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_short(x)}" for k, x in item.items())


def _short(v: Any) -> str:
    """A nested value in one token: lists of scalars in brackets, deeper structures by their size."""
    if isinstance(v, list):
        if all(not isinstance(x, (dict, list)) for x in v):
            return "[" + ",".join(str(x) for x in v) + "]"
        return f"{len(v)} item{'s' if len(v) != 1 else ''}"
    if isinstance(v, dict):
        return f"{{{len(v)} keys}}"
    return str(v)


def panels(m: dict[str, Any]) -> list[tuple[str, "PanelRows"]]:
    """(title, rows) of the optional panels a model entry carries, in display order; the rows are made as
    they are read (a 100,000-op chain's memory panel lists 85,000 streamed layers)."""
    out = []
    for key, title in PANELS:
        data = m.get(key)
        if data:
            out.append((title, PanelRows(memory_rows if key == "memory" else compiled_rows, data)))
    return out


class PanelRows:
    """The (label, text) rows of one panel, made from its data on each pass."""

    __slots__ = ("_make", "_data")

    def __init__(self, make: Callable[[dict[str, Any]], Iterator[tuple[str, str]]], data: dict[str, Any]) -> None:
        self._make = make
        self._data = data

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return self._make(self._data)


# Package generation (its min_runtime_version) -> the compilers seen writing it in the real-compiler corpus.
_GENERATION_SEEN = {12: "compilers 2.0, 2.1 and 15.0", 14: "compiler 16.0 (its default -m 14)"}


def compiled_rows(info: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The compiled model in its own terms: custom ops (and what each holds), CPU ops, runtime, generation."""
    source = info.get("source")
    per = (source or {}).get("per_edgetpu_op")
    for n, op in enumerate(info.get("edgetpu_ops") or [], 1):
        kinds = op.get("executable_types") or []
        text = f"op {op['op']}: {_plural(len(kinds), 'executable')} ({', '.join(kinds) or '-'})"
        if per is not None and n <= len(per):
            text += f", {_plural(per[n - 1], 'source op')}"
        if op.get("problem"):
            text += f"; cannot be read: {op['problem']}"
        yield f"Edge TPU custom op {n}", text
    yield "CPU ops", str(info.get("cpu_ops", 0))
    if source:
        yield "Source model", (f"{source['path']}: {source['tpu_ops']}/{source['ops']} ops on the Edge TPU, "
                               f"{source['cpu_ops']} on the CPU (mapped by {source['method']})")
    runtime = info.get("min_runtime_version")
    if runtime is not None:
        seen = _GENERATION_SEEN.get(runtime)
        yield "Minimum runtime", str(runtime)
        yield "Package generation", f"runtime {runtime}" + (f", as written by {seen}" if seen else "")
    version = info.get("compiler_version")
    yield "Compiler version", compiler_version_text(version if isinstance(version, list) else [version])
    skip = {"edgetpu_subgraphs", "cpu_ops", "min_runtime_version", "compiler_version", "edgetpu_ops", "source"}
    yield from panel_rows({k: v for k, v in info.items() if k not in skip and not (k == "problems" and not v)})


def memory_figures(mem: dict[str, Any]) -> tuple[int | None, int | None]:
    """(cached, streamed) parameter bytes: the model's share of the cache when it is co-compiled, else its own."""
    co = mem.get("co_compile")
    source = co if co else mem
    return source.get("cached_bytes"), source.get("streamed_bytes")


def memory_rows(mem: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The memory estimate in words: how much is cached on chip, how much is streamed, and why."""
    measured = mem.get("source") == "package"
    how = "read from the compiled package" if measured else f"estimated, ±{mem.get('uncertainty_pct', 0)}%"
    co = mem.get("co_compile")
    cached, streamed = memory_figures(mem)
    if "parameter_bytes" in mem:
        yield "Parameters", f"{size(mem['parameter_bytes'])} in total ({how})"
    if cached is not None:
        budget = mem.get("on_chip_budget_bytes")
        shared = f" shared by {len(co['models'])} co-compiled models" if co else ""
        yield "Cached on chip", size(cached) + (f" of a {size(budget)} budget{shared}" if budget else "")
    if streamed is not None:
        yield "Streamed per inference", size(streamed)
    if co:
        before = ", ".join(co["models"][:co["position"]])
        left = (f"after {before}, {size(co['remaining_before_bytes'])} of the cache was left for it" if before
                else f"compiled first, the whole {size(co['remaining_before_bytes'])} cache was free")
        yield "Co-compiled", (f"model {co['position'] + 1} of {len(co['models'])}; {left} (alone it would cache "
                              f"{size(mem['cached_bytes'])} and stream {size(mem['streamed_bytes'])})")
    for layer in mem.get("streamed_layers") or []:
        yield "Streamed layer", f"op {layer['op']} {layer['opcode']}: {size(layer['bytes'])} ({layer['reason']})"
    largest = mem.get("largest_activation")
    if largest:
        yield "Largest activation", f"{largest['name']} ({size(largest['bytes'])})"
    yield "Method", str(mem.get("method", "-"))


def panel_rows(data: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(label, text) rows of a panel dict: flat dicts are flattened ("Largest activation: name"), lists of
    dicts give one row per item ("Executables 1: type=EXECUTION_ONLY, ...")."""
    for key, v in data.items():
        name = f"{prefix}{label(key) if not prefix else key.replace('_', ' ')}"
        if isinstance(v, dict) and v and all(not isinstance(x, (dict, list)) for x in v.values()):
            yield from panel_rows(v, prefix=f"{prefix}{label(key)}: ")
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for i, item in enumerate(v, 1):
                yield f"{name} {i}", _inline(item)
        else:
            yield name, value(key, v)
