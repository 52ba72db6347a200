"""The math section of an emulated answer: TeX in the four usual forms, as real models write it.

Answers to quantitative prompts are full of LaTeX; this section lets the quickstart and the
tests show what a client does with it offline: ``$…$``, ``\\(…\\)``, ``$$…$$`` and ``\\[…\\]``,
next to prices in dollars that are not math. A prompt gets it with the ``[[math]]`` directive or
by asking for LaTeX (so the quickstart's prompt reads naturally to a real model too). With
``[[xss]]`` too, it adds formulas that try to smuggle markup or a ``javascript:`` link through
TeX, which a safe client keeps inert.
"""

from __future__ import annotations

import re

MATH_SECTION = (
    "### Math\n\n"
    "Inline: the sum $a_1 + b_2$ and the square \\(x_i^2\\).\n\n"
    "$$\\int_0^1 x_1\\,dx$$\n\n"
    "\\[ \\sum_{i=1}^{n} i = \\frac{n(n+1)}{2} \\]\n\n"
    "Prices are not math: it costs $5 and $10 today."
)
MATH_REASONING = "Check the closed form: \\(\\sum_{i=1}^{n} i = n(n+1)/2\\) for $n = 3$ gives 6."
HOSTILE_MATH = (
    "Hostile TeX: $<script>window.__xss=1</script>$, "
    "$\\href{javascript:window.__xss=1}{click the formula}$ and $\\unicode{x41}$."
)


_ASKS_FOR_LATEX = re.compile(r"\blatex\b", re.IGNORECASE)


def asks_for_math(prompt: str, directive: bool) -> bool:
    """``[[math]]``, or a prompt that asks for LaTeX."""
    return directive or _ASKS_FOR_LATEX.search(prompt) is not None


def math_section(hostile: bool) -> str:
    """The Markdown section of an answer to a prompt with ``[[math]]``."""
    return f"{MATH_SECTION}\n\n{HOSTILE_MATH}" if hostile else MATH_SECTION
