"""Model text to display formats that cannot run script or load anything, in any frontend.

JupyterLab treats outputs of the running session as trusted and renders their HTML and Markdown
without its sanitizer (DESIGN §3.8), so model output is neutralized here, before any renderer
sees it: Markdown is rendered by markdown-it with raw HTML off (so ``<script>`` becomes visible
text) and the result is cleaned by an allow-list sanitizer (nh3) that keeps only http, https and
mailto links. Images become links (a browser fetches an ``<img src>`` by itself: a tracking pixel,
or a way for a prompt injection to send data out). Fenced code with a known language is
highlighted by Pygments into token spans; the sanitizer keeps exactly those classes. The Markdown
fallback escapes raw HTML outside code, turns images into links and blanks unsafe link targets.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import nh3
from markdown_it import MarkdownIt

from xai_defer_magic.render import math
from xai_defer_magic.render.highlight import TOKEN_CLASSES, highlight_block
from xai_defer_magic.render.plain import escape

__all__ = ["answer_html", "escape_markdown", "is_inert", "is_unsafe_url",
           "literal_markdown", "safe_markdown", "sanitize_html"]

SAFE_SCHEMES = {"http", "https", "mailto"}
_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "details", "div", "em", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
# The only classes that survive: Pygments' token classes and the highlighted block's own.
# And MathJax's ignore classes, on the spans around a ``$`` or ``\\`` that is not math.
_ALLOWED_CLASSES = {"span": set(TOKEN_CLASSES) | set(math.IGNORE_CLASSES), "pre": {"xdm-code"}}


def _image_as_link(
    self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any
) -> str:
    """``![alt](url)`` -> a link to the image, which loads only if a person clicks it."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    src = str(token.attrGet("src") or "")
    label = f"image: {alt}" if alt.strip() else f"image: {src}"
    return f'<a href="{escape(src)}" title="{escape(src)}">{math.mathjax_inert(escape(label))}</a>'


def _text_outside_math(
    self: Any, tokens: Sequence[Any], idx: int, options: Any, env: Any
) -> str:
    """Prose: escaped, and no ``$`` or ``\\`` in it can start a formula in MathJax."""
    return math.mathjax_inert(escape(tokens[idx].content))


_markdown = MarkdownIt(
    "commonmark",
    {"html": False, "linkify": False, "typographer": False, "highlight": highlight_block},
)
_markdown.enable(["table", "strikethrough"])
_markdown.add_render_rule("image", _image_as_link)
_markdown.add_render_rule("text", _text_outside_math)


def answer_html(markdown_text: str) -> str:
    """Markdown from the model -> HTML safe to show as trusted output; formulas come out as
    escaped text in their delimiters, for the frontend's MathJax (``render.math``)."""
    protected, formulas = math.protect(markdown_text or "")
    return sanitize_html(math.restore_html(_markdown.render(protected), formulas))


def sanitize_html(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        allowed_classes=_ALLOWED_CLASSES,
        url_schemes=SAFE_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def escape_markdown(text: object) -> str:
    """Plain text for an inline Markdown context (a model name, an id): every character that
    could start markup (emphasis, code, links, images, HTML, entities, math) shown literally.
    Brackets and parentheses become character references: ``\\(`` and ``\\[`` are math
    delimiters to JupyterLab's Markdown renderer."""
    return _INLINE_SPECIAL.sub(_literal, " ".join(str(text).split()))


_INLINE_SPECIAL = re.compile(r"[\\`*_\[\]()<>!#|~&{}$]")


def _literal(match: re.Match[str]) -> str:
    char = match.group(0)
    return f"&#{ord(char)};" if char in "[]()" else "\\" + char


# --- a Markdown fallback that stays inert in renderers that trust it -----------------------------

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_INLINE_DEST = re.compile(r"(\]\(\s*)(<[^>\n]*>|[^\s)]+)")
_REFERENCE_DEF = re.compile(r"^( {0,3}\[[^\]]+\]:\s*)(\S+)", re.MULTILINE)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_IMAGE_OPENER = re.compile(r"(?<!\\)!\[")


class _TrustingMarkdown(MarkdownIt):
    """Raw HTML on and every link target accepted: what the laxest renderer would produce."""

    def validateLink(self, url: str) -> bool:
        return True


_trusting = _TrustingMarkdown("commonmark", {"html": True}).enable(["table", "strikethrough"])
_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")


def safe_markdown(markdown_text: str) -> str:
    """Markdown source with raw HTML escaped (outside code), images as links, unsafe link
    targets blanked, and formulas in ``$``/``$$`` delimiters (``render.math``).

    The line-wise escaping can misread rare constructs (a backtick run CommonMark leaves open, a
    fence that a list item ends), so its result is parsed by a renderer that trusts raw HTML;
    if anything live is left, every ASCII punctuation character is backslash-escaped instead,
    which any CommonMark renderer shows as the literal text.
    """
    protected, formulas = math.protect(markdown_text or "")
    text = math.restore_markdown(_escape_markdown(protected), formulas)
    one_line = "\n" not in text.strip("\n")  # may be shown inline, after a prefix (job.error)
    if _inert(text) and (not one_line or _inert("x " + text)):
        return text
    return literal_markdown(markdown_text)


def literal_markdown(text: str) -> str:
    """Every ASCII punctuation mark backslash-escaped: CommonMark shows it all as typed."""
    return _PUNCTUATION.sub(r"\\\g<0>", text or "")


def is_inert(text: str) -> bool:
    """True when even a renderer that trusts raw HTML finds nothing live or loading in it."""
    return _inert(text)


def _inert(text: str) -> bool:
    for token in _trusting.parse(text):
        for part in [token, *(token.children or [])]:
            if part.type in ("html_block", "html_inline", "image"):
                return False
            url = part.attrGet("href") or part.attrGet("src")
            if isinstance(url, str) and is_unsafe_url(url):
                return False
    return True


def _escape_markdown(markdown_text: str) -> str:
    out: list[str] = []
    fence: str | None = None
    for line in markdown_text.splitlines(keepends=True):
        opener = _FENCE.match(line)
        if fence is not None:
            out.append(line)
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence = None
            continue
        if opener:
            fence = opener.group(1)
            out.append(line)
            continue
        out.append(_escape_outside_code_spans(line))
    text = "".join(out)
    text = _INLINE_DEST.sub(_blank_unsafe_destination, text)
    return _REFERENCE_DEF.sub(_blank_unsafe_destination, text)


def _escape_outside_code_spans(line: str) -> str:
    pieces: list[str] = []
    last = 0
    for match in _CODE_SPAN.finditer(line):
        pieces.append(_neutralize(line[last : match.start()]))
        pieces.append(match.group(0))
        last = match.end()
    pieces.append(_neutralize(line[last:]))
    return "".join(pieces)


def _neutralize(prose: str) -> str:
    """Raw HTML shown as text, ``![alt](url)`` as the link ``[image: alt](url)``, and a ``$``
    that is not math (formulas are placeholders by now) escaped."""
    return math.escape_dollars(_IMAGE_OPENER.sub("[image: ", prose.replace("<", "&lt;")))


def _blank_unsafe_destination(match: re.Match[str]) -> str:
    prefix, destination = match.group(1), match.group(2)
    return prefix + ("#unsafe-link-removed" if is_unsafe_url(destination) else destination)


def is_unsafe_url(destination: str) -> bool:
    """True when a link target would use a scheme other than http, https or mailto."""
    decoded = unquote(html.unescape(destination.strip("<>")))
    compact = re.sub(r"[\s\x00-\x1f]+", "", decoded).lower()
    scheme = _SCHEME.match(compact)
    return scheme is not None and scheme.group(1) not in SAFE_SCHEMES
