"""Changing a widget: assign a trait only when its value differs.

Every assignment is a comm message to the frontend, and the cards and the panel re-render
once a second: an unchanged view must send nothing.
"""

from __future__ import annotations

from typing import Any


def assign(widget: Any, name: str, value: Any) -> None:
    """Set ``widget.name`` to ``value`` unless it already is."""
    if getattr(widget, name) != value:
        setattr(widget, name, value)
