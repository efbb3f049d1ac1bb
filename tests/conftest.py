"""Shared test helpers: the real-compiler corpus (skipped when ../shared is absent) and golden-file comparison."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# CI runs the property tests on a fixed set of examples, so a red run is always reproducible; locally they
# explore new examples each run. `bench/fuzz.py` is the long, seeded exploration.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
GOLDEN = Path(__file__).resolve().parent / "golden"
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "real"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/* from the current output")


def corpus_cases(with_source: bool = True) -> list[Any]:
    """pytest params, one per corpus case with per-op truth; empty (and the test skipped) without ../shared."""
    if not CORPUS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason="../shared/corpus/real is absent"))]
    cases = []
    for truth_file in sorted(CORPUS.glob("*/truth.json")):
        truth = json.loads(truth_file.read_text())
        source = truth.get("files", {}).get("source")
        if with_source and (not source or not truth.get("per_op")):
            continue
        cases.append(pytest.param(truth_file.parent, id=truth_file.parent.name))
    return cases


def load_truth(case_dir: Path) -> dict[str, Any]:
    return json.loads((case_dir / "truth.json").read_text())


def source_model(case_dir: Path) -> Path:
    return case_dir / load_truth(case_dir)["files"]["source"]


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """assert_golden(name, text): compare with tests/golden/<name>; --update-golden rewrites it."""

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if request.config.getoption("--update-golden"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
            return
        if not path.exists():
            pytest.fail(f"golden file {path} is missing; run pytest --update-golden")
        expected = path.read_bytes().decode("utf-8")  # byte-exact: no newline translation
        if text != expected:
            actual = ROOT / "tests" / "actual" / name
            actual.parent.mkdir(parents=True, exist_ok=True)
            actual.write_bytes(text.encode("utf-8"))
            assert text == expected, f"{name} differs from its golden file; actual output in {actual}"

    return check
