"""The rule registry: unique codes and names, complete docs, every rule with good and bad test cases."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from tpulint.findings import Confidence, Effect, Severity
from tpulint.profile import LIMITS, load_profile
from tpulint.registry import SECTIONS, all_rules, get_rule, parse_docstring, rule

CHECK_TESTS = Path(__file__).resolve().parent / "checks"


def _all_cases() -> list:
    if str(CHECK_TESTS.parent) not in sys.path:
        sys.path.insert(0, str(CHECK_TESTS.parent))
    cases = []
    for path in sorted(CHECK_TESTS.glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(f"_cases_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        cases += getattr(module, "CASES", [])
    return cases


def test_codes_and_names_are_unique_and_well_formed() -> None:
    rules = all_rules()
    assert len({r.code for r in rules}) == len({r.name for r in rules}) == len(rules) >= 37
    for r in rules:
        assert re.fullmatch(r"TPU\d{3}", r.code) and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", r.name)
        assert r.scope in ("op", "model")


def test_every_rule_has_a_bad_and_a_good_case() -> None:
    cases = _all_cases()
    for r in all_rules():
        kinds = {c.kind for c in cases if c.code == r.code}
        assert kinds == {"bad", "good"}, f"{r.code} {r.name}: cases {kinds}"
    assert {c.code for c in cases} <= {r.code for r in all_rules()}


def test_docs_have_every_section_and_no_unfilled_placeholder() -> None:
    values = load_profile("16.0").doc_values()
    for r in all_rules():
        assert set(r.sections) == set(SECTIONS)
        text = r.markdown(values)
        assert not re.search(r"\{[a-z_]+\}", text), f"{r.code}: unfilled placeholder"
        assert r.summary.endswith(".") and "\n## " not in r.summary


def test_every_profile_limit_is_enforced_by_a_rule() -> None:
    used = {k for r in all_rules() for k in r.limits}
    assert used == set(LIMITS)


def test_lookup_by_code_or_name() -> None:
    assert get_rule("tpu100") is get_rule("unsupported-op") is get_rule("TPU100")
    assert get_rule("TPU999") is None and get_rule("no-such-rule") is None
    assert get_rule("TPU600").anchor == "tpu600-large-tensor-row"


def test_duplicate_code_and_missing_sections_are_rejected() -> None:
    def check() -> None:
        """Summary.

        ## Why it matters
        x

        ## How to fix
        y

        ## Example
        z
        """

    with pytest.raises(ValueError, match="Sources"):
        parse_docstring(check)
    with pytest.raises(ValueError, match="registered twice"):
        rule("TPU100", "another-name", severity=Severity.ERROR, confidence=Confidence.OBSERVED,
             effect=Effect.CPU)(all_rules()[0].check)


def test_opcodes_are_builtin_names() -> None:
    from tpulint.profile import BUILTIN_NAMES

    for r in all_rules():
        assert r.opcodes is None or r.opcodes <= BUILTIN_NAMES, r.code
    with pytest.raises(ValueError, match="not a string"):
        rule("TPU998", "string-opcodes", severity=Severity.ERROR, confidence=Confidence.OBSERVED,
             effect=Effect.CPU, opcodes="RELU")(all_rules()[0].check)
