"""The GitHub Action's logic: lint once, then write annotations, the job summary, SARIF and step outputs.

Run by action.yml as `python -m tpulint.github_action`; inputs arrive as INPUT_* environment variables.
The exit status is tpulint's own (0 pass, 1 findings, 2 unreadable input), returned only after every file is
written, so the step fails at the end with the summary and the SARIF already in place.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import TextIO

from tpulint import cli


def arguments(env: Mapping[str, str], report: str) -> list[str]:
    """The tpulint command line for the action's inputs (paths may be spread over several lines)."""
    args = ["--format", "json", "-o", report]
    if env.get("INPUT_COMPILER", "").strip():
        args += ["--compiler", env["INPUT_COMPILER"].strip()]
    if env.get("INPUT_FAIL_ON", "").strip():
        args += ["--fail-on", env["INPUT_FAIL_ON"].strip()]
    if env.get("INPUT_BASELINE", "").strip():
        args += ["--baseline", env["INPUT_BASELINE"].strip()]
    args += shlex.split(env.get("INPUT_ARGS", ""))
    paths = [p for line in env.get("INPUT_PATHS", ".").splitlines() for p in shlex.split(line)]
    return args + (paths or ["."])


def run(env: Mapping[str, str], stdout: TextIO) -> int:
    from tpulint.render import RenderOptions, render
    from tpulint.render.fields import op_counts

    with tempfile.TemporaryDirectory(prefix="tpulint-") as tmp:
        report = os.path.join(tmp, "report.json")
        status = cli.main(arguments(env, report))
        if not os.path.exists(report):  # usage error: tpulint already said why on stderr
            return status
        with open(report, encoding="utf-8") as f:
            doc = json.load(f)
    root = env.get("GITHUB_WORKSPACE") or os.getcwd()
    stdout.write(render(doc, RenderOptions(format="github", root=root)))
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(render(doc, RenderOptions(format="markdown")))
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
        }
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as f:
            f.writelines(f"{k}={v}\n" for k, v in outputs.items())
    return status


def main(argv: Sequence[str] | None = None) -> int:
    return run(os.environ, sys.stdout)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
