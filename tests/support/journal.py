"""Journal stand-ins for disks that misbehave."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from xai_defer_magic.journal import DB_NAME


class FailingWrites:
    """Stands in for the file connection once the disk has filled up."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "BEGIN")):
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


def responses_on_disk(home: Path) -> dict[str, bool]:
    """Which rows of the database FILE hold their 200 body (read with a separate connection)."""
    with contextlib.closing(sqlite3.connect(home / DB_NAME, timeout=5)) as conn:
        rows = conn.execute("SELECT request_id, response_text IS NOT NULL FROM jobs").fetchall()
    return {rid: bool(stored) for rid, stored in rows}
