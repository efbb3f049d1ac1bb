"""Node data for Google's Model Explorer (ai-edge-model-explorer): colours every op of the graph by its placement.

The format is Model Explorer's GraphNodeData (model_explorer/node_data_builder.py): `results` maps a node key to
`{"value", "bgColor"}`; a key may be an output tensor name of the node, which matches however the TFLite adapter
numbers its nodes. Load it in Model Explorer with "Add per-node data" on the model's main graph.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from tpulint.render import Writer as _Writer
from tpulint.render.json import _indenter, indented

TPU_COLOR = "#2e9e6b"
CPU_COLOR = "#e8590c"  # the op's own reason keeps it off the Edge TPU
CUT_COLOR = "#f4b183"  # mappable, but cut off downstream of a CPU op
# value: 1 = Edge TPU, 0.5 = CPU because it was cut off, 0 = CPU for a reason of its own (a blocker).
TPU, CUT, CPU = 1, 0.5, 0


def render(doc: dict[str, Any], options: Any = None) -> str:
    return indented(node_data(doc)) + "\n"


def files(doc: dict[str, Any]) -> dict[str, str]:
    """One node-data file per analysed model (`tpulint --format model-explorer -o DIR`): file name -> content."""
    models = [m for m in doc["models"] if m["error"] is None]
    return {name: render({**doc, "models": [m]}) for name, m in zip(file_names([m["path"] for m in models]), models)}


def file_names(paths: list[str]) -> list[str]:
    """Named after the model (`yolo.tflite` -> `yolo.node-data.json`), by its whole path where names repeat."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    out = []
    for path, stem in zip(paths, stems):
        if stems.count(stem) > 1:
            parts = [p for p in re.split(r"[\\/]+", os.path.splitext(path)[0]) if p not in ("", ".", "..")]
            stem = "__".join(parts)
        out.append(re.sub(r"[^\w.-]", "_", stem) + ".node-data.json")
    return out


class Writer(_Writer):
    """Node data of the run's one analysed model (for stdout or `-o FILE`: its text goes to `out` at the end),
    or, once a second model is analysed with `directory` given (or it is a folder), one file per model: each
    model's text waits in one unnamed temporary file until the names are known (they depend on every model's),
    then `save(path, text)` writes each file. Several models without a directory: the first one's node data, or
    with `strict` (the CLI) TpulintError at the end, nothing written."""

    def __init__(self, options: Any, head: dict[str, Any], count: int, out: Any, directory: str | None = None,
                 save: Any = None, strict: bool = False) -> None:
        super().__init__(options, head, count, out)
        self.strict = strict
        self.directory = directory
        self.save = save
        self.analysed = 0
        self.first: tuple[str, list[str]] | None = None  # (path, text pieces) while it may be the only one
        self.spool: Any = None
        self.spooled: list[tuple[str, int, int]] = []  # (path, start, end) in the spool
        self.written: int | None = None  # node-data files written to `directory`

    def model(self, m: dict[str, Any]) -> None:
        if m["error"] is not None:
            return
        self.analysed += 1
        folder = self.directory is not None and (self.analysed > 1 or os.path.isdir(self.directory))
        if not folder:
            if self.first is None:
                self.first = (m["path"], _text(m))
            return
        if self.spool is None:
            import tempfile

            self.spool = tempfile.TemporaryFile("w+b")
            if self.first is not None:
                self._spool(*self.first)
                self.first = None
        self._spool(m["path"], _text(m))

    def _spool(self, path: str, pieces: list[str]) -> None:
        start = self.spool.tell()
        for piece in pieces:
            self.spool.write(piece.encode("utf-8"))
        self.spooled.append((path, start, self.spool.tell()))

    def close(self, rules: dict[str, Any]) -> None:
        if self.spool is not None:
            assert self.directory is not None and self.save is not None
            os.makedirs(self.directory, exist_ok=True)
            for name, (path, start, end) in zip(file_names([p for p, _, _ in self.spooled]), self.spooled):
                self.spool.seek(start)
                self.save(os.path.join(self.directory, name), self.spool.read(end - start).decode("utf-8"))
            self.spool.close()
            self.written = len(self.spooled)
            return
        if self.analysed > 1 and self.strict:
            from tpulint.errors import TpulintError

            raise TpulintError(f"--format model-explorer: {self.analysed} models, and Model Explorer overlays one "
                               "at a time: give -o DIR for one node-data file per model")
        for piece in self.first[1] if self.first is not None else _text(None):
            self.out.write(piece)
        self.out.flush()


def _text(m: dict[str, Any] | None) -> list[str]:
    """render() of the model, in pieces of about 64 KiB (never the whole text in one string)."""
    pieces: list[str] = []
    batch: list[str] = []
    size = 0
    for chunk in _indenter.iterencode(_node_data(m)):
        batch.append(chunk)
        size += len(chunk)
        if size >= 1 << 16:
            pieces.append("".join(batch))
            batch.clear()
            size = 0
    batch.append("\n")
    pieces.append("".join(batch))
    return pieces


def _value(op: dict[str, Any]) -> tuple[float, str]:
    if op["placement"] == "tpu":
        return TPU, TPU_COLOR
    return (CUT, CUT_COLOR) if op["blocked_by"] is not None else (CPU, CPU_COLOR)


def node_data(doc: dict[str, Any]) -> dict[str, Any]:
    """GraphNodeData for the main subgraph (the only one the compiler maps) of the run's first analysed model
    (Model Explorer overlays one model at a time: the CLI writes several models with `files`)."""
    return _node_data(next((m for m in doc["models"] if m["error"] is None), None))


def _node_data(model: dict[str, Any] | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    shared: dict[tuple[float, str], dict[str, Any]] = {}  # three distinct values: one dict each, not one per op
    for op in model["ops"] if model else []:
        if op["subgraph"] != 0:
            continue
        key = _value(op)
        value = shared.get(key)
        if value is None:
            value = shared[key] = {"value": key[0], "bgColor": key[1]}
        for t in op["outputs"]:
            results[t["name"]] = value
    return {
        "name": "Edge TPU placement (tpulint)",
        "results": results,
        "thresholds": [
            {"value": CPU, "bgColor": CPU_COLOR},
            {"value": CUT, "bgColor": CUT_COLOR},
            {"value": TPU, "bgColor": TPU_COLOR},
        ],
        "showExpandedSummaryOnGroupNode": False,
    }
