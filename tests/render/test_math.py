"""TeX in answers passes the Markdown step as text, in delimiters MathJax reads (issue 18).

``answer_html`` must keep every formula exactly as written (no emphasis, no eaten backslash,
escaped for HTML, never markup) and hide every other ``$`` from MathJax; ``safe_markdown`` must
give the same formulas in ``$``/``$$`` delimiters (VS Code and Colab read only those) and escape
the other ``$``; the text stays as written. The hard cases are the issue's.
"""

from __future__ import annotations

import html
import re
import time

import pytest

from tests.support.html import TRUSTING, hrefs, live_parts, visible_text
from xai_defer_magic.core.answer import Answer
from xai_defer_magic.render.markdown import answer_html, safe_markdown
from xai_defer_magic.render.math import find_math, text_html

IGNORED_DOLLAR = '<span class="mathjax_ignore tex2jax_ignore">$</span>'
IGNORED = re.compile(r'<span class="mathjax_ignore tex2jax_ignore">[$\\]</span>')


def formulas(text: str) -> list[str]:
    return [m.source for m in find_math(text)]


def shown_math(fragment: str) -> str:
    """The HTML's text without what MathJax ignores (and code, which it skips)."""
    fragment = re.sub(r"<code>.*?</code>", "", IGNORED.sub("", fragment), flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


# --- which text is math ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("Inline $a_1 + b_2$ here.", ["$a_1 + b_2$"]),
    ("Paren \\(x_i^2\\) here.", ["\\(x_i^2\\)"]),
    ("$$\\int_0^1 x_1\\,dx$$", ["$$\\int_0^1 x_1\\,dx$$"]),
    ("Then \\[ \\frac{n(n+1)}{2} \\] ends", ["\\[ \\frac{n(n+1)}{2} \\]"]),
    ("$$\na_1 \\\\\n* b_2\n$$", ["$$\na_1 \\\\\n* b_2\n$$"]),  # display math across lines
    ("\\begin{align}a &= b_1 \\\\ c &= d_2\\end{align}",
     ["\\begin{align}a &= b_1 \\\\ c &= d_2\\end{align}"]),
])
def test_the_four_forms_and_environments_are_math(text: str, expected: list[str]) -> None:
    assert formulas(text) == expected


@pytest.mark.parametrize("text", [
    "it costs $5 and $10 today",  # a space before the closing $
    "between $5 and $10",
    "$x$5",  # a digit right after the closing $
    "$ x$",  # a space after the opening $
    "an unclosed $x_1 and more",
    "an unclosed \\(x_1 and more",
    "escaped \\$x\\$ signs",
    "escaped \\\\(x\\\\) parens",  # \\( is a backslash, then a parenthesis
    "code `$x_1$` and ``\\(y\\)``",
    "$10; `$code$`",  # the closing $ would be inside a code span
    "```\n$$x_1$$\n\\[y\\]\n```\n",
    "~~~tex\n$a_1$\n~~~",
    "$a\n\nb$",  # inline math does not cross a paragraph
    "- $a\n- b$",  # nor a list item
    "[link](https://example.com/$a$b) and <https://example.com/$c$>",
])
def test_currency_code_and_unclosed_delimiters_are_not_math(text: str) -> None:
    assert formulas(text) == []


def test_math_after_code_and_next_to_a_link_is_found() -> None:
    text = "`$not$` then $a_1$[see](https://example.com/$x$) and \\(b^2\\)."
    assert formulas(text) == ["$a_1$", "\\(b^2\\)"]


# --- HTML: TeX as text in its delimiters ------------------------------------------------------


def test_html_keeps_tex_as_written_with_no_emphasis_or_lost_backslash() -> None:
    answer = ("Sum $a_1 * b_2 * c_3$ and $x_i$ and \\(x_i^2\\).\n\n$$\\int_0^1 x_1\\,dx$$\n\n"
              "\\[ \\sum_{i=1}^{n} i = \\frac{n(n+1)}{2} \\]\n")
    page = answer_html(answer)
    assert "<em>" not in page and "<strong>" not in page
    text = shown_math(page)
    for tex in ("$a_1 * b_2 * c_3$", "$x_i$", "\\(x_i^2\\)", "$$\\int_0^1 x_1\\,dx$$",
                "\\[ \\sum_{i=1}^{n} i = \\frac{n(n+1)}{2} \\]"):
        assert tex in text, (tex, page)


def test_html_hides_currency_and_stray_backslashes_from_mathjax() -> None:
    page = answer_html("it costs $5 and $10 today, \\$3 or \\\\(not math\\\\)")
    assert page.count(IGNORED_DOLLAR) == 3
    assert visible_text(page) == "it costs $5 and $10 today, $3 or \\(not math\\)\n"
    assert "$" not in shown_math(page) and "\\" not in shown_math(page)


def test_html_leaves_code_alone() -> None:
    page = answer_html("`$x_1$` and\n\n```\n$$y$$ \\(z\\)\n```\n")
    assert "<code>$x_1$</code>" in page
    assert "$$y$$ \\(z\\)" in page
    assert "mathjax_ignore" not in page  # MathJax skips code by itself


def test_formula_next_to_a_link_keeps_both() -> None:
    page = answer_html("$a_1$[see](https://example.com/$x$) and $b$")
    assert hrefs(page) == ["https://example.com/$x$"]
    assert "$a_1$" in shown_math(page) and "$b$" in shown_math(page)


@pytest.mark.parametrize("answer", [
    "$<script>alert(1)</script>$",
    "$$<img src=x onerror=alert(1)>$$",
    "\\(</p><script>alert(1)</script>\\)",
    "$\\href{javascript:alert(1)}{x}$ and $\\unicode{x41}$",
    "$a$\ue0000\ue001 forged placeholder",
])
def test_tex_never_becomes_markup(answer: str) -> None:
    page = answer_html(answer)
    assert live_parts(page) == []
    assert all(h.startswith("http") for h in hrefs(page))
    assert "\ue000" not in page and "\ue001" not in page
    markdown = safe_markdown(answer)
    assert live_parts(TRUSTING.render(markdown)) == []


# --- Markdown fallback and text ----------------------------------------------------------------


def test_markdown_fallback_uses_dollars_only_and_escapes_currency() -> None:
    answer = ("Inline \\(x_i^2\\) and $a_1$; display:\n\n\\[ \\frac{1}{2} \\]\n\n"
              "$$x\n\ny$$\n\nit costs $5 and $10; `$code$`; $a<b$\n")
    markdown = safe_markdown(answer)
    assert "$x_i^2$" in markdown and "$a_1$" in markdown
    assert "$$ \\frac{1}{2} $$" in markdown
    assert "$$x\ny$$" in markdown  # no paragraph break inside a formula
    assert "\\(" not in markdown and "\\[" not in markdown
    assert "costs \\$5 and \\$10" in markdown
    assert "`$code$`" in markdown
    assert "$a\\lt b$" in markdown


def test_text_keeps_tex_as_written() -> None:
    answer = Answer("Inline \\(x_i^2\\), it costs $5.\n\n\\[ \\frac{1}{2} \\]")

    class Printer:
        written = ""

        def text(self, value: str) -> None:
            self.written += value

    printer = Printer()
    answer._repr_pretty_(printer, cycle=False)
    assert printer.written == str(answer)
    assert "\\(x_i^2\\)" in answer._repr_html_()


def test_previews_and_prices_in_tables_are_text_to_mathjax() -> None:
    """A preview or a price in a static table (HTML that JupyterLab typesets) is never math:
    "$0.0017 … $0.0023" or half a formula cut short would otherwise be typeset."""
    cell = text_html("cost $0.0017 or $0.0023 for \\(x <b>")
    assert "$" not in shown_math(cell) and "\\" not in shown_math(cell)
    assert visible_text(cell) == "cost $0.0017 or $0.0023 for \\(x <b>"
    assert live_parts(cell) == []


@pytest.mark.parametrize("hostile", [
    "\\(" * 30_000 + "\n\n\\)",  # many openers, one closer past a paragraph break
    "\\[" * 30_000,  # many openers, no closer
    "$$a" * 20_000,
    "\\begin{align}" * 8_000 + "x",
    "`" + " `` x" * 15_000,
    "$a `" * 15_000 + "$",
])
def test_finding_formulas_stays_linear_on_hostile_input(hostile: str) -> None:
    """Model output is untrusted: a 100 KB answer must not take quadratic time to scan.

    This thread's CPU time, not the wall clock: other workers share the machine. Linear work
    here is a fraction of a second; quadratic work on 100 KB would be minutes."""
    started = time.thread_time()
    answer_html(hostile)
    assert time.thread_time() - started < 2.0
