"""GitHub Actions workflow commands: at most one annotation per model and severity, and at most 10 of each type
(GitHub shows 10 errors, 10 warnings and 10 notices per step and drops the rest silently): the most important
are kept, and the last one says how many more there are."""

from __future__ import annotations

import os
from typing import Any

from tpulint.render import Writer as _Writer
from tpulint.render.escape import github_data, github_property
from tpulint.render.escape import terminal_safe as safe
from tpulint.render.fields import verdict
from tpulint.render.text import op_label

# GitHub's annotation levels for tpulint's severities, most severe first.
_COMMAND = (("error", "error"), ("warning", "warning"), ("info", "notice"))


def repo_path(path: str, root: str | None) -> str:
    """The path GitHub expects in `file=`: relative to the repository root when the model lies inside it."""
    if root is None:
        return path
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    return path if rel == ".." or rel.startswith(".." + os.sep) else rel.replace(os.sep, "/")


# GitHub's limit per step and annotation type.
PER_TYPE = 10


def render(doc: dict[str, Any], options: Any = None) -> str:
    lines, _ = annotation_lines(doc, getattr(options, "root", None))
    return "".join(line + "\n" for line in lines)


class Writer(_Writer):
    """Annotations chosen over the whole run: each model leaves at most one candidate per severity."""

    def __init__(self, options: Any, head: dict[str, Any], count: int, out: Any) -> None:
        super().__init__(options, head, count, out)
        self.root = getattr(options, "root", None)
        self.candidates: list[_Candidate] = []
        self.models = 0

    def model(self, m: dict[str, Any]) -> None:
        self.candidates += candidates(self.models, m, self.root)
        self.models += 1

    def close(self, rules: dict[str, Any]) -> None:
        lines, _ = choose(self.candidates)
        self.out.write("".join(line + "\n" for line in lines))
        self.out.flush()


_Candidate = tuple[tuple[Any, ...], str, str, str, str]  # (importance, command, path, title, message)


def candidates(n: int, m: dict[str, Any], root: str | None) -> list[_Candidate]:
    """The annotations of the `n`th model of the run, at most one per severity."""
    # control characters would reach the log verbatim after GitHub unescapes %0A etc.
    path = safe(repo_path(m["path"], root))
    if m["error"] is not None:
        return [((-1, n), "error", path, "tpulint: model not analysed", safe(m["error"]["message"]))]
    out: list[_Candidate] = []
    for severity, command in _COMMAND:
        found = [f for f in m["findings"] if f["severity"] == severity]
        if not found:
            continue
        first = found[0]
        title = f"tpulint: {len(found)} {severity}{'s' if len(found) != 1 else ''} in {path}"
        message = f"{op_label(first)}{first['code']} {safe(first['message'])}"
        if len(found) > 1:
            message += f"\n(+{len(found) - 1} more; see the job summary)"
        message += f"\n{safe(verdict(m))}"
        importance = (1 if m["compilable"] else 0, -m["summary"]["cpu_ops"], -len(found), n)
        out.append((importance, command, path, title, message))
    return out


def annotation_lines(doc: dict[str, Any], root: str | None, per_type: int = PER_TYPE) -> tuple[list[str], dict[str, int]]:
    """The workflow commands, in model order, at most `per_type` of each type; and how many of each type were
    left out (the models that fail worst are kept: not analysed or not compilable, then most ops on the CPU)."""
    found: list[_Candidate] = []
    for n, m in enumerate(doc["models"]):
        found += candidates(n, m, root)
    return choose(found, per_type)


def choose(candidates: list[_Candidate], per_type: int = PER_TYPE) -> tuple[list[str], dict[str, int]]:
    """annotation_lines of these candidates."""
    kept: set[int] = set()
    dropped: dict[str, int] = {}
    for _, command in _COMMAND:
        ranked = sorted((c[0], i) for i, c in enumerate(candidates) if c[1] == command)
        kept.update(i for _, i in ranked[:per_type])
        if len(ranked) > per_type:
            dropped[command] = len(ranked) - per_type
    lines = []
    last = {c[1]: i for i, c in enumerate(candidates) if i in kept}
    for i, (_, command, path, title, message) in enumerate(candidates):
        if i not in kept:
            continue
        if last[command] == i and command in dropped:
            message += (f"\n(+{dropped[command]} more {command} annotation{'s' if dropped[command] != 1 else ''} "
                        f"not shown: GitHub shows {per_type} per step; see the job summary)")
        lines.append(_command(command, path, title, message))
    return lines, dropped


def _command(command: str, path: str, title: str, message: str) -> str:
    return f"::{command} file={github_property(path)},title={github_property(title)}::{github_data(message)}"
