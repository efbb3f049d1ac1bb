"""GitHub Actions workflow commands: at most one annotation per model and severity (GitHub shows 10 per step)."""

from __future__ import annotations

import os
from typing import Any

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


def render(doc: dict[str, Any], options: Any = None) -> str:
    lines = []
    root = getattr(options, "root", None)
    for m in doc["models"]:
        # control characters would reach the log verbatim after GitHub unescapes %0A etc.
        path = safe(repo_path(m["path"], root))
        if m["error"] is not None:
            lines.append(_command("error", path, "tpulint: model not analysed", safe(m["error"]["message"])))
            continue
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
            lines.append(_command(command, path, title, message))
    return "".join(line + "\n" for line in lines)


def _command(command: str, path: str, title: str, message: str) -> str:
    return f"::{command} file={github_property(path)},title={github_property(title)}::{github_data(message)}"
