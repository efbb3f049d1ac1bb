"""Exit statuses over the real-compiler corpus, against what each model's CPU ops cost.

    python bench/verdicts.py ../shared/corpus/real [--table] [--readme]

Runs `tpulint --format json MODEL` (default options) on every source model with per-op truth and classes the
model from its own JSON: `rejected` (predicted not to compile), `cut off` (some op "More than one subgraph is not
supported"), `nothing maps`, `CPU passes only` (CPU ops that cut nothing off: float I/O wrappers, post-processing at
the end), `fully mapped`. Exit 1 is expected exactly for the first three. The last line is
`verdicts: N models, exit 1 for A, exit 0 for B, M mismatches`; `--readme` refreshes the class table between
the <!-- verdicts-table --> markers of README.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

FAILING = ("rejected", "cut off", "nothing maps")
ROOT = Path(__file__).resolve().parent.parent
CLASS_TEXT = {
    "rejected": "predicted not to compile",
    "cut off": "ops cut off from the Edge TPU segment",
    "nothing maps": "no op maps",
    "CPU passes only": "CPU ops cut nothing off (float I/O wrappers, final post-processing)",
    "fully mapped": "fully mapped",
}


def readme_table(classes: Counter) -> str:
    rows = ["| class (from the predicted partition) | models | exit status |", "| --- | --: | --: |"]
    rows += [f"| {text} | {classes[kind]} | {1 if kind in FAILING else 0} |" for kind, text in CLASS_TEXT.items()]
    return "\n".join(rows)


def update_readme(path: Path, table: str) -> None:
    start, end = "<!-- verdicts-table -->\n", "<!-- /verdicts-table -->"
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(start, 1)
    path.write_text(head + start + table + "\n" + end + rest.split(end, 1)[1], encoding="utf-8")


def classify(m: dict) -> str:
    if not m["compilable"]:
        return "rejected"
    if any(op["status"] == "More than one subgraph is not supported" for op in m["ops"]):
        return "cut off"
    if m["summary"]["ops"] and not m["summary"]["tpu_ops"]:
        return "nothing maps"
    return "CPU passes only" if m["summary"]["cpu_ops"] else "fully mapped"


def run(model: Path) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "tpulint", "--isolated", "--format", "json", str(model)],
                          capture_output=True, text=True)
    return done.returncode, json.loads(done.stdout)["models"][0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--table", action="store_true", help="print one Markdown row per model")
    parser.add_argument("--readme", action="store_true", help="refresh the class table in README.md")
    args = parser.parse_args(argv)
    rows, mismatches, exits, classes = [], 0, Counter(), Counter()
    for truth_file in sorted(args.corpus.glob("*/truth.json")):
        truth = json.loads(truth_file.read_text())
        source = truth.get("files", {}).get("source")
        if not source or not truth.get("per_op"):
            continue
        code, m = run(truth_file.parent / source)
        kind = classify(m)
        classes[kind] += 1
        expected = 1 if kind in FAILING else 0
        exits[code] += 1
        mismatches += code != expected
        s = m["summary"]
        rows.append(f"| {truth_file.parent.name} | {kind} | {s['tpu_ops']}/{s['ops']} | {code}"
                    + (f" (expected {expected})" if code != expected else "") + " |")
        print(f"{truth_file.parent.name}: exit {code}, {kind}", file=sys.stderr)
    if args.table:
        print("| model | class | Edge TPU ops | exit |\n| --- | --- | --: | --: |")
        print("\n".join(rows))
    if args.readme:
        update_readme(ROOT / "README.md", readme_table(classes))
    print(readme_table(classes))
    print(f"verdicts: {len(rows)} models, exit 1 for {exits[1]}, exit 0 for {exits[0]}, {mismatches} mismatches")
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
