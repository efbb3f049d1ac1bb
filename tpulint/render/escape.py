"""Neutralise untrusted strings (tensor names, paths, custom codes) for each output channel."""

from __future__ import annotations

import re

# C0, DEL and C1 controls (ESC starts ANSI sequences, CSI is U+009B), plus the Unicode bidi overrides and isolates
# that reorder what a terminal or a browser shows ("Trojan Source", CVE-2021-42574).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def _escape_char(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """Escape control characters (ANSI escapes included) so a model cannot drive the terminal."""
    return _CONTROL.sub(_escape_char, text)


def github_data(text: str) -> str:
    """Escape the message part of a GitHub workflow command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_property(text: str) -> str:
    """Escape a property value (file=, title=) of a GitHub workflow command."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


def markdown_text(text: str) -> str:
    """Literal text inside GitHub-flavoured Markdown (tables included): no markup, no HTML, no line breaks."""
    text = terminal_safe(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text)
