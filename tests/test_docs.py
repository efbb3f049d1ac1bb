"""docs/rules.md is generated from the registry and the profiles, and committed up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tpulint import docs
from tpulint.registry import all_rules

ROOT = Path(__file__).resolve().parent.parent


def test_rules_md_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == docs.generate(), "docs/rules.md is stale: run `python -m tpulint.docs`"


def test_every_rule_has_a_section_with_its_limits_filled() -> None:
    text = docs.generate()
    for r in all_rules():
        assert f"\n## {r.code} {r.name}\n" in text and f"(#{r.anchor})" in text
    assert "more than 266,785 elements" in text  # TPU600's limit, from edgetpu-2.0.toml
    assert "| `TRANSPOSE` | — | — | — | — | runtime ≥ 14 |" in text
    assert "| `TILE` | undocumented, seen mapped |" in text


def test_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "rules.md"
    stale.write_text("old\n")
    cmd = [sys.executable, "-m", "tpulint.docs", "--check", "--output", str(stale)]
    assert subprocess.run(cmd, capture_output=True).returncode == 1
    subprocess.run([sys.executable, "-m", "tpulint.docs", "--output", str(stale)], check=True)
    assert subprocess.run(cmd, capture_output=True).returncode == 0
