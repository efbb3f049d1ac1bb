"""Neutralise untrusted strings (tensor names, paths, custom codes) for each output channel."""

from __future__ import annotations

import re

# C0, DEL and C1 controls (ESC starts ANSI sequences, CSI is U+009B), plus the Unicode bidi overrides and isolates
# that reorder what a terminal or a browser shows ("Trojan Source", CVE-2021-42574).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~])")
# What GitHub's runner would run from a job's output: a line that starts, after any whitespace, with a workflow
# command (`::error ...`, `::add-mask::`) or the legacy `##[command]` form. The runner splits lines at \r too.
_WORKFLOW_COMMAND = re.compile(r"(^|\r)([^\S\r\n]*)([:#])(?=:|#\[)", re.M)
# What GitHub links in Markdown: @mentions (users, teams) and bare URLs (scheme://, www.); a zero-width space
# after the @, the scheme's colon or "www" breaks the link and shows the same text.
_LINKS = re.compile(r"(@)(?=[A-Za-z0-9])|(:)(?=//)|(?<![A-Za-z0-9])(www)(?=\.)", re.I)
MARKDOWN_CELL = 1000  # characters of one value shown in the Markdown report (a 1 MB name must not fill it)


def _escape_char(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """Escape control characters (ANSI escapes included) so a model cannot drive the terminal."""
    if text.isprintable():  # every character _CONTROL matches is a control (Cc) or format (Cf) one: not printable
        return text
    return _CONTROL.sub(_escape_char, text)


def github_data(text: str) -> str:
    """Escape the message part of a GitHub workflow command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_property(text: str) -> str:
    """Escape a property value (file=, title=) of a GitHub workflow command."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


def no_workflow_commands(text: str, escape: dict[str, str]) -> str:
    """`text` with the first character of every line that would be a workflow command replaced by its escape
    in `escape` (":" and "#"): names and paths in a report must not drive the CI runner that prints it."""
    return _WORKFLOW_COMMAND.sub(lambda m: m.group(1) + m.group(2) + escape[m.group(3)], text)


def markdown_text(text: str, limit: int = MARKDOWN_CELL) -> str:
    """Literal text inside GitHub-flavoured Markdown (tables included): no markup, no HTML, no line breaks,
    no mentions or links; cut to `limit` characters."""
    cut = f"… ({len(text):,} characters)" if len(text) > limit else ""
    text = _LINKS.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + "\u200b", terminal_safe(text[:limit]))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text) + cut
