"""How the Batch API pages its lists: ``limit`` and an opaque ``pagination_token``.

A token names the last id of the page it ends, so a page stays stable while new results land;
pages of batches, request metadata and results all work this way (``BATCH.md`` §2).
"""

from __future__ import annotations

import bisect

MAX_PAGE = 1000  # "max 1000" on /requests and /results (REST reference)
DEFAULT_PAGE = 100  # the server's choice; not documented


class BadQuery(ValueError):
    """A query parameter that cannot be read: a 400."""


def page_limit(query: dict[str, str]) -> int:
    """The page size asked for (``limit``, or the older guides' ``page_size``), or BadQuery."""
    text = query.get("limit") or query.get("page_size")
    if not text:
        return DEFAULT_PAGE
    try:
        value = int(text)
    except ValueError:
        raise BadQuery(f"limit must be an integer, not {text!r}") from None
    if value < 1:
        raise BadQuery("limit must be >= 1")
    return value


def make_token(last_id: str) -> str:
    """Opaque to clients: the last id of the page, so pages stay stable while results land."""
    return "p1" + last_id.encode().hex()


def read_token(query: dict[str, str]) -> str | None:
    """The last id named by the query's ``pagination_token`` (None on a first page)."""
    text = query.get("pagination_token")
    if not text:
        return None
    try:
        if not text.startswith("p1"):
            raise ValueError(text)
        return bytes.fromhex(text[2:]).decode()
    except (UnicodeDecodeError, ValueError):
        raise BadQuery("pagination_token is not a token this server issued") from None


def page_after(ids: list[str], last_id: str | None) -> int:
    """Index in sorted ``ids`` of the first id after ``last_id`` (0 on a first page)."""
    return 0 if not last_id else bisect.bisect_right(ids, last_id)
