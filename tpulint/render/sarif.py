"""SARIF 2.1.0 output for GitHub code scanning: rules with their docs, one result per finding, stable fingerprints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tpulint.render import Writer as _Writer
from tpulint.render.json import _compact, _indenter, indented

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFO_URI = "https://github.com/tpulint/tpulint"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
# SARIF's `precision` property (used by GitHub to rank alerts) from tpulint's evidence-based confidence.
_PRECISION = {"documented": "very-high", "observed": "high", "heuristic": "medium"}


def render(doc: dict[str, Any], options: Any = None) -> str:
    return indented(sarif(doc, getattr(options, "root", None))) + "\n"


class Writer(_Writer):
    """The SARIF log of a run written model by model. The rules and the notifications precede the results and
    depend on every model, so each model's results wait, as one compact JSON line, in an unnamed temporary file;
    at the end the log is laid out around them, each result indented as json.dumps(indent=2) nests it."""

    def __init__(self, options: Any, head: dict[str, Any], count: int, out: Any) -> None:
        import tempfile

        super().__init__(options, head, count, out)
        self.root = getattr(options, "root", None)
        self.codes: set[str] = set()
        self.notifications: list[dict[str, Any]] = []
        self.spool = tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n")
        self.results = 0

    def model(self, m: dict[str, Any]) -> None:
        if m["error"] is not None:
            self.notifications.append(_notification(m, self.root))
            return
        if not m["findings"]:
            return
        results = [_result(m, f, 0, self.root) for f in m["findings"]]
        self.codes.update(f["code"] for f in m["findings"])
        self.results += len(results)
        self.spool.write(_compact(results) + "\n")

    def close(self, rules: dict[str, Any]) -> None:
        import json
        import secrets

        codes = sorted(self.codes | set(rules))
        index = {c: i for i, c in enumerate(codes)}
        marker = secrets.token_hex(16)
        log = _log(self.head, codes, rules, self.notifications, [marker] if self.results else [])
        text = indented(log) + "\n"
        if not self.results:
            self.out.write(text)
            self.out.flush()
            return
        before, after = text.split(f'"{marker}"')
        pad = "\n" + before[before.rfind("\n") + 1:]  # the results' indentation
        self.out.write(before)
        self.spool.seek(0)
        first = True
        for line in self.spool:
            for result in json.loads(line):
                result["ruleIndex"] = index[result["ruleId"]]
                self.out.write(("" if first else "," + pad) + _indenter.encode(result).replace("\n", pad))
                first = False
        self.spool.close()
        self.out.write(after)
        self.out.flush()


def artifact_uri(path: str, root: str | None) -> tuple[str, str | None]:
    """(uri, uriBaseId): relative to `root` (the repository) when the model is inside it, else an absolute file URI."""
    base = os.path.abspath(root or os.getcwd())
    full = os.path.abspath(path)
    rel = os.path.relpath(full, base) if os.path.splitdrive(full)[0] == os.path.splitdrive(base)[0] else ".."
    if rel == ".." or rel.startswith(".." + os.sep):
        return Path(full).as_uri(), None
    return quote(rel.replace(os.sep, "/")), "%SRCROOT%"


def _rule(code: str, meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": code,
        "name": meta["name"],
        "shortDescription": {"text": meta["summary"]},
        "fullDescription": {"text": meta["summary"]},
        "help": {"text": meta["help"], "markdown": meta["help"]},
        "helpUri": meta["url"],
        "defaultConfiguration": {"level": _LEVEL.get(meta["severity"], "warning")},
        "properties": {"tags": ["edgetpu", "tflite"], "precision": _PRECISION.get(meta["confidence"], "medium")},
    }


def _logical(f: dict[str, Any]) -> list[dict[str, Any]]:
    loc = f["location"]
    out: list[dict[str, Any]] = []
    scope = f"subgraph[{loc['subgraph']}]" if loc["subgraph"] is not None else ""
    if loc["operator"] is not None:
        name = f"op[{loc['operator']}] {loc['op_type'] or ''}".rstrip()
        scope = f"{scope}/{name}" if scope else name
        out.append({"name": name, "fullyQualifiedName": scope, "kind": "function"})
    if loc["tensor"] is not None or loc["tensor_name"] is not None:
        name = loc["tensor_name"] if loc["tensor_name"] is not None else f"tensor[{loc['tensor']}]"
        fq = f"{scope}/tensor[{loc['tensor']}]" if loc["tensor"] is not None else f"{scope}/{name}"
        out.append({"name": name, "fullyQualifiedName": fq.lstrip("/"), "kind": "variable"})
    return out


def _location(path: str, root: str | None, logical: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    uri, base = artifact_uri(path, root)
    artifact: dict[str, Any] = {"uri": uri}
    if base:
        artifact["uriBaseId"] = base
    # A model has no lines; GitHub still wants a region to place the alert, so the alert sits on line 1.
    loc: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact, "region": {"startLine": 1}}}
    if logical:
        loc["logicalLocations"] = logical
    return loc


def _notification(m: dict[str, Any], root: str | None) -> dict[str, Any]:
    return {"level": "error", "message": {"text": f"{m['path']}: {m['error']['message']}"},
            "locations": [_location(m["path"], root)]}


def _result(m: dict[str, Any], f: dict[str, Any], rule_index: int, root: str | None) -> dict[str, Any]:
    text = f["message"] + (f"\nFix: {f['fix']}" if f["fix"] else "")
    return {
        "ruleId": f["code"],
        "ruleIndex": rule_index,
        "level": _LEVEL.get(f["severity"], "warning"),
        "message": {"text": text},
        "locations": [_location(m["path"], root, _logical(f))],
        "partialFingerprints": {"tpulintFinding/v1": f["fingerprint"]},
        "properties": {"confidence": f["confidence"], "effect": f["effect"],
                       "compilerStatus": f["status"]},
    }


def _log(head: dict[str, Any], codes: list[str], rules_meta: dict[str, Any], notifications: list[dict[str, Any]],
         results: list[Any]) -> dict[str, Any]:
    rules = [_rule(c, rules_meta[c]) if c in rules_meta else {"id": c} for c in codes]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "tpulint", "version": head["tool"]["version"], "informationUri": INFO_URI,
                            "rules": rules}},
        "invocations": [{"executionSuccessful": not notifications,
                         "toolExecutionNotifications": notifications}],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {"target": head["target"]},
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def sarif(doc: dict[str, Any], root: str | None = None) -> dict[str, Any]:
    """The SARIF log as a dict (one run; models that could not be read become tool notifications)."""
    rules_meta = doc.get("rules", {})
    codes = sorted({f["code"] for m in doc["models"] for f in m["findings"]} | set(rules_meta))
    index = {c: i for i, c in enumerate(codes)}
    results = []
    notifications = []
    for m in doc["models"]:
        if m["error"] is not None:
            notifications.append(_notification(m, root))
            continue
        results += [_result(m, f, index[f["code"]], root) for f in m["findings"]]
    return _log(doc, codes, rules_meta, notifications, results)
