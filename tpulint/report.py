"""The versioned JSON wire format (schema_version 1): plain data built from ModelReports, input of every renderer."""

from __future__ import annotations

import shlex
from typing import Any, Iterable, Iterator

from tpulint._version import __version__
from tpulint.analysis import ModelReport
from tpulint.config import Config
from tpulint.findings import Finding
from tpulint.model import Tensor

SCHEMA_VERSION = 1
DOCS_URL = "https://github.com/tpulint/tpulint/blob/main/docs/rules.md"


def document(results: Iterable["ModelReport | ModelFailure | dict[str, Any]"], config: Config) -> dict[str, Any]:
    """One document per run: the target, then one entry per model (a failed model carries `error`)."""
    # A dict is an entry already built by model_entry (in a worker process of `tpulint -j N`).
    models = [r if isinstance(r, dict) else r.to_dict() if isinstance(r, ModelFailure) else model_entry(r)
              for r in results]
    return {**header(config), "models": models, "rules": rules_of(models, config.compiler)}


def header(config: Config) -> dict[str, Any]:
    """The keys of the document that precede "models"."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "tpulint", "version": __version__},
        "target": target(config),
    }


def target(config: Config) -> dict[str, Any]:
    """The compiler options predicted: the run's in the header, each model's own (from the configuration
    found above it) in its entry."""
    return {
        "compiler": config.compiler,
        "min_runtime": config.runtime,
        "multiple_subgraphs": config.multiple_subgraphs,
        "intermediate_tensors": list(config.intermediate_tensors),
    }


def rules_of(models: Iterable[dict[str, Any]], compiler: str | None = None) -> dict[str, dict[str, Any]]:
    """The document's "rules": the metadata of every rule that fired in `models`, its text filled for `compiler`."""
    return rule_metadata(sorted({f["code"] for m in models for f in m["findings"]}), compiler)


def text(value: str) -> str:
    """`value` as valid Unicode: the lone surrogates Python uses for undecodable bytes of file names become
    backslash escapes (b"\\xff" -> "\\xff"), so every output channel, JSON included, stays valid."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class ModelFailure:
    """A path that could not be analysed, with the one-line reason."""

    __slots__ = ("path", "message")

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": text(self.path), "error": {"message": text(self.message)}, "target": None, "compiled": False,
            "compilable": False,
            "summary": {"ops": 0, "tpu_ops": 0, "cpu_ops": 0, "tpu_subgraphs": 0},
            "ops": [], "segments": [], "blockers": [], "advice": [], "findings": [], "compiled_info": None,
            "memory": None,
        }


def _tensor(t: Tensor) -> dict[str, Any]:
    return {"index": t.index, "name": t.name, "shape": list(t.shape), "dtype": t.dtype, "constant": t.is_constant}


def finding_entry(f: Finding) -> dict[str, Any]:
    loc = f.location
    return {
        "code": f.code,
        "name": f.name,
        "severity": str(f.severity),
        "confidence": str(f.confidence),
        "effect": str(f.effect),
        "message": f.message,
        "status": f.status,
        "fix": f.fix,
        "location": {
            "subgraph": loc.subgraph, "operator": loc.operator, "op_type": loc.op_type,
            "tensor": loc.tensor, "tensor_name": loc.tensor_name,
        },
        "fingerprint": f.fingerprint(),
    }


def model_entry(r: ModelReport) -> dict[str, Any]:
    return _entry(r, list(_op_entries(r, shared=True)), lazy=False)


def streamed_entry(r: ModelReport) -> dict[str, Any]:
    """model_entry(r) with "ops" as OpRows, which builds each op's dict when it is consumed, on every pass, and
    the memory's "streamed_layers" as tpulint.memory.StreamedLayerRows (for the streamed outputs: a 30,000-op
    model never has all its op dicts in memory at once). Not a plain document entry: JSON-encode it with
    tpulint.render.json.Stream."""
    return _entry(r, OpRows(r), lazy=True)


def plain_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A streamed entry as the plain data of a document entry (its op and streamed-layer rows built as lists);
    a plain entry unchanged."""
    out = entry if isinstance(entry["ops"], list) else dict(entry, ops=list(entry["ops"]))
    memory = entry.get("memory") or {}
    layers = memory.get("streamed_layers")
    if layers is not None and not isinstance(layers, list):
        out = dict(out, memory=dict(memory, streamed_layers=list(layers)))
    return out


class OpRows:
    """A model's "ops" as the renderers read them, built from its report on each pass instead of held: iterate
    it (each op dict is garbage once the next is built), take its len(), or look one op up with `at`."""

    __slots__ = ("_report", "_count")

    def __init__(self, report: ModelReport) -> None:
        self._report = report
        self._count = sum(len(p.placements) for p in report.partitions)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return _op_entries(self._report, shared=False)

    def at(self, subgraph: int, index: int) -> dict[str, Any] | None:
        """The op `index` of `subgraph`, or None."""
        for part, graph in zip(self._report.partitions, self._report.graphs):
            if graph.subgraph.index != subgraph:
                continue
            for p in _op_slice(part.placements, index):
                return next(_op_entries(self._report, shared=False, only=(subgraph, p)))
        return None


def _op_slice(placements: Any, index: int) -> list[int]:
    """Positions in `placements` of the op numbered `index` (placements are in op order, usually one per op)."""
    if 0 <= index < len(placements) and placements[index].index == index:
        return [index]
    return [n for n, p in enumerate(placements) if p.index == index][:1]


def _op_entries(r: ModelReport, shared: bool,
                only: tuple[int, int] | None = None) -> Iterator[dict[str, Any]]:
    """Each op's dict; `only` (subgraph, position in its placements): that op alone."""
    for part, graph in zip(r.partitions, r.graphs):
        sg = graph.subgraph
        if only is not None and sg.index != only[0]:
            continue
        tensors = sg.tensors
        operators = sg.operators
        preds = graph.preds
        # One dict per tensor, shared by every op that reads or writes it (renderers never mutate the
        # document): a third fewer objects to build, to send back from `-j` workers, and to hold.
        # A streamed entry builds them afresh: each op's dicts are garbage once the op is written.
        tensor_entries: dict[int, dict[str, Any]] = {}

        def tensor_entry(i: int) -> dict[str, Any]:
            entry = tensor_entries.get(i)
            if entry is None:
                entry = _tensor(tensors[i])
                if shared:
                    tensor_entries[i] = entry
            return entry

        subgraph = sg.index
        for p in part.placements if only is None else part.placements[only[1]:only[1] + 1]:
            op = operators[p.index]
            yield {
                "subgraph": subgraph,
                "index": p.index,
                "opcode": p.opcode,
                "custom_code": p.custom_code,
                "version": op.version,
                "placement": p.placement,
                "status": p.status,
                "codes": list(p.codes),
                "blocked_by": p.blocked_by,
                "segment": p.segment,
                "inputs": [tensor_entry(i) for i in op.inputs if i >= 0],
                "outputs": [tensor_entry(i) for i in op.outputs],
                "preds": list(preds[p.index]),
            }


def _entry(r: ModelReport, ops: "list[dict[str, Any]] | OpRows", lazy: bool) -> dict[str, Any]:
    segments = []
    blockers = []
    for part, graph in zip(r.partitions, r.graphs):
        sg = graph.subgraph
        tensors = sg.tensors
        for s in part.segments:
            segments.append({
                "subgraph": sg.index, "index": s.index, "ops": list(s.ops),
                "inputs": [tensors[t].name for t in s.inputs], "outputs": [tensors[t].name for t in s.outputs],
            })
        for b in part.blockers:
            cut = [tensors[t].name for t in b.cut_tensors]
            blockers.append({
                "subgraph": sg.index, "op": b.op, "opcode": sg.operators[b.op].name, "regained": b.regained,
                "cut_tensors": cut,
                "compiler_command": compiler_command(text(r.path), cut)
                if cut and (sg.index, b.op) in r.advice.safe_cuts else None,  # never a cut that loses ops
            })
    return {
        "path": text(r.path),
        "error": None,
        "target": target(r.config),
        "compiled": r.compiled,
        "compilable": r.compilable,
        "summary": {"ops": r.ops, "tpu_ops": r.tpu_ops, "cpu_ops": r.cpu_ops, "tpu_subgraphs": r.tpu_subgraphs},
        "ops": ops,
        "segments": segments,
        "blockers": blockers,
        "advice": [_suggestion(s) for s in r.advice.suggestions],
        "findings": [finding_entry(f) for f in r.findings],
        "compiled_info": _compiled_info(r),
        "memory": r.memory.to_dict(lazy) if r.memory is not None else None,
    }


def _compiled_info(r: ModelReport) -> dict[str, Any] | None:
    if r.compiled_info is None:
        return None
    info = r.compiled_info.to_dict()
    info["source"] = dict(r.source.to_dict(), path=text(r.source.path)) if r.source is not None else None
    return info


def _suggestion(s: Any) -> dict[str, Any]:
    entry = s.to_dict()
    entry["text"] = text(s.text)
    entry["command"] = text(s.command) if s.command is not None else None
    return entry


def compiler_command(path: str, cut_tensors: list[str]) -> str:
    """The `edgetpu_compiler -i` line that ends the Edge TPU segment at `cut_tensors`."""
    return f"edgetpu_compiler -i {shlex.quote(','.join(cut_tensors))} {shlex.quote(path)}"


def rule_metadata(codes: Iterable[str], compiler: str | None = None) -> dict[str, dict[str, Any]]:
    """Documentation of the rules that fired, so every renderer (SARIF, HTML) is self-contained; `{placeholders}`
    are filled with the limits of `compiler`'s profile (default: the default compiler)."""
    from tpulint.config import DEFAULT_COMPILER
    from tpulint.profile import load_profile
    from tpulint.registry import fill, get_rule

    values = load_profile(compiler or DEFAULT_COMPILER).doc_values()

    out: dict[str, dict[str, Any]] = {}
    for code in codes:
        r = get_rule(code)
        if r is None:
            continue
        out[code] = {
            "name": r.name, "summary": fill(r.summary, values), "severity": str(r.severity),
            "confidence": str(r.confidence), "help": r.markdown(values), "url": f"{DOCS_URL}#{r.anchor}",
        }
    return out
