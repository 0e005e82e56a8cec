"""Safe HTML from agent text: markdown, highlighted code and cleaned terminal output.

Agent and tool output is untrusted. Markdown is parsed with raw HTML disabled, so
tags in the text come out escaped, and the result then passes through the nh3
sanitizer, which keeps only the tags and attributes listed here and drops every
`javascript:` or other non-web link.
"""

from __future__ import annotations

import functools
import re

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

# Control sequences a terminal would act on: CSI (colours, cursor moves), OSC
# (titles, OSC-8 hyperlinks, ended by BEL or ST) and lone escapes.
ANSI_ESCAPE = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC ... BEL or ST
    r"|\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    r"|\x1b[@-Z\\-_]"  # two-byte escapes
)
# C0 controls other than tab and newline, and DEL: never meaningful in HTML.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "span", "div",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "span": {"class"},
    "div": {"class"},
    "code": {"class"},
    "pre": {"class"},
    "ol": {"start"},
}
CODE_FORMATTER = HtmlFormatter(cssclass="highlight", nowrap=False)


def highlight_stylesheet() -> str:
    """Build the code-highlighting CSS: a light style, and a dark one for dark mode.

    The dark style applies when the user picked the dark theme, or kept the
    system theme (`<html data-theme>`) and the system is dark.
    """
    light = HtmlFormatter(style="default").get_style_defs(".highlight")
    dark = HtmlFormatter(style="monokai")
    chosen = dark.get_style_defs(':root[data-theme="dark"] .highlight')
    system = dark.get_style_defs(':root[data-theme="system"] .highlight')
    return f"{light}\n{chosen}\n@media (prefers-color-scheme: dark) {{\n{system}\n}}\n"


def strip_terminal_codes(text: str) -> str:
    """Remove ANSI colour and OSC sequences and other control characters."""
    return CONTROL_CHARACTERS.sub("", ANSI_ESCAPE.sub("", text))


def _highlight_code(code: str, language: str, _attributes: str) -> str:
    try:
        lexer = get_lexer_by_name(language.strip()) if language.strip() else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return ""  # markdown-it then escapes the code itself
    return highlight(code, lexer, CODE_FORMATTER)


_markdown = (
    MarkdownIt(
        "commonmark", {"html": False, "linkify": False, "highlight": _highlight_code}
    )
    .enable("table")
    .enable("strikethrough")
)


# Texts up to this many characters keep their rendered HTML in a per-process cache,
# because the page view and the poller render the same finished messages again.
CACHED_TEXT_LIMIT = 20_000


def render_markdown(text: str) -> str:
    """Render agent markdown to sanitized HTML."""
    if len(text) <= CACHED_TEXT_LIMIT:
        return _render_markdown_cached(text)
    return _render_markdown(text)


@functools.lru_cache(maxsize=4096)
def _render_markdown_cached(text: str) -> str:
    return _render_markdown(text)


def _render_markdown(text: str) -> str:
    html = _markdown.render(strip_terminal_codes(text))
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
