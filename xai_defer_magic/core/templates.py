"""Prompt templates that survive braces: ``{name}`` is filled only when ``name`` is defined.

jupyter-ai fills prompts with ``str.format_map``, which breaks on any other brace (a JSON
example, a dict literal, code). Here a placeholder is exactly ``{identifier}`` or
``{identifier.attr...}`` whose first name is defined; everything else (``{{x}}``, ``{0}``,
``{"a": 1}``, ``{undefined}``, ``{x:>4}``) stays as written, byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xai_defer_magic.errors import InvalidArgument

# {name} or {name.attr.attr}; the look-arounds leave a doubled {{name}} alone.
PLACEHOLDER = re.compile(
    r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}(?!\})"
)
_MISSING = object()


@dataclass(frozen=True)
class Filled:
    text: str
    names: tuple[str, ...]  # the placeholders that were filled in, in first-use order


def placeholders(template: str) -> list[str]:
    """Every ``{name...}`` placeholder of ``template`` (the full dotted text), in order."""
    return [m.group(1) for m in PLACEHOLDER.finditer(template)]


def fill(template: str, *scopes: Mapping[str, Any], hidden: frozenset[str] = frozenset()) -> Filled:
    """Replace each placeholder whose first name is in one of ``scopes`` (first scope wins).

    Names in ``hidden`` (IPython's ``In``, ``Out``, ``_`` ...) count as undefined.
    """
    used: list[str] = []

    def replace(match: re.Match[str]) -> str:
        dotted = match.group(1)
        head, *attrs = dotted.split(".")
        value = _lookup(head, scopes, hidden)
        if value is _MISSING:
            return match.group(0)
        for attr in attrs:
            value = _attribute(value, attr, dotted)
        if dotted not in used:
            used.append(dotted)
        return format_value(value)

    return Filled(PLACEHOLDER.sub(replace, template), tuple(used))


def is_defined(name: str, *scopes: Mapping[str, Any], hidden: frozenset[str] = frozenset()) -> bool:
    return _lookup(name, scopes, hidden) is not _MISSING


def _lookup(name: str, scopes: tuple[Mapping[str, Any], ...], hidden: frozenset[str]) -> Any:
    for index, scope in enumerate(scopes):
        if index == len(scopes) - 1 and name in hidden:
            continue  # the user namespace is the last scope; its IPython bookkeeping is not data
        if name in scope:
            return scope[name]
    return _MISSING


def _attribute(value: Any, attr: str, dotted: str) -> Any:
    """``getattr``, or a key of a mapping (a DataFrame row's dict, a JSON record)."""
    try:
        return getattr(value, attr)
    except AttributeError:
        pass
    if isinstance(value, Mapping) and attr in value:
        return value[attr]
    raise InvalidArgument(
        f"The template uses {{{dotted}}}, but {type(value).__name__} has no attribute {attr!r}."
    )


def format_value(value: Any) -> str:
    """``str`` as is; a pandas DataFrame or Series in full as CSV; anything else via ``str()``.

    ``str(df)`` is pandas' truncated display (``...`` past 60 rows): a model would see a
    fraction of the data while the user believes it saw all of it. CSV needs no optional
    package (``to_markdown`` needs ``tabulate``) and is what models read best.
    """
    if isinstance(value, str):
        return value
    kind = type(value).__name__
    module = type(value).__module__ or ""
    if module.startswith("pandas") and kind in ("DataFrame", "Series"):
        csv: str = value.to_csv()
        return csv.rstrip("\n")
    return str(value)


__all__ = ["PLACEHOLDER", "Filled", "fill", "format_value", "is_defined", "placeholders"]
