"""Rules against the real compiler: no op the compiler mapped gets an error-severity finding (../shared corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import corpus_cases, load_truth, source_model

from tpulint.analysis import analyze
from tpulint.findings import Confidence, Severity


def options(truth: dict) -> dict:
    version = truth.get("compiler_version")
    return {"compiler": ".".join(version.split(".")[:2])} if version else {}


@pytest.mark.parametrize("case", corpus_cases())
def test_no_error_finding_on_an_op_the_compiler_mapped(case: Path) -> None:
    truth = load_truth(case)
    report = analyze(source_model(case), **options(truth))
    on_tpu = {p["index"] for p in truth["per_op"] if p["on"] == "tpu"}
    # A size heuristic that cuts ops off is an error about the cut; how often it is right, bench/conformance.py scores.
    wrong = [f"{f.code} op {f.location.operator} {f.location.op_type}: {f.message}" for f in report.findings
             if f.severity is Severity.ERROR and f.confidence is not Confidence.HEURISTIC
             and f.location.subgraph == 0 and f.location.operator in on_tpu]
    assert wrong == []
    assert report.compilable
