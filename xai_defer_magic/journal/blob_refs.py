"""Which stored images the journal's rows still refer to: what a sweep must keep.

A row refers to an image by the ``blob:`` URL of its stored form (``core.images``): job
requests, fan-out items' requests, and thread turns (the user message as sent, the body).
"""

from __future__ import annotations

import re
import sqlite3

from xai_defer_magic.core.images import BLOB_PREFIX

REFERRING = (("jobs", "request"), ("group_items", "request"), ("thread_turns", "said"),
             ("thread_turns", "body"))
_BLOB = re.compile(re.escape(BLOB_PREFIX) + r"[a-z/+.-]+;sha256,([0-9a-f]{64})")


def referenced(conn: sqlite3.Connection) -> set[str]:
    """The SHA-256 of every image some row refers to (one pass over the rows with images)."""
    present = {name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    found: set[str] = set()
    for table, column in REFERRING:
        if table not in present:
            continue
        rows = conn.execute(
            f"SELECT {column} FROM {table} WHERE instr({column}, '{BLOB_PREFIX}') > 0")
        for (text,) in rows:
            found.update(_BLOB.findall(text))
    return found
