"""Baselines: record the findings a team accepts today (by stable fingerprint) so a run fails only on new ones."""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from typing import Any

from tpulint.errors import TpulintError

FORMAT = 1


def model_key(model_path: str, baseline_path: str) -> str:
    """The model's path relative to the baseline file's folder, with `/`: the same from any working directory."""
    base = os.path.dirname(os.path.abspath(baseline_path))
    return os.path.relpath(os.path.abspath(model_path), base).replace(os.sep, "/")


def build(doc: dict[str, Any], baseline_path: str) -> dict[str, Any]:
    """A baseline accepting every finding and CPU op of `doc` (models that could not be read are left out)."""
    models = {}
    for m in doc["models"]:
        if m["error"] is not None:
            continue
        counts = Counter(f["fingerprint"] for f in m["findings"])
        models[model_key(m["path"], baseline_path)] = {
            "cpu_ops": m["summary"]["cpu_ops"],
            "findings": {fp: counts[fp] for fp in sorted(counts)},
        }
    return {"tpulint_baseline": FORMAT, "models": dict(sorted(models.items()))}


def dumps(baseline: dict[str, Any]) -> str:
    return json.dumps(baseline, indent=2, ensure_ascii=True) + "\n"


def load(path: str) -> dict[str, Any]:
    """Read a baseline file; TpulintError with a one-line reason when it is missing or malformed."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise TpulintError(f"{path}: cannot read baseline: {e.strerror or e}") from None
    except ValueError as e:
        raise TpulintError(f"{path}: baseline is not valid JSON: {e}") from None
    if not isinstance(data, dict) or data.get("tpulint_baseline") != FORMAT or not isinstance(data.get("models"), dict):
        raise TpulintError(f"{path}: not a tpulint baseline (expected \"tpulint_baseline\": {FORMAT})")
    for key, entry in data["models"].items():
        if (not isinstance(entry, dict) or not isinstance(entry.get("findings", {}), dict)
                or not all(isinstance(n, int) for n in entry.get("findings", {}).values())):
            raise TpulintError(f"{path}: models.{key}: malformed entry")
    return data


def apply(doc: dict[str, Any], baseline: dict[str, Any], baseline_path: str) -> dict[str, Any]:
    """A copy of `doc` without the baselined findings; each model gets `baseline: {suppressed, cpu_ops}`.

    A fingerprint recorded n times suppresses at most n findings, so a second copy of a known problem is new.
    """
    out = copy.deepcopy(doc)
    for m in out["models"]:
        if m["error"] is not None:
            continue
        entry = baseline["models"].get(model_key(m["path"], baseline_path))
        if entry is None:
            continue
        budget = Counter(entry.get("findings", {}))
        kept = []
        for f in m["findings"]:
            if budget[f["fingerprint"]] > 0:
                budget[f["fingerprint"]] -= 1
            else:
                kept.append(f)
        m["baseline"] = {"suppressed": len(m["findings"]) - len(kept), "cpu_ops": int(entry.get("cpu_ops", 0))}
        m["findings"] = kept
    return out
