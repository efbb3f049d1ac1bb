"""`tpulint rule`: one rule by code or name, --all, JSON, unknown codes."""

from __future__ import annotations

import json
import subprocess
import sys

from tpulint.registry import all_rules


def tpulint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tpulint", "rule", *args], capture_output=True, text=True)


def test_rule_by_code_and_by_name_print_the_same_docs() -> None:
    by_code, by_name = tpulint("TPU600"), tpulint("large-tensor-row")
    assert by_code.returncode == 0 and by_code.stdout == by_name.stdout
    assert by_code.stdout.startswith("# TPU600 large-tensor-row\n")
    assert "more than 266,785 elements" in by_code.stdout and "## How to fix" in by_code.stdout


def test_limits_follow_the_compiler() -> None:
    assert "(here: true)" in tpulint("TPU507", "--compiler", "2.0").stdout
    assert "(here: false)" in tpulint("TPU507").stdout


def test_all_lists_every_rule_in_text_and_json() -> None:
    text = tpulint("--all").stdout
    codes = [r.code for r in all_rules()]
    assert [line.split()[1] for line in text.splitlines() if line.startswith("# TPU")] == codes
    docs = json.loads(tpulint("--all", "--format", "json").stdout)
    assert [d["code"] for d in docs] == codes
    one = json.loads(tpulint("TPU101", "--format", "json").stdout)
    assert one["name"] == "op-needs-newer-runtime" and one["effect"] == "cpu" and one["status"]


def test_unknown_rule_is_one_line_on_stderr_and_exit_2() -> None:
    r = tpulint("TPU999")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == "tpulint: unknown rule 'TPU999' (see `tpulint rule --all`)\n"
    assert tpulint().returncode == 2
