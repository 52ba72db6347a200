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
_BEGIN = re.compile(
    r"\\begin\{((?:equation|align|alignat|gather|multline|flalign|eqnarray|split)\*?)\}")
_NON_SPACE = re.compile(r"\S")
# Where something can start: a delimiter, code, a link target, or a line that may open a fence.
_CANDIDATE = re.compile(r"[\\$`<\]]|^[ ~]", re.MULTILINE)
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
    return _Scanner(text).formulas()


class _Scanner:
    """One pass over the text, left to right, as markdown-it's inline rules run.

    Every search for a closer, a paragraph break or a backtick is remembered: a later search
    from a start no further than the last answer gets the same answer, so an answer of many
    openers and one far closer (or none) costs one search, not one per opener (model output is
    untrusted; quadratic time would hang the kernel).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.size = len(text)
        self._memo: dict[str, tuple[int, int]] = {}

    def formulas(self) -> list[Math]:
        found: list[Math] = []
        pos = 0
        while pos < self.size:
            candidate = _CANDIDATE.search(self.text, pos)  # skip plain prose at C speed
            if candidate is None:
                break
            pos = candidate.start()
            skip = self._code_or_link_end(pos)
            if skip > pos:
                pos = skip
                continue
            char = self.text[pos]
            if char == "\\":
                math = self._backslash_math(pos)
                step = 2  # an escaped character (\$, \\, \() is never a delimiter
            elif char == "$":
                math = self._dollar_math(pos)
                step = 2 if self.text.startswith("$$", pos) else 1
            else:
                math, step = None, 1
            if math is None or self._next("`", math.start + len(math.opener)) < math.end:
                pos += step  # no formula, or one holding a code span's backtick
                continue
            found.append(math)
            pos = math.end
        return found

    # --- remembered searches (each returns ``size`` for "none") ---------------------------

    def _next(self, key: str, start: int) -> int:
        memo = self._memo.get(key)
        if memo is not None and memo[0] <= start <= memo[1]:
            return memo[1]
        found = self._search(key, start)
        self._memo[key] = (start, found)
        return found

    def _search(self, key: str, start: int) -> int:
        if key == "break":
            block_break = _BLOCK_BREAK.search(self.text, start)
            return block_break.start() if block_break else self.size
        if key == "`":
            tick = self.text.find("`", start)
            return tick if tick >= 0 else self.size
        if key.startswith("code"):  # a run of exactly that many backticks closes a code span
            run = re.compile(f"(?<!`){'`' * int(key[4:])}(?!`)").search(self.text, start)
            return run.start() if run else self.size
        return self._unescaped(key, start)

    def _unescaped(self, closer: str, start: int) -> int:
        """The first ``closer`` at or after ``start`` not escaped by a backslash."""
        pos = start
        while True:
            found = self.text.find(closer, pos)
            if found < 0:
                return self.size
            backslashes = 0
            while found - backslashes > 0 and self.text[found - backslashes - 1] == "\\":
                backslashes += 1
            if backslashes % 2 == 0:
                return found
            pos = found + 1

    def _inline_ok(self, start: int, end: int) -> bool:
        """Inline math does not cross a paragraph break or the start of a new block."""
        return self._next("break", start) >= end

    # --- what starts at ``pos`` -------------------------------------------------------------

    def _code_or_link_end(self, pos: int) -> int:
        """The end of the fence, code span, autolink or link target starting at ``pos`` (else
        ``pos``): TeX-looking text there is code or a URL."""
        text, char = self.text, self.text[pos]
        if char in "`~ " and (pos == 0 or text[pos - 1] == "\n"):
            fence = _FENCE.match(text, pos)
            if fence:
                return _fence_end(text, pos, fence.group(1))
        if char == "`":
            run = _BACKTICKS.match(text, pos)
            assert run is not None
            close = self._next(f"code{len(run.group(0))}", run.end())
            return close + len(run.group(0)) if close < self.size else run.end()
        if char == "<":
            link = _AUTOLINK.match(text, pos)
            return link.end() if link else pos
        if char == "]":
            target = _DESTINATION.match(text, pos)
            return target.end() if target else pos
        return pos

    def _backslash_math(self, pos: int) -> Math | None:
        text = self.text
        pair = text[pos : pos + 2]
        if pair in _BRACKETS:
            closer = _BRACKETS[pair]
            end = self._next(closer, pos + 2)
            if end == self.size or not _NON_SPACE.search(text, pos + 2, end):
                return None
            if pair == "\\(" and not self._inline_ok(pos + 2, end):
                return None
            return Math(pos, end + 2, pair, closer, text[pos + 2 : end])
        begin = _BEGIN.match(text, pos)
        if begin:
            closer = f"\\end{{{begin.group(1)}}}"
            end = self._next(closer, begin.end())
            if end < self.size:
                return Math(pos, end + len(closer), "", "", text[pos : end + len(closer)])
        return None

    def _dollar_math(self, pos: int) -> Math | None:
        text = self.text
        if text.startswith("$$", pos):
            end = self._next("$$", pos + 2)
            if end == self.size or not _NON_SPACE.search(text, pos + 2, end):
                return None
            return Math(pos, end + 2, "$$", "$$", text[pos + 2 : end])
        after = text[pos + 1 : pos + 2]
        if not after or after.isspace():
            return None  # "$ 5" and a $ at the end are text
        end = self._next("$", pos + 1)
        if end == self.size or text[end - 1].isspace() or text[end + 1 : end + 2].isdigit():
            return None  # "$5 and $10": a space before the closing $, or a digit after it
        if not self._inline_ok(pos + 1, end):
            return None
        return Math(pos, end + 1, "$", "$", text[pos + 1 : end])


def _fence_end(text: str, pos: int, opener: str) -> int:
    """After the line closing the fence opened at ``pos`` (or the end: an open fence runs on)."""
    line_end = text.find("\n", pos)
    if line_end < 0:
        return len(text)
    closer = re.compile(f"^ {{0,3}}{re.escape(opener[0])}{{{len(opener)},}}[ \\t]*$", re.M)
    close = closer.search(text, line_end + 1)
    return close.end() if close else len(text)


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
