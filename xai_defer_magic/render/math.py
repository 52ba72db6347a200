"""TeX in answers kept as text, delimiters included, for the frontend's MathJax to typeset.

Markdown mangles TeX: ``_`` and ``*`` become emphasis, ``\\,`` and ``\\(`` lose their
backslash. So formulas are found in the Markdown source first (``find_math``), swapped for
placeholders that Markdown leaves alone, and put back as escaped text after rendering. The
rules are dollarmath's (pandoc's): ``$…$`` has no space after the opening ``$`` or before the
closing one and no digit right after it ("it costs $5 and $10" stays text); ``$$…$$``,
``\\(…\\)``, ``\\[…\\]`` and the amsmath environments are math; code spans and fenced code
never are; an unclosed delimiter is text.

A ``$`` or ``\\`` left in the prose must not start a formula in MathJax either: in HTML it is
wrapped in a span of MathJax's ignore class (the sign still reads as typed everywhere); in the
Markdown fallback it is backslash-escaped, as JupyterLab's and VS Code's Markdown renderers skip.
Math stays text throughout: what is put back is escaped, and the sanitizer runs afterwards.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

__all__ = ["IGNORE_CLASSES", "Math", "find_math", "mathjax_inert", "protect", "restore_html",
           "restore_markdown", "text_html"]

# MathJax 3's ignoreHtmlClass and MathJax 2's (nbconvert's page): text inside is never math.
IGNORE_CLASSES = ("mathjax_ignore", "tex2jax_ignore")
_IGNORED = '<span class="{}">{{}}</span>'.format(" ".join(IGNORE_CLASSES))

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use: a placeholder no answer can forge
_PLACEHOLDER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_BACKTICKS = re.compile(r"`+")
_AUTOLINK = re.compile(r"<[A-Za-z][A-Za-z0-9.+-]{1,31}:[^<>\s]*>")
_DESTINATION = re.compile(r"\]\(\s*(?:<[^>\n]*>|[^\s)]*)")
_ENVIRONMENT = re.compile(
    r"\\begin\{(equation|align|alignat|gather|multline|flalign|eqnarray|split)(\*?)\}"
    r".*?\\end\{\1\2\}", re.DOTALL)
# Inline math ends at a paragraph break, or where a new block (list item, heading, quote) starts.
_BLOCK_BREAK = re.compile(r"\n[ \t]*(?:\n|[-*+>#][ \t]|\d{1,9}[.)][ \t])")
_BRACKETS = {"\\(": "\\)", "\\[": "\\]"}


@dataclass(frozen=True)
class Math:
    """One formula: where it is in the source, its delimiters and its TeX as written."""

    start: int
    end: int
    opener: str  # "$", "$$", "\\(", "\\[" or "" for an environment (\begin{align}…)
    closer: str
    tex: str

    @property
    def display(self) -> bool:
        return self.opener in ("$$", "\\[", "")

    @property
    def source(self) -> str:
        """As written, delimiters included (what HTML and text show)."""
        return f"{self.opener}{self.tex}{self.closer}"

    def as_dollars(self) -> str:
        """``$…$`` or ``$$…$$`` (the only delimiters VS Code's and Colab's Markdown take), with
        ``<``/``>`` as ``\\lt``/``\\gt`` so no renderer can read a tag in it."""
        tex = re.sub(r"(?<!\\)((?:\\\\)*)\$", r"\1\\$", self.tex)  # a bare $ would end it early
        tex = tex.replace("<", "\\lt ").replace(">", "\\gt ")
        if self.display:
            return "$$" + re.sub(r"\n\s*\n", "\n", tex) + "$$"
        return f"${tex}$"


def find_math(text: str) -> list[Math]:
    """Every formula in Markdown ``text``, left to right, outside code."""
    found: list[Math] = []
    pos, size = 0, len(text)
    while pos < size:  # left to right, as markdown-it's inline rules run
        skip = _code_or_link_end(text, pos)
        if skip > pos:
            pos = skip
            continue
        char = text[pos]
        if char == "\\":
            math = _backslash_math(text, pos)
            if math is None:
                pos += 2  # an escaped character (\$, \\, \() is never a delimiter
                continue
        elif char == "$":
            math = _dollar_math(text, pos)
            if math is None:
                pos += 2 if text.startswith("$$", pos) else 1
                continue
        else:
            pos += 1
            continue
        if "`" in math.tex:  # a code span's backtick: TeX has no use for one, Markdown has
            pos += len(math.opener) or 1
            continue
        found.append(math)
        pos = math.end
    return found


def _code_or_link_end(text: str, pos: int) -> int:
    """The end of the fence, code span, autolink or link target starting at ``pos`` (else
    ``pos``): TeX-looking text there is code or a URL."""
    char = text[pos]
    if char in "`~ " and (pos == 0 or text[pos - 1] == "\n"):
        fence = _FENCE.match(text, pos)
        if fence:
            return _fence_end(text, pos, fence.group(1))
    if char == "`":
        run = _BACKTICKS.match(text, pos)
        assert run is not None
        ticks = run.group(0)
        close = re.compile(f"(?<!`){ticks}(?!`)").search(text, run.end())
        return close.end() if close else run.end()  # an unclosed run is literal backticks
    if char == "<":
        link = _AUTOLINK.match(text, pos)
        return link.end() if link else pos
    if char == "]":
        target = _DESTINATION.match(text, pos)
        return target.end() if target else pos
    return pos


def _fence_end(text: str, pos: int, opener: str) -> int:
    """After the line closing the fence opened at ``pos`` (or the end: an open fence runs on)."""
    line_end = text.find("\n", pos)
    if line_end < 0:
        return len(text)
    closer = re.compile(f"^ {{0,3}}{re.escape(opener[0])}{{{len(opener)},}}[ \\t]*$", re.M)
    close = closer.search(text, line_end + 1)
    return close.end() if close else len(text)


def _backslash_math(text: str, pos: int) -> Math | None:
    pair = text[pos : pos + 2]
    if pair in _BRACKETS:
        closer = _BRACKETS[pair]
        end = _closing(text, pos + 2, closer)
        if end is None or not text[pos + 2 : end].strip():
            return None
        tex = text[pos + 2 : end]
        if pair == "\\(" and _BLOCK_BREAK.search(tex):
            return None
        return Math(pos, end + 2, pair, closer, tex)
    environment = _ENVIRONMENT.match(text, pos)
    if environment:
        return Math(pos, environment.end(), "", "", environment.group(0))
    return None


def _closing(text: str, start: int, closer: str) -> int | None:
    """Where the first unescaped ``closer`` after ``start`` begins."""
    pos = start
    while True:
        found = text.find(closer, pos)
        if found < 0:
            return None
        before = text[start:found]
        if (len(before) - len(before.rstrip("\\"))) % 2 == 0:  # not escaped
            return found
        pos = found + 1


def _dollar_math(text: str, pos: int) -> Math | None:
    if text.startswith("$$", pos):
        end = _closing(text, pos + 2, "$$")
        if end is None or not text[pos + 2 : end].strip():
            return None
        return Math(pos, end + 2, "$$", "$$", text[pos + 2 : end])
    after = text[pos + 1 : pos + 2]
    if not after or after.isspace():
        return None  # "$ 5" and a $ at the end are text
    end = _closing(text, pos + 1, "$")
    if end is None:
        return None
    tex = text[pos + 1 : end]
    if tex[-1].isspace() or text[end + 1 : end + 2].isdigit() or _BLOCK_BREAK.search(tex):
        return None  # "$5 and $10": a space before the closing $, or a digit after it
    return Math(pos, end + 1, "$", "$", tex)


# --- placeholders --------------------------------------------------------------------------


def protect(text: str) -> tuple[str, list[Math]]:
    """``text`` with every formula replaced by a placeholder Markdown leaves alone."""
    text = text.replace(_OPEN, "").replace(_CLOSE, "")
    maths = find_math(text)
    pieces: list[str] = []
    last = 0
    for index, math in enumerate(maths):
        pieces += [text[last : math.start], f"{_OPEN}{index}{_CLOSE}"]
        last = math.end
    pieces.append(text[last:])
    return "".join(pieces), maths


def restore_html(rendered: str, maths: list[Math]) -> str:
    """Rendered HTML with each placeholder back as the formula's escaped text."""
    return _PLACEHOLDER.sub(lambda m: html.escape(maths[int(m.group(1))].source), rendered)


def restore_markdown(markdown: str, maths: list[Math]) -> str:
    """Markdown with each placeholder back as the formula in ``$``/``$$`` delimiters."""
    return _PLACEHOLDER.sub(lambda m: maths[int(m.group(1))].as_dollars(), markdown)


def mathjax_inert(escaped_text: str) -> str:
    """HTML text (already escaped) in which no ``$`` or ``\\`` can start a formula."""
    return re.sub(r"[$\\]", lambda m: _IGNORED.format(m.group(0)), escaped_text)


def text_html(text: object) -> str:
    """Plain text (a preview, a price) for HTML that MathJax typesets around: escaped, and no
    formula read into it ("$0.01 … $0.02" in a table, half a formula cut by a preview)."""
    return mathjax_inert(html.escape(str(text), quote=True))


_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)((?:\\\\)*)\$")


def escape_dollars(markdown_prose: str) -> str:
    """Markdown prose (no formulas left in it) whose ``$`` signs no math renderer reads."""
    return _UNESCAPED_DOLLAR.sub(r"\1\\$", markdown_prose)
