"""The GitHub Action's logic: lint once, then write annotations, the job summary, SARIF and step outputs.

Run by action.yml as `python -m tpulint.github_action`; inputs arrive as INPUT_* environment variables.
The exit status is tpulint's own (0 pass, 1 findings, 2 unreadable input), returned only after every file is
written, so the step fails at the end with the summary and the SARIF already in place.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from tpulint import cli
from tpulint.errors import TpulintError


def arguments(env: Mapping[str, str], report: str) -> list[str]:
    """The tpulint command line for the action's inputs (paths may be spread over several lines)."""
    args = ["--format", "json", "-o", report]
    if env.get("INPUT_COMPILER", "").strip():
        args += ["--compiler", env["INPUT_COMPILER"].strip()]
    if env.get("INPUT_FAIL_ON", "").strip():
        fail_on = env["INPUT_FAIL_ON"].strip()
        args += ["--fail-on", "never" if fail_on == "regression" else fail_on]  # regressions: decided by the diffs
    if env.get("INPUT_BASELINE", "").strip():
        args += ["--baseline", env["INPUT_BASELINE"].strip()]
    args += shlex.split(env.get("INPUT_ARGS", ""))
    return args + _paths(env)


def _paths(env: Mapping[str, str]) -> list[str]:
    return [p for line in env.get("INPUT_PATHS", ".").splitlines() for p in shlex.split(line)] or ["."]


def changed_models(ref: str, paths: Sequence[str]) -> list[str]:
    """The *.tflite files under `paths` that differ from their version at git `ref` (added ones included)."""
    out = subprocess.run(["git", "diff", "--name-only", "--relative", "--diff-filter=AMR", ref, "--", *paths],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[0]
        raise TpulintError(f"compare-ref {ref}: git diff failed: {why}")
    return sorted(p for p in out.stdout.splitlines() if p.endswith(".tflite") and os.path.isfile(p))


def compare_with_ref(ref: str, paths: Sequence[str], tmp: str) -> list[dict[str, Any]]:
    """One `tpulint diff` document per changed model, against its version at `ref` (None for a new model)."""
    docs = []
    for i, path in enumerate(changed_models(ref, paths)):
        old = os.path.join(tmp, f"old-{i}.tflite")
        with open(old, "wb") as f:
            shown = subprocess.run(["git", "show", f"{ref}:./{path}"], stdout=f, stderr=subprocess.DEVNULL, check=False)
        if shown.returncode != 0:  # not in `ref`: a new model, linted as usual
            continue
        report = os.path.join(tmp, f"diff-{i}.json")
        if cli.main(["diff", old, path, "--format", "json", "-o", report]) == 2 or not os.path.exists(report):
            continue  # tpulint said why on stderr; the lint reports the model itself
        with open(report, encoding="utf-8") as f:
            doc = json.load(f)
        doc["old"] = f"{path}@{ref}"
        docs.append(doc)
    return docs


def run(env: Mapping[str, str], stdout: TextIO) -> int:
    from tpulint.render import RenderOptions, render
    from tpulint.render.diff import markdown
    from tpulint.render.fields import op_counts

    diffs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tpulint-") as tmp:
        report = os.path.join(tmp, "report.json")
        status = cli.main(arguments(env, report))
        if not os.path.exists(report):  # usage error: tpulint already said why on stderr
            return status
        with open(report, encoding="utf-8") as f:
            doc = json.load(f)
        ref = env.get("INPUT_COMPARE_REF", "").strip()
        if ref:
            try:
                diffs = compare_with_ref(ref, _paths(env), tmp)
            except TpulintError as e:
                cli.error(str(e))
                status = cli.EXIT_ERROR
    regressions = sum(1 for d in diffs if d["regressions"])
    if regressions and env.get("INPUT_FAIL_ON", "").strip() == "regression" and status == cli.EXIT_OK:
        status = cli.EXIT_FINDINGS
    root = env.get("GITHUB_WORKSPACE") or os.getcwd()
    stdout.write(render(doc, RenderOptions(format="github", root=root)))
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(render(doc, RenderOptions(format="markdown")))
            f.writelines("\n" + markdown(d) for d in diffs)
    sarif_file = env.get("INPUT_SARIF", "").strip()
    if sarif_file:
        cli.write_atomically(sarif_file, render(doc, RenderOptions(format="sarif", root=root)))
    if env.get("GITHUB_OUTPUT"):
        ok = [m for m in doc["models"] if m["error"] is None]
        counted = [c for c in map(op_counts, ok) if c is not None]  # compiled models in their source's ops
        outputs = {
            "exit-code": str(status),
            "models": str(len(doc["models"])),
            "tpu-ops": str(sum(c[0] for c in counted)),
            "cpu-ops": str(sum(m["summary"]["cpu_ops"] for m in ok)),
            "findings": str(sum(len(m["findings"]) for m in ok)),
            "sarif": sarif_file,
            "regressions": str(regressions),
        }
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as f:
            f.writelines(f"{k}={v}\n" for k, v in outputs.items())
    return status


def main(argv: Sequence[str] | None = None) -> int:
    return run(os.environ, sys.stdout)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
