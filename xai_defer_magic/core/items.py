"""What ``--over ITEMS`` iterates: a list or other iterable, a pandas Series, or a DataFrame.

Each element becomes an :class:`Item`: its position or index label (``{index}``), the element
(``{item}`` or ``{NAME}`` with ``--as``), and for a DataFrame row every column whose name is an
identifier (``{column}``). Bad input is refused here with one line, before anything is sent.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from xai_defer_magic.core.templates import is_defined, placeholders
from xai_defer_magic.errors import InvalidArgument

MAX_ITEMS = 10_000  # beyond this, xAI's Batch API (--batch) is the right engine


@dataclass
class Items:
    labels: list[Any]
    values: list[Any]  # the element; for a DataFrame the row as {column: value}
    columns: list[str] = field(default_factory=list)  # a DataFrame's columns, else []
    source_index: Any = None  # the pandas index, kept for to_pandas()

    def context(self, position: int, as_name: str) -> dict[str, Any]:
        """The names a template sees for one item (they shadow the user namespace)."""
        value = self.values[position]
        scope: dict[str, Any] = {}
        if self.columns:
            scope.update({c: value[c] for c in self.columns if _identifier(c)})
        scope[as_name] = value
        scope["index"] = self.labels[position]
        return scope


def _identifier(name: Any) -> bool:
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


def collect(value: Any, label: str, *, batch: bool = False) -> Items:
    """Turn ``value`` into items; InvalidArgument (one line) for anything unusable.

    Past ``MAX_ITEMS`` only ``batch`` (xAI's Batch API) may take them."""
    kind = type(value).__name__
    module = type(value).__module__ or ""
    if module.startswith("pandas") and kind == "DataFrame":
        columns = [str(c) for c in value.columns]
        values = [{str(k): v for k, v in record.items()} for record in value.to_dict("records")]
        items = Items(list(value.index), values, columns, value.index)
    elif module.startswith("pandas") and kind == "Series":
        items = Items(list(value.index), list(value.tolist()), [], value.index)
    elif isinstance(value, (str, bytes, bytearray)):
        raise InvalidArgument(f"--over {label} is a {kind}, not a collection of items: "
                              "use a list, tuple, Series or DataFrame.")
    elif isinstance(value, Mapping):
        items = Items(list(value.keys()), list(value.values()))
    elif isinstance(value, Iterable):
        elements = list(value)
        items = Items(list(range(len(elements))), elements)
    else:
        raise InvalidArgument(f"--over {label} is a {kind}, which is not iterable: use a "
                              "list, tuple, Series or DataFrame.")
    if not items.values:
        raise InvalidArgument(f"--over {label} is empty: there is nothing to send.")
    if len(items.values) > MAX_ITEMS and not batch:
        raise InvalidArgument(
            f"--over {label} has {len(items.values):,} items; more than {MAX_ITEMS:,} need "
            "--batch (xAI's Batch API)."
        )
    return items


def check_columns(template: str, items: Items, label: str, as_name: str,
                  namespace: Mapping[str, Any], hidden: frozenset[str]) -> None:
    """A DataFrame template must not name a column the frame lacks (unless that name is
    defined anyway): ``{ratng}`` would otherwise reach the model as literal text 1,000 times."""
    if not items.columns:
        return
    known = {c for c in items.columns if _identifier(c)} | {as_name, "index"}
    for dotted in placeholders(template):
        head = dotted.split(".")[0]
        if head in known or is_defined(head, namespace, hidden=hidden):
            continue
        shown = ", ".join(items.columns[:12]) + (" …" if len(items.columns) > 12 else "")
        raise InvalidArgument(
            f"The template uses {{{head}}}, which is not a column of {label} ({shown}) "
            "nor a defined name."
        )
