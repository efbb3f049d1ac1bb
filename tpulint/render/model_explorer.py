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

from tpulint.render.json import indented

TPU_COLOR = "#2e9e6b"
CPU_COLOR = "#e8590c"  # the op's own reason keeps it off the Edge TPU
CUT_COLOR = "#f4b183"  # mappable, but cut off downstream of a CPU op
# value: 1 = Edge TPU, 0.5 = CPU because it was cut off, 0 = CPU for a reason of its own (a blocker).
TPU, CUT, CPU = 1, 0.5, 0


def render(doc: dict[str, Any], options: Any = None) -> str:
    return indented(node_data(doc)) + "\n"


def files(doc: dict[str, Any]) -> dict[str, str]:
    """One node-data file per analysed model (`tpulint --format model-explorer -o DIR`): file name -> content.
    Named after the model (`yolo.tflite` -> `yolo.node-data.json`), by its whole path where names repeat."""
    models = [m for m in doc["models"] if m["error"] is None]
    stems = [os.path.splitext(os.path.basename(m["path"]))[0] for m in models]
    out = {}
    for m, stem in zip(models, stems):
        if stems.count(stem) > 1:
            parts = [p for p in re.split(r"[\\/]+", os.path.splitext(m["path"])[0]) if p not in ("", ".", "..")]
            stem = "__".join(parts)
        name = re.sub(r"[^\w.-]", "_", stem) + ".node-data.json"
        out[name] = render({**doc, "models": [m]})
    return out


def _value(op: dict[str, Any]) -> tuple[float, str]:
    if op["placement"] == "tpu":
        return TPU, TPU_COLOR
    return (CUT, CUT_COLOR) if op["blocked_by"] is not None else (CPU, CPU_COLOR)


def node_data(doc: dict[str, Any]) -> dict[str, Any]:
    """GraphNodeData for the main subgraph (the only one the compiler maps) of the run's first analysed model
    (Model Explorer overlays one model at a time: the CLI writes several models with `files`)."""
    model = next((m for m in doc["models"] if m["error"] is None), None)
    results: dict[str, Any] = {}
    for op in model["ops"] if model else []:
        if op["subgraph"] != 0:
            continue
        value, color = _value(op)
        for t in op["outputs"]:
            results[t["name"]] = {"value": value, "bgColor": color}
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
