"""Rule registration: the @rule decorator, rule metadata parsed from docstrings, lookup by code or name."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from tpulint.findings import Confidence, Effect, Severity

SECTIONS = ("Why it matters", "How to fix", "Example", "Sources")
_CODE = re.compile(r"^TPU\d{3}$")
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Rule:
    """A rule's identity and documentation; `check` produces its findings."""

    code: str
    name: str
    severity: Severity
    confidence: Confidence
    effect: Effect
    summary: str  # first paragraph of the docstring: what the rule detects
    sections: dict[str, str]  # "Why it matters", "How to fix", "Example", "Sources"
    check: Callable[..., Any] = field(compare=False, repr=False)
    status: str | None = None  # the compiler status string its findings carry
    opcodes: frozenset[str] | None = None  # ops it applies to; None = every op / the whole model
    scope: str = "op"  # "op" (called per operator) or "model" (called once per model)
    limits: tuple[str, ...] = ()  # profile limits it enforces; they fill the {placeholders} of its docs

    @property
    def severity_text(self) -> str:
        """The severity as documented: a rule that keeps an op on the CPU is graded by what that costs."""
        if self.effect is Effect.CPU:
            return "by cost (error when the op's CPU fallback cuts ops off the Edge TPU segment, else warning)"
        return str(self.severity)

    @property
    def family(self) -> str:
        """The hundred the code belongs to, e.g. "TPU2" for TPU201."""
        return self.code[:4]

    @property
    def anchor(self) -> str:
        """Anchor of the rule's section in docs/rules.md."""
        return f"{self.code.lower()}-{self.name}"

    def markdown(self, values: dict[str, Any] | None = None) -> str:
        """The full documentation, `{placeholders}` filled from `values` (default: the default compiler's profile)."""
        if values is None:
            values = default_doc_values()
        parts = [fill(self.summary, values)]
        for title in SECTIONS:
            parts.append(f"## {title}\n\n{self.section(title, values)}")
        return "\n\n".join(parts)

    def section(self, title: str, values: dict[str, Any] | None) -> str:
        """One documentation section, placeholders filled; Sources ends with the rule's corpus evidence."""
        text = fill(self.sections[title], values)
        if title == "Sources":
            from tpulint.evidence import evidence_markdown

            text += "\n\n" + evidence_markdown(self.code)
        return text


# Codes of removed rules: never reused (ruff's "removed" group). code -> why it went.
RETIRED: dict[str, str] = {}

_RULES: dict[str, Rule] = {}


def default_doc_values() -> dict[str, Any]:
    """Placeholder values from the default compiler's profile (the limits the checks enforce by default)."""
    from tpulint.config import DEFAULT_COMPILER
    from tpulint.profile import load_profile

    return load_profile(DEFAULT_COMPILER).doc_values()
_NAMES: dict[str, str] = {}


def fill(text: str, values: dict[str, Any] | None) -> str:
    """`text` with its `{placeholders}` replaced by `values` (unknown names are left as they are)."""
    if not values:
        return text
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), text)


def parse_docstring(func: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """Split a rule docstring into its summary and its fixed `## Heading` sections; all must be present."""
    doc = inspect.cleandoc(func.__doc__ or "")
    chunks = re.split(r"^## +(.+?)\s*$", doc, flags=re.M)
    summary = chunks[0].strip()
    sections = {chunks[i].strip(): chunks[i + 1].strip() for i in range(1, len(chunks) - 1, 2)}
    missing = [s for s in SECTIONS if not sections.get(s)]
    if not summary or missing:
        raise ValueError(f"rule {func.__name__}: docstring lacks {'a summary' if not summary else ', '.join(missing)}")
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"rule {func.__name__}: unknown docstring section(s) {sorted(unknown)}")
    return summary, sections


def rule(code: str, name: str, *, severity: Severity, confidence: Confidence, effect: Effect,
         status: str | None = None, opcodes: Iterable[str] | None = None,
         scope: str = "op", limits: Iterable[str] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a check function as rule `code`/`name`; raises at import time on a duplicate or bad docstring."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if not _CODE.match(code) or not _NAME.match(name):
            raise ValueError(f"bad rule code or name: {code} {name}")
        if code in RETIRED:
            raise ValueError(f"rule code {code} was retired and is never reused")
        if isinstance(opcodes, str) or isinstance(limits, str):
            raise ValueError(f"rule {code}: opcodes and limits are collections of names, not a string")
        if scope not in ("op", "model"):
            raise ValueError(f"rule {code}: scope must be 'op' or 'model', not {scope!r}")
        if code in _RULES or name in _NAMES:
            raise ValueError(f"rule {code} {name} is registered twice")
        summary, sections = parse_docstring(func)
        _RULES[code] = Rule(code, name, severity, confidence, effect, summary, sections, func, status,
                            frozenset(opcodes) if opcodes is not None else None, scope, tuple(limits))
        _NAMES[name] = code
        func.rule = _RULES[code]  # type: ignore[attr-defined]
        return func

    return register


def _load() -> None:
    import tpulint.checks  # noqa: F401  (importing registers every rule)


def all_rules() -> list[Rule]:
    """Every registered rule, ordered by code."""
    _load()
    return [_RULES[c] for c in sorted(_RULES)]


def get_rule(code_or_name: str) -> Rule | None:
    """A rule by code (`TPU201`, case-insensitive) or kebab name, or None."""
    _load()
    key = code_or_name.strip()
    return _RULES.get(key.upper()) or _RULES.get(_NAMES.get(key.lower(), ""))
