"""--compare on the real-compiler corpus: the attribution reproduces every case's truth.json (../shared)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import corpus_cases, load_truth

from tpulint.compare import actual_for
from tpulint.findings import MAPPED
from tpulint.graph import Graph
from tpulint.model import read_model


def _actual(case: Path, compiled: bool, log: bool):
    files = load_truth(case)["files"]
    source = read_model(str(case / files["source"]))
    return actual_for(source, Graph.build(source.main),
                      str(case / files["compiled"]) if compiled else None, str(case / files["log"]) if log else None)


def _cases(*needed: str) -> list:
    return [c for c in corpus_cases() if c.values[0] is None
            or all(load_truth(c.values[0])["files"].get(k) for k in needed)]


@pytest.mark.parametrize("case", _cases("compiled"))
def test_compiled_model_attributes_every_op_as_truth(case: Path) -> None:
    truth = load_truth(case)
    with_log = bool(truth["files"].get("log"))
    actual = _actual(case, True, with_log)
    got = []
    for op in actual.ops:
        entry = {"on": op.placement}
        if op.placement == "tpu":
            entry["edgetpu_op"] = op.compiled_op
        elif with_log:
            entry["reason"] = op.status
            if op.candidates:
                entry["reason_candidates"] = dict(op.candidates)
        got.append(entry)
    keys = ("on", "edgetpu_op", "reason", "reason_candidates")
    expected = [{k: p[k] for k in keys if k in p and (p["on"] == "tpu" or k != "edgetpu_op")} for p in truth["per_op"]]
    assert got == expected
    assert len(actual.segments) == truth["num_edgetpu_subgraphs"]


@pytest.mark.parametrize("case", _cases("log"))
def test_log_attributes_unambiguous_ops_as_truth_and_says_which_are_ambiguous(case: Path) -> None:
    truth = load_truth(case)
    actual = _actual(case, False, True)
    wrong = []
    for p, op in zip(truth["per_op"], actual.ops, strict=True):
        if op.placement is None:
            assert op.status is None and len(op.candidates) > 1  # between which statuses
            continue
        if op.placement != p["on"] or (p["on"] == "tpu" and op.status != MAPPED) or (
                p.get("reason") and op.status != p["reason"]):
            wrong.append((p, op))
    assert wrong == []
