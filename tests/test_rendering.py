"""Agent text becomes safe HTML."""

from __future__ import annotations

import pytest

from sessions.rendering import render_markdown, strip_terminal_codes


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        '<svg onload="alert(1)"></svg>',
        "<iframe src=//evil></iframe>",
    ],
)
def test_hostile_markdown_is_inert(text):
    html = render_markdown(text)

    assert "<script" not in html
    assert "<img" not in html
    assert "<svg" not in html
    assert "<iframe" not in html
    assert '<a href="javascript' not in html.lower()
    assert '<a href="data' not in html


def test_safe_links_kept():
    html = render_markdown("[docs](https://example.org/page)")

    assert 'href="https://example.org/page"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


def test_code_block_highlighted():
    html = render_markdown("```python\ndef f():\n    return 1\n```")

    assert 'class="highlight"' in html
    assert '<span class="k">def</span>' in html


def test_unknown_language_escaped():
    html = render_markdown("```nosuchlang\n<b>x</b>\n```")

    assert "&lt;b&gt;x&lt;/b&gt;" in html


def test_ansi_and_osc8_removed():
    text = "\x1b[31mred\x1b[0m \x1b]8;;https://x.test\x1b\\link\x1b]8;;\x1b\\ bell\x07"

    assert strip_terminal_codes(text) == "red link bell"


def test_control_characters_removed_from_markdown():
    html = render_markdown("a\x00b\x1bc")

    assert "\x00" not in html
    assert "\x1b" not in html
