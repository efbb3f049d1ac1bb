"""rules/evidence.toml: the corpus cases behind each rule, current, free of contradictions, shown in the docs."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import CORPUS, ROOT

from tpulint.evidence import corpus_evidence, evidence_markdown
from tpulint.registry import all_rules, get_rule


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/real is absent")
def test_evidence_file_is_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "evidence.py"), str(CORPUS), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_no_rule_is_contradicted_by_the_real_compiler() -> None:
    contradicted = {r.code: corpus_evidence(r.code)["contradicts"] for r in all_rules()
                    if "contradicts" in corpus_evidence(r.code)}
    assert contradicted == {}


def test_rule_docs_list_versions_and_cases() -> None:
    text = get_rule("TPU601").markdown()
    assert "Corpus evidence (bench/evidence.py):" in text
    assert "- compiler 16.0, supports (the compiler left these ops on the CPU too): ext_yolov8n_goalbuddy (3 ops)" in text
    assert evidence_markdown("TPU004") == "Corpus evidence: no case of the real-compiler corpus triggers this rule."
    assert "compiler 15.0, seen" in get_rule("TPU010").markdown()
