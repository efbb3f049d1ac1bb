"""Neutralise untrusted strings (tensor names, paths, custom codes) for each output channel."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """Escape control characters (ANSI escapes included) so a model cannot drive the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def github_data(text: str) -> str:
    """Escape the message part of a GitHub workflow command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_property(text: str) -> str:
    """Escape a property value (file=, title=) of a GitHub workflow command."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")
