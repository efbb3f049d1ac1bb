"""The GitHub Action's logic: lint once, then write annotations, the job summary, SARIF and step outputs.

Run by action.yml as `python -m tpulint.github_action`; inputs arrive as INPUT_* environment variables.
The exit status is tpulint's own (0 pass, 1 findings, 2 unreadable input), returned only after every file is
written, so the step fails at the end with the summary and the SARIF already in place.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from tpulint import cli
from tpulint.errors import TpulintError


def arguments(env: Mapping[str, str], report: str) -> list[str]:
    """The tpulint command line for the action's inputs (paths may be spread over several lines); a --format
    or -o in `args` is left out (the action reads the JSON report; see `requested_report`)."""
    args = ["--format", "json", "-o", report]
    if env.get("INPUT_COMPILER", "").strip():
        args += ["--compiler", env["INPUT_COMPILER"].strip()]
    if env.get("INPUT_FAIL_ON", "").strip():
        fail_on = env["INPUT_FAIL_ON"].strip()
        args += ["--fail-on", "never" if fail_on == "regression" else fail_on]  # regressions: decided by the diffs
    if env.get("INPUT_BASELINE", "").strip():
        args += ["--baseline", env["INPUT_BASELINE"].strip()]
    args += _split_report(env)[2]
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


def requested_report(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The --format and -o given in `args` (an extra report the step writes, e.g. an HTML artifact)."""
    fmt, output, _ = _split_report(env)
    return fmt, output


def _split_report(env: Mapping[str, str]) -> tuple[str | None, str | None, list[str]]:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--format")
    parser.add_argument("-o", "--output")
    known, rest = parser.parse_known_args(shlex.split(env.get("INPUT_ARGS", "")))
    return known.format, known.output, rest


def run(env: Mapping[str, str], stdout: TextIO) -> int:
    from tpulint.render import FORMATS, RenderOptions, render
    from tpulint.render.diff import markdown as diff_markdown
    from tpulint.render.github import PER_TYPE, annotation_lines
    from tpulint.render.markdown import render as markdown

    fmt, output = requested_report(env)
    if fmt is not None and fmt not in FORMATS:
        print(f"tpulint: args: unknown format {fmt!r}; choose from {', '.join(FORMATS)}", file=sys.stderr)
        return cli.EXIT_ERROR
    if fmt == "model-explorer" and output is None:
        print("tpulint: args: --format model-explorer needs -o DIR (one node-data file per model)", file=sys.stderr)
        return cli.EXIT_ERROR
    with tempfile.TemporaryDirectory(prefix="tpulint-") as tmp:
        report = os.path.join(tmp, "report.json")
        args = arguments(env, report)
        status = cli.main(args)
        if not os.path.exists(report):  # usage error: tpulint already said why on stderr
            return status
        with open(report, encoding="utf-8") as f:
            doc = json.load(f)
        diffs: list[dict[str, Any]] = []
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
    lines, dropped = annotation_lines(doc, root)
    stdout.write("".join(line + "\n" for line in lines))
    if fmt is not None or output is not None:
        _extra_report(doc, RenderOptions(format=fmt or "json", root=root), output, stdout)
    if env.get("GITHUB_STEP_SUMMARY"):
        notes = _summary_notes(doc, args, status, dropped, PER_TYPE)
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(markdown(doc, notes=notes))
            f.writelines("\n" + diff_markdown(d) for d in diffs)
    sarif_file = env.get("INPUT_SARIF", "").strip()
    if sarif_file:
        cli.write_atomically(sarif_file, render(doc, RenderOptions(format="sarif", root=root)))
    if env.get("GITHUB_OUTPUT"):
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as f:
            f.writelines(f"{k}={v}\n" for k, v in outputs(doc, status, sarif_file, regressions).items())
    return status


def outputs(doc: dict[str, Any], status: int, sarif_file: str, regressions: int = 0) -> dict[str, str]:
    """The step outputs (each declared in action.yml)."""
    from tpulint.render.fields import op_counts

    ok = [m for m in doc["models"] if m["error"] is None]
    counted = [c for c in map(op_counts, ok) if c is not None]  # compiled models in their source's ops
    return {
        "exit-code": str(status),
        "models": str(len(doc["models"])),
        "tpu-ops": str(sum(c[0] for c in counted)),
        "cpu-ops": str(sum(m["summary"]["cpu_ops"] for m in ok)),
        "findings": str(sum(len(m["findings"]) for m in ok)),
        "sarif": sarif_file,
        "regressions": str(regressions),
    }


def _extra_report(doc: dict[str, Any], options: Any, output: str | None, stdout: TextIO) -> None:
    """The report `args` asked for: to its -o, else into the log with workflow commands off (a model's name
    must not be taken for one)."""
    if output is not None:
        cli.write_report(doc, options, output)
        return
    from tpulint.render import render

    token = uuid.uuid4().hex
    stdout.write(f"::stop-commands::{token}\n{render(doc, options)}::{token}::\n")


def _summary_notes(doc: dict[str, Any], args: list[str], status: int, dropped: dict[str, int],
                   per_type: int) -> list[str]:
    """What the job summary says first: which models fail the run and why, and the annotations left out."""
    from tpulint.render.escape import markdown_text as md

    notes = []
    settings = cli.load_config(cli.build_parser().parse_intermixed_args(args))
    failed = [(m["path"], f"not analysed: {m['error']['message']}") for m in doc["models"] if m["error"] is not None]
    failed += [(f.path, f.why) for f in cli.failures(doc, settings)] if status != cli.EXIT_OK or failed else []
    if failed:
        notes.append(f"**tpulint fails this step** (exit status {status}): {len(failed)} "
                     f"model{'s' if len(failed) != 1 else ''}\n\n"
                     + "\n".join(f"- {md(path)}: {md(why)}" for path, why in failed))
    if dropped:
        left = ", ".join(f"{n} {command}" for command, n in dropped.items())
        notes.append(f"> [!NOTE]\n> GitHub shows {per_type} annotations of each type per step: {left} "
                     "annotation(s) were left out. Every finding is listed below.")
    return notes


def main(argv: Sequence[str] | None = None) -> int:
    return run(os.environ, sys.stdout)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
