"""Plain text that every layer words the same way: USD amounts, one-line previews, escaping.

Standard library only, so a text table, a budget's refusal or a jobs panel row does not load
the Markdown renderer (``render.markdown`` re-exports :func:`escape`).
"""

from __future__ import annotations

import html


def usd(value: float) -> str:
    """A cost: four decimals under a dollar (requests cost fractions of a cent), else cents."""
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def escape(text: object) -> str:
    """Plain text for an HTML context (ids, models, error messages)."""
    return html.escape(str(text), quote=True)


def printable(text: str) -> str:
    """No control characters: untrusted text must not drive a terminal (escape sequences)."""
    return "".join(c if c.isprintable() else " " for c in text)


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, the last one an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def preview(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters: whitespace collapsed, control characters
    blanked."""
    return clip(printable(" ".join(text.split())), limit)
