"""The batch engine's journal: tables ``batches`` and ``batch_items`` in the jobs journal's file.

Same file as :class:`journal.Journal` (``<home>/jobs.sqlite3``, directory 0700, file 0600, WAL),
own tables, created with ``CREATE TABLE IF NOT EXISTS`` so either side may open the file first.
One store per batch run, keyed by the caller's group id. The writes a restart depends on (the
request ids, the batch id) are fsynced in full; results use WAL's NORMAL sync, which survives a
killed process, the failure this is for.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from .batch_engine import SavedBatch
from .journal import DB_NAME, default_home
from .journal.files import ensure_dir, ensure_file

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS batches (
        group_id    TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        batch_id    TEXT,
        base_url    TEXT,
        created_at  REAL NOT NULL,
        adds_done   INTEGER NOT NULL DEFAULT 0
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS batch_items (
        group_id         TEXT NOT NULL,
        position         INTEGER NOT NULL,
        batch_request_id TEXT NOT NULL,
        result_text      TEXT,
        saved_at         REAL,
        PRIMARY KEY (group_id, batch_request_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS batch_items_position ON batch_items (group_id, position)",
)


class SQLiteBatchStore:
    """:class:`batch_engine.BatchStorage` on SQLite; thread-safe, usable from the loop thread."""

    def __init__(self, home: str | os.PathLike[str] | None, group_id: str, *,
                 base_url: str | None = None, timeout: float = 5.0) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.path = self.home / DB_NAME
        self.group_id = group_id
        self.base_url = base_url
        self._lock = threading.Lock()
        ensure_dir(self.home)
        ensure_file(self.path)
        self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._conn.execute(statement)

    def __repr__(self) -> str:
        return f"SQLiteBatchStore({str(self.path)!r}, group_id={self.group_id!r})"

    # --- BatchStorage ----------------------------------------------------------------------

    def saved_batch(self) -> SavedBatch | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT name, batch_id, adds_done FROM batches WHERE group_id = ?",
                (self.group_id,),
            ).fetchone()
        return None if row is None else SavedBatch(row[0], row[1], bool(row[2]))

    def begin(self, name: str, batch_request_ids: Sequence[str]) -> None:
        """The name and every request id, in one transaction, before anything is sent."""
        rows = [(self.group_id, i, rid) for i, rid in enumerate(batch_request_ids)]
        with self._lock, self._transaction(full_sync=True):
            self._conn.execute(
                "INSERT INTO batches (group_id, name, base_url, created_at) VALUES (?, ?, ?, ?)",
                (self.group_id, name, self.base_url, time.time()),
            )
            self._conn.executemany(
                "INSERT INTO batch_items (group_id, position, batch_request_id) VALUES (?, ?, ?)",
                rows,
            )

    def save_batch_id(self, batch_id: str) -> None:
        with self._lock, self._transaction(full_sync=True):
            self._conn.execute("UPDATE batches SET batch_id = ? WHERE group_id = ?",
                               (batch_id, self.group_id))

    def save_adds_done(self) -> None:
        with self._lock, self._transaction(full_sync=False):
            self._conn.execute("UPDATE batches SET adds_done = 1 WHERE group_id = ?",
                               (self.group_id,))

    def save_result(self, batch_request_id: str, raw_text: str) -> None:
        with self._lock, self._transaction(full_sync=False):
            self._conn.execute(
                "UPDATE batch_items SET result_text = ?, saved_at = ? "
                "WHERE group_id = ? AND batch_request_id = ?",
                (raw_text, time.time(), self.group_id, batch_request_id),
            )

    def saved_results(self) -> dict[str, str]:
        """Journaled results, in input order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT batch_request_id, result_text FROM batch_items "
                "WHERE group_id = ? AND result_text IS NOT NULL ORDER BY position",
                (self.group_id,),
            ).fetchall()
        return {rid: text for rid, text in rows}

    # --- extras ----------------------------------------------------------------------------

    def batch_request_ids(self) -> list[str]:
        """Every journaled request id, in input order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT batch_request_id FROM batch_items WHERE group_id = ? ORDER BY position",
                (self.group_id,),
            ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _transaction(self, *, full_sync: bool) -> _Transaction:
        return _Transaction(self._conn, full_sync)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error), optionally with a full fsync."""

    def __init__(self, conn: sqlite3.Connection, full_sync: bool) -> None:
        self._conn = conn
        self._full = full_sync

    def __enter__(self) -> None:
        if self._full:
            self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            self._conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")
        finally:
            if self._full:
                self._conn.execute("PRAGMA synchronous=NORMAL")
