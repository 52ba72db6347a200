"""``--image SOURCE`` on a ``%%grok_defer`` line: a name in the namespace, else a literal path
or ``https://`` URL. Under ``--over``, the item's name (``item`` or the ``--as`` name) and any
other name that is neither a variable nor a file are read per item (a DataFrame column).
Every refusal is one ``UsageError`` line, before anything is stored or sent.
"""

from __future__ import annotations

import os
from typing import Any

from IPython.core.error import UsageError

from xai_defer_magic.core.images import PerItem, PromptImage
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.runtime.image_sources import resolve


def _sources(args: Any) -> list[str]:
    """The SOURCEs as written; IPython's splitting keeps the quotes of ``"my plot.png"``."""
    raws = getattr(args, "image", None) or []
    return [r[1:-1] if len(r) >= 2 and r[0] == r[-1] and r[0] in "'\"" else r for r in raws]


def _per_item(args: Any, name: str, namespace: dict[str, Any]) -> bool:
    """Under ``--over``: the item's name, or a name that is neither a variable nor a file
    (a column; the fan-out says so in one line when it is not one)."""
    if getattr(args, "over", None) is None:
        return False
    if name == (args.as_name or "item"):
        return True
    return name.isidentifier() and name not in namespace and not os.path.exists(name)


def line_images(args: Any, namespace: dict[str, Any]) -> tuple[PromptImage, ...] | None:
    """The images of a cell without ``--over``, resolved (with thumbnails); None: none."""
    if getattr(args, "over", None) is not None:
        return None  # see over_images: the order mixes shared and per-item images
    return tuple(_resolved(name, namespace) for name in _sources(args)) or None


def over_images(args: Any, namespace: dict[str, Any]) -> list[PromptImage | PerItem]:
    """The images of a ``--over`` cell in the order given: the item's (or a column's) read
    from each item, the others resolved once."""
    return [PerItem(name) if _per_item(args, name, namespace) else _resolved(name, namespace)
            for name in _sources(args)]


def _resolved(name: str, namespace: dict[str, Any]) -> PromptImage:
    source = namespace[name] if name.isidentifier() and name in namespace else name
    try:
        return resolve(source, name)
    except InvalidArgument as exc:
        raise UsageError(str(exc)) from None
