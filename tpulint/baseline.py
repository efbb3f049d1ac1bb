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
    """Read a baseline file; TpulintError with a one-line reason (naming the key) when it is missing or
    malformed."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise TpulintError(f"{path}: cannot read baseline: {e.strerror or e}") from None
    except RecursionError:
        raise TpulintError(f"{path}: baseline is not valid JSON: nested too deeply") from None
    except ValueError as e:
        raise TpulintError(f"{path}: baseline is not valid JSON: {e}") from None
    if not isinstance(data, dict) or data.get("tpulint_baseline") != FORMAT or not isinstance(data.get("models"), dict):
        raise TpulintError(f"{path}: not a tpulint baseline (expected \"tpulint_baseline\": {FORMAT})")
    for key, entry in data["models"].items():
        where = f"{path}: models.{json.dumps(key)}"
        if not isinstance(entry, dict):
            raise TpulintError(f"{where}: expected an object, got {_kind(entry)}")
        findings = entry.get("findings", {})
        if not isinstance(findings, dict):
            raise TpulintError(f"{where}.findings: expected an object, got {_kind(findings)}")
        for fingerprint, n in findings.items():
            if not _count(n):
                raise TpulintError(f"{where}.findings.{fingerprint}: expected a count (an integer >= 0), got {_kind(n)}")
        if not _count(entry.get("cpu_ops", 0)):
            raise TpulintError(f"{where}.cpu_ops: expected a count (an integer >= 0), got {_kind(entry['cpu_ops'])}")
    return data


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _kind(value: Any) -> str:
    """The JSON type of `value`, with the value when it is a short scalar."""
    name = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")
    text = json.dumps(value)
    return f"{name} {text}" if name not in ("object", "array", "null") and len(text) <= 40 else name


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
