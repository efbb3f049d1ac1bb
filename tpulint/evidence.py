"""The real-compiler cases behind each rule, per compiler version (rules/evidence.toml, made by bench/evidence.py)."""

from __future__ import annotations

import functools
import sys
from typing import Any

from tpulint.errors import RulesError
from tpulint.profile import rules_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KINDS = {"supports": "the compiler left these ops on the CPU too",
         "contradicts": "the compiler mapped these ops",
         "seen": "fired without changing a placement"}


@functools.cache
def _load() -> dict[str, Any]:
    path = rules_dir() / "evidence.toml"
    if not path.is_file():
        return {}
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise RulesError(f"{path}: {e}") from None
    return data


def corpus_evidence(code: str) -> dict[str, dict[str, list[str]]]:
    """kind -> compiler label -> ["case (N ops)", ...] for one rule; empty when the corpus never triggered it."""
    return _load().get(code, {})


def evidence_markdown(code: str) -> str:
    """The rule's corpus evidence as a Markdown paragraph for its Sources section."""
    evidence = corpus_evidence(code)
    if not evidence:
        return "Corpus evidence: no case of the real-compiler corpus triggers this rule."
    parts = []
    for kind, what in KINDS.items():
        for label, cases in sorted(evidence.get(kind, {}).items()):
            parts.append(f"- compiler {label}, {kind} ({what}): {', '.join(cases)}")
    return "Corpus evidence (bench/evidence.py):\n\n" + "\n".join(parts)
