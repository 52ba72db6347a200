"""Durable fan-out groups: the group, each item's request and its submission state.

Two tables beside ``jobs`` in the journal's SQLite file (WAL): ``groups`` and ``group_items``.
Every item is written, with its full request, before the first POST. An item then moves
``queued`` -> ``sending`` (written just before its POST) -> ``accepted`` (with the request id,
written as soon as the POST returns, then the job row goes to the journal). After a crash,
``queued`` items are sent by the next kernel; a ``sending`` item may or may not have reached
xAI (no idempotency key exists, and xAI cannot list deferred requests), so it becomes
``unknown``: reported as failed, never re-sent by itself; ``g.retry_failed()`` sends it again
on the user's word. Other states: ``failed`` (xAI answered with an error, nothing started) and
``cancelled``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .journal.connections import durable_transaction

ITEM_STATES = ("queued", "sending", "accepted", "failed", "unknown", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    group_id TEXT PRIMARY KEY, created_at REAL NOT NULL, base_url TEXT NOT NULL,
    model TEXT NOT NULL, template TEXT NOT NULL, size INTEGER NOT NULL,
    columns TEXT NOT NULL DEFAULT '[]', owner TEXT, cancelled INTEGER NOT NULL DEFAULT 0,
    engine TEXT NOT NULL DEFAULT 'deferred'
);
CREATE TABLE IF NOT EXISTS group_items (
    group_id TEXT NOT NULL, idx INTEGER NOT NULL, label TEXT NOT NULL, value TEXT NOT NULL,
    request TEXT NOT NULL, state TEXT NOT NULL, request_id TEXT, error TEXT,
    names TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (group_id, idx)
);
"""


@dataclass
class GroupRow:
    group_id: str
    created_at: float
    base_url: str
    model: str
    template: str
    size: int
    columns: list[str]
    owner: str | None
    cancelled: bool
    engine: str = "deferred"  # or "batch": the group runs as one xAI batch (batch_groups)


@dataclass
class ItemRow:
    idx: int
    label: Any  # the input's index label (JSON round-tripped)
    value: Any  # the element, or the DataFrame row as {column: value}
    request: dict[str, Any]
    state: str = "queued"
    request_id: str | None = None
    error: str | None = None
    names: tuple[str, ...] = ()


def to_json(value: Any) -> str:
    """JSON for labels and values; numpy scalars and timestamps become numbers or strings."""
    return json.dumps(value, ensure_ascii=False, default=_plain)


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    return str(value)


class GroupStore:
    """Thread-safe access to the two group tables (its own connection to the journal file)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        target = str(path) if path is not None else ":memory:"
        self._conn = sqlite3.connect(target, timeout=10.0, isolation_level=None,
                                     check_same_thread=False)
        if path is not None:
            self._conn.execute("PRAGMA journal_mode=WAL")
            if path.exists():
                os.chmod(path, 0o600)
        self._conn.execute("PRAGMA synchronous=NORMAL")  # survives kill -9; ids also go FULL
        self._conn.executescript(_SCHEMA)
        columns = {r[1] for r in self._conn.execute("PRAGMA table_info(groups)")}
        if "engine" not in columns:  # a journal written before --batch existed
            self._conn.execute(
                "ALTER TABLE groups ADD COLUMN engine TEXT NOT NULL DEFAULT 'deferred'")

    def create(self, group: GroupRow, items: list[ItemRow]) -> None:
        """The group and all its items, in one durable transaction, before any POST."""
        rows = [(group.group_id, i.idx, to_json(i.label), to_json(i.value),
                 json.dumps(i.request, ensure_ascii=False), i.state, json.dumps(list(i.names)))
                for i in items]
        with self._lock, durable_transaction(self._conn) as conn:
            conn.execute(
                "INSERT INTO groups (group_id, created_at, base_url, model, template, size,"
                " columns, owner, engine) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (group.group_id, group.created_at, group.base_url, group.model,
                 group.template, group.size, json.dumps(group.columns), group.owner,
                 group.engine))
            conn.executemany(
                "INSERT INTO group_items (group_id, idx, label, value, request, state, names)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def set_state(self, group_id: str, idx: int, state: str, *, request_id: str | None = None,
                  error: str | None = None) -> None:
        assert state in ITEM_STATES
        with self._lock:
            self._conn.execute(
                "UPDATE group_items SET state = ?, request_id = COALESCE(?, request_id),"
                " error = ? WHERE group_id = ? AND idx = ?",
                (state, request_id, error, group_id, idx))

    def set_owner(self, group_id: str, owner: str) -> None:
        with self._lock:
            self._conn.execute("UPDATE groups SET owner = ? WHERE group_id = ?", (owner, group_id))

    def set_cancelled(self, group_id: str, cancelled: bool) -> None:
        with self._lock:
            self._conn.execute("UPDATE groups SET cancelled = ? WHERE group_id = ?",
                               (int(cancelled), group_id))

    def groups(self) -> list[GroupRow]:
        """Every group, newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT group_id, created_at, base_url, model, template, size, columns, owner,"
                " cancelled, engine FROM groups ORDER BY created_at DESC").fetchall()
        return [GroupRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], bool(r[8]),
                         r[9]) for r in rows]

    def items(self, group_id: str) -> list[ItemRow]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT idx, label, value, request, state, request_id, error, names"
                " FROM group_items WHERE group_id = ? ORDER BY idx", (group_id,)).fetchall()
        return [ItemRow(r[0], json.loads(r[1]), json.loads(r[2]), json.loads(r[3]), r[4], r[5],
                        r[6], tuple(json.loads(r[7]))) for r in rows]

    def grouped_request_ids(self) -> set[str]:
        """Request ids that belong to a group (the jobs panel lists them under it)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT request_id FROM group_items WHERE request_id IS NOT NULL").fetchall()
        return {r[0] for r in rows}

    def forget(self, group_id: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM group_items WHERE group_id = ?", (group_id,))
            self._conn.execute("DELETE FROM groups WHERE group_id = ?", (group_id,))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def new_group_id() -> str:
    return f"g-{os.urandom(5).hex()}"

