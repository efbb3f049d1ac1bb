"""`tpulint diff OLD NEW`: analyse two versions of a model and report what changed for the Edge TPU."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from tpulint.errors import TpulintError

EXIT_OK, EXIT_REGRESSION, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tpulint diff", description="What changed for the Edge TPU from OLD to NEW: ops "
                                "moved to or from the CPU and why, new or fixed findings, subgraphs, memory.")
    p.add_argument("old", metavar="OLD", help="the previous version of the model (.tflite)")
    p.add_argument("new", metavar="NEW", help="the new version")
    p.add_argument("--format", default="concise", choices=("concise", "full", "json", "markdown"))
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--fail-on", choices=("regression", "never"), default="never",
                   help="regression: exit 1 when NEW is worse for the Edge TPU (default: never)")
    p.add_argument("--compiler", metavar="VERSION", help="compiler version to predict (default 16.0)")
    p.add_argument("-m", "--min-runtime", type=int, metavar="N", help="lowest Edge TPU runtime to support")
    p.add_argument("-a", "--multiple-subgraphs", action="store_true", default=None, help="compiler -a")
    p.add_argument("--config", metavar="PYPROJECT", help="read [tool.tpulint] from this file")
    p.add_argument("--isolated", action="store_true", help="ignore every configuration file")
    return p


def main(argv: Sequence[str]) -> int:
    from tpulint import config as cfg
    from tpulint.cli import error, write_atomically
    from tpulint.diff import document
    from tpulint.render.diff import render
    from tpulint.report import header, model_entry
    from tpulint.runner import analyze_entry

    ns = build_parser().parse_args(list(argv))
    try:
        base = cfg.Config()
        pyproject = None if ns.isolated else Path(ns.config) if ns.config else cfg.find_pyproject(Path.cwd())
        if pyproject is not None:
            if not pyproject.is_file():
                raise TpulintError(f"{pyproject}: no such file")
            base = cfg.load_pyproject(pyproject, base)
        config = cfg.merge(base, compiler=ns.compiler, min_runtime=ns.min_runtime,
                           multiple_subgraphs=ns.multiple_subgraphs)
    except TpulintError as e:
        error(str(e))
        return EXIT_ERROR
    entries = []
    for path in (ns.old, ns.new):
        if not Path(path).exists():
            error(f"{path}: no such file")
            continue
        _, report, problem = analyze_entry(path, config)
        if report is None:
            error(f"{path}: {problem}")
            continue
        entries.append(model_entry(report))
    if len(entries) != 2:
        return EXIT_ERROR
    doc = document(entries[0], entries[1], header(config)["target"])
    text = render(doc, ns.format)
    try:
        if ns.output:
            write_atomically(ns.output, text)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
    except OSError as e:
        error(f"{ns.output or 'stdout'}: cannot write: {e.strerror or e}")
        return EXIT_ERROR
    return EXIT_REGRESSION if ns.fail_on == "regression" and doc["regressions"] else EXIT_OK
