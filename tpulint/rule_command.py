"""`tpulint rule CODE|NAME`, `tpulint rule --all`: print rule documentation as text (markdown) or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tpulint.config import COMPILERS, DEFAULT_COMPILER
from tpulint.errors import RulesError
from tpulint.findings import Effect
from tpulint.profile import load_profile
from tpulint.registry import Rule, all_rules, get_rule


def rule_document(rule: Rule, values: dict[str, Any]) -> dict[str, Any]:
    """A rule as plain data (the `--format json` output)."""
    return {
        "code": rule.code, "name": rule.name, "summary": rule.markdown(values).split("\n\n", 1)[0],
        "severity": str(rule.severity), "severity_by_cost": rule.effect is Effect.CPU,
        "confidence": str(rule.confidence), "effect": str(rule.effect), "status": rule.status, "scope": rule.scope,
        "opcodes": sorted(rule.opcodes) if rule.opcodes is not None else None,
        "limits": {k: values.get(k) for k in rule.limits},
        "markdown": rule.markdown(values),
    }


def rule_text(rule: Rule, values: dict[str, Any]) -> str:
    head = (f"# {rule.code} {rule.name}\n\nseverity {rule.severity_text} · confidence {rule.confidence} · effect "
            f"{rule.effect}" + (f" · compiler status \"{rule.status}\"" if rule.status else ""))
    return f"{head}\n\n{rule.markdown(values)}\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tpulint rule", description="Show the documentation of tpulint rules.")
    parser.add_argument("rule", nargs="?", help="a rule code (TPU100) or name (unsupported-op)")
    parser.add_argument("--all", action="store_true", help="every rule")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--compiler", choices=COMPILERS, default=DEFAULT_COMPILER,
                        help="fill the limits of this compiler version (default %(default)s)")
    args = parser.parse_args(argv)
    if bool(args.rule) == args.all:
        parser.print_usage(sys.stderr)
        print("tpulint rule: give one rule code or name, or --all", file=sys.stderr)
        return 2
    try:
        values = load_profile(args.compiler).doc_values()
    except RulesError as e:
        print(f"tpulint: {e}", file=sys.stderr)
        return 2
    if args.all:
        rules = all_rules()
    else:
        found = get_rule(args.rule)
        if found is None:
            print(f"tpulint: unknown rule {args.rule!r} (see `tpulint rule --all`)", file=sys.stderr)
            return 2
        rules = [found]
    if args.format == "json":
        docs = [rule_document(r, values) for r in rules]
        sys.stdout.write(json.dumps(docs if args.all else docs[0], indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write("\n".join(rule_text(r, values) for r in rules))
    return 0
