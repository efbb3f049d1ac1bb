"""The escaping primitives of each output channel, on every metacharacter they must neutralise."""

from __future__ import annotations

import pytest

from tpulint.render.escape import github_data, github_property, markdown_text, terminal_safe


@pytest.mark.parametrize(("raw", "shown"), [
    ("plain/name:0", "plain/name:0"),
    ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),
    ("tab\tnew\nline\rcr\x00nul\x7fdel", "tab\\x09new\\x0aline\\x0dcr\\x00nul\\x7fdel"),
    ("\x9b31m C1 CSI", "\\x9b31m C1 CSI"),
    ("abc\u202edcba\u2066x\u2069\u200f", "abc\\u202edcba\\u2066x\\u2069\\u200f"),  # Trojan Source reordering
    ("ünïcödé ✓ 名前", "ünïcödé ✓ 名前"),
    ("bad\udcffbyte", "bad\udcffbyte"),  # a name that was not UTF-8 (surrogateescape) passes through
])
def test_terminal_safe(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown


def test_github_escaping_is_exact() -> None:
    raw = "50% a:b,c\r\nd"
    assert github_data(raw) == "50%25 a:b,c%0D%0Ad"
    assert github_property(raw) == "50%25 a%3Ab%2Cc%0D%0Ad"
    assert github_data("%0A") == "%250A"  # an escape in the input cannot become a newline


def test_markdown_text_is_literal() -> None:
    assert markdown_text("<b>x</b> | `y` *z* _w_ [l](u) #h \\ ~s~ !i & \n") == (
        "&lt;b&gt;x&lt;/b&gt; \\| \\`y\\` \\*z\\* \\_w\\_ \\[l\\]\\(u\\) \\#h \\\\ \\~s\\~ \\!i &amp; \\\\x0a")
