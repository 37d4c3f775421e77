"""Markdown → HTML with every tag and attribute outside a small allow-list removed.

Model answers and user prompts are untrusted: markdown-it runs with raw HTML disabled and
nh3 (ammonia) cleans the result, so neither scripts nor event handlers can get through.

Code blocks with a language are highlighted by Pygments (token spans whose classes
``static/code-highlight.css`` colours) and LaTeX math (``$…$``, ``$$…$$``, ``\\(…\\)``,
``\\[…\\]``) becomes MathML (latex2mathml), which the browser typesets itself. Both run on
the server, before the sanitiser: whatever a renderer emits passes the same allow-list, so
``\\href{javascript:…}``, ``\\style{…}`` or markup inside ``\\text{…}`` come out inert. The
page needs no script to show an answer as it is meant.
"""

from __future__ import annotations

import html
import logging
from typing import Any
from xml.etree.ElementTree import tostring

import nh3
from latex2mathml.converter import convert_to_element
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.texmath import texmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

log = logging.getLogger(__name__)

MAX_HIGHLIGHT_CHARS = 20_000  # longer code is shown plain (highlighting it costs time)
MAX_MATH_CHARS = 2_000  # longer formulas are shown as their source

_formatter = HtmlFormatter(nowrap=True)


def _highlight(code: str, lang: str, _attrs: Any) -> str:
    """Token spans for a fenced block with a known language; "" lets markdown-it escape it."""
    if not lang or len(code) > MAX_HIGHLIGHT_CHARS:
        return ""
    try:
        lexer = get_lexer_by_name(lang, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return ""
    return highlight(code, lexer, _formatter)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def math_to_mathml(latex: str, display: bool) -> str:
    """MathML for one formula; its escaped source in ``<code>`` if it does not convert."""
    source = latex.strip()
    try:
        if len(source) > MAX_MATH_CHARS:
            raise ValueError("formula too long")
        element = convert_to_element(source, display="block" if display else "inline")
        # latex2mathml keeps entities (&#x02211;) as text and its own string output does not
        # escape markup inside \text{}: decode the entities, and let ElementTree escape.
        for node in element.iter():
            if node.text:
                node.text = html.unescape(node.text)
        return tostring(element, encoding="unicode")
    except Exception:  # noqa: BLE001 - any malformed formula is shown as written
        log.debug("math not converted: %r", source[:80])
        return f'<code class="math-source">{_escape(source)}</code>'


def _math_rule(display: bool):  # type: ignore[no-untyped-def]
    def render(self, tokens, idx, options, env) -> str:  # type: ignore[no-untyped-def]
        html = math_to_mathml(tokens[idx].content, display)
        return f'<div class="math-block">{html}</div>\n' if display else html

    return render


_md = MarkdownIt(
    "commonmark",
    {"html": False, "linkify": False, "breaks": True, "highlight": _highlight},
).enable("table")
dollarmath_plugin(_md, allow_space=False, allow_digits=False, allow_labels=False,
                  double_inline=True)
texmath_plugin(_md, delimiters="brackets")
for _rule, _display in (("math_inline", False), ("math_inline_double", True),
                        ("math_block", True), ("math_block_eqno", True)):
    _md.add_render_rule(_rule, _math_rule(_display))

# Presentation MathML only: no <annotation-xml>, <semantics>, <maction> or <mglyph>, no
# href, style, colours or namespaced attributes.
MATHML_TAGS = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup", "msub", "msubsup",
    "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd",
    "mstyle", "mpadded", "mphantom", "menclose", "merror",
}
MATHML_ATTRIBUTES = {
    "display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace",
    "accent", "accentunder", "columnalign", "rowalign", "columnspacing", "rowspacing",
    "columnlines", "rowlines", "frame", "linethickness", "scriptlevel", "displaystyle",
    "minsize", "maxsize", "movablelimits", "symmetric", "largeop", "width", "height",
    "depth", "notation", "form", "columnspan", "rowspan",
}

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td", "a", "del",
    "span", "div",
} | MATHML_TAGS
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"},
                      "td": {"align"}} | {tag: MATHML_ATTRIBUTES for tag in MATHML_TAGS}
# Only Pygments' token classes on spans, only our math wrapper on divs.
ALLOWED_CLASSES = {"span": set(STANDARD_TYPES.values()) - {""}, "div": {"math-block"}}


def render_markdown(text: str) -> str:
    html = _md.render(text or "")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
        # A code block scrolls sideways: keyboard users must be able to reach it.
        set_tag_attribute_values={"pre": {"tabindex": "0"}},
    )
