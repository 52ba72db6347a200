"""The fan-out group and batch tables beside ``jobs``: their schema and every write as an op.

The group store (``group_items``: which item has which request id) and the batch store
(``batch_items``: the batch id, each paid-for result) share the journal's file, so they share
its connection, its lock queue and its fallback file too: their writes are journal ops
(:mod:`ops`). A held write lock is then waited out exactly like the journal's own writes,
queued in the order they were made (one queue for jobs, groups and batches), and a kernel
killed before the lock frees leaves them in its fallback file for the next kernel to merge.

Replay is idempotent: inserts ignore a row that is already there. A dead process's op
(``orphan``) only fills a gap: it never changes an item that already has its request id, a
batch id already saved, or a result already journaled.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from . import thread_tables

_TABLES = {
    "groups": """
        CREATE TABLE IF NOT EXISTS groups (
            group_id TEXT PRIMARY KEY, created_at REAL NOT NULL, base_url TEXT NOT NULL,
            model TEXT NOT NULL, template TEXT NOT NULL, size INTEGER NOT NULL,
            columns TEXT NOT NULL DEFAULT '[]', owner TEXT,
            cancelled INTEGER NOT NULL DEFAULT 0, engine TEXT NOT NULL DEFAULT 'deferred'
        )""",
    "group_items": """
        CREATE TABLE IF NOT EXISTS group_items (
            group_id TEXT NOT NULL, idx INTEGER NOT NULL, label TEXT NOT NULL,
            value TEXT NOT NULL, request TEXT NOT NULL, state TEXT NOT NULL, request_id TEXT,
            error TEXT, names TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (group_id, idx)
        )""",
    "batches": """
        CREATE TABLE IF NOT EXISTS batches (
            group_id TEXT PRIMARY KEY, name TEXT NOT NULL, batch_id TEXT, base_url TEXT,
            created_at REAL NOT NULL, adds_done INTEGER NOT NULL DEFAULT 0
        )""",
    "batch_items": """
        CREATE TABLE IF NOT EXISTS batch_items (
            group_id TEXT NOT NULL, position INTEGER NOT NULL,
            batch_request_id TEXT NOT NULL, result_text TEXT, saved_at REAL,
            PRIMARY KEY (group_id, batch_request_id)
        )""",
}
_TABLES.update(thread_tables.TABLES)  # conversations (--thread): see thread_tables
_BATCH_POSITION = ("CREATE INDEX IF NOT EXISTS batch_items_position "
                   "ON batch_items (group_id, position)")

# Every kind is precious (kept in the fallback file while the file is locked); these also
# get a full fsync: what a restart needs before anything is sent.
KINDS = frozenset({"group_create", "group_item", "group_owner", "group_cancelled",
                   "group_forget", "batch_begin", "batch_id", "batch_adds_done",
                   "batch_result"}) | thread_tables.KINDS
DURABLE = frozenset({"group_create", "group_forget", "batch_begin", "batch_id"}
                    ) | thread_tables.DURABLE


def ensure_tables(conn: sqlite3.Connection) -> None:
    """Create the tables (and the ``engine`` column of journals written before ``--batch``)
    when missing; takes the write lock only when there is something to create."""
    present = {name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
    todo = [sql for name, sql in _TABLES.items() if name not in present]
    if "batch_items_position" not in present:
        todo.append(_BATCH_POSITION)
    if thread_tables.INDEX[0] not in present:
        todo.append(thread_tables.INDEX[1])
    if "groups" in present and "engine" not in {
            r[1] for r in conn.execute("PRAGMA table_info(groups)")}:
        todo.append("ALTER TABLE groups ADD COLUMN engine TEXT NOT NULL DEFAULT 'deferred'")
    for table, column, alter in thread_tables.ADDED_COLUMNS:
        if table in present and column not in {
                r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
            todo.append(alter)
    if not todo:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql in todo:
            conn.execute(sql)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def apply(conn: sqlite3.Connection, kind: str, a: dict[str, Any], *, orphan: bool) -> int:
    """Run one group, batch or thread op; returns the rows it changed."""
    if kind in thread_tables.KINDS:
        return thread_tables.apply(conn, kind, a, orphan=orphan)
    if kind == "group_create":
        g = a["group"]
        conn.execute(
            "INSERT OR IGNORE INTO groups (group_id, created_at, base_url, model, template,"
            " size, columns, owner, engine) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (g["group_id"], g["created_at"], g["base_url"], g["model"], g["template"],
             g["size"], g["columns"], g["owner"], g["engine"]))
        conn.executemany(
            "INSERT OR IGNORE INTO group_items (group_id, idx, label, value, request, state,"
            " names) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(g["group_id"], *row) for row in a["items"]])
        return 1
    if kind == "group_item":
        gap = " AND request_id IS NULL" if orphan else ""
        return _changed(conn, "UPDATE group_items SET state = ?, request_id = COALESCE(?,"
                        f" request_id), error = ? WHERE group_id = ? AND idx = ?{gap}",
                        (a["state"], a["request_id"], a["error"], a["group_id"], a["idx"]))
    if kind == "group_owner":
        return _changed(conn, "UPDATE groups SET owner = ? WHERE group_id = ?",
                        (a["owner"], a["group_id"]))
    if kind == "group_cancelled":
        return _changed(conn, "UPDATE groups SET cancelled = ? WHERE group_id = ?",
                        (int(a["cancelled"]), a["group_id"]))
    if kind == "group_forget":
        conn.execute("DELETE FROM group_items WHERE group_id = ?", (a["group_id"],))
        return _changed(conn, "DELETE FROM groups WHERE group_id = ?", (a["group_id"],))
    return _apply_batch(conn, kind, a, orphan=orphan)


def _apply_batch(conn: sqlite3.Connection, kind: str, a: dict[str, Any], *, orphan: bool) -> int:
    if kind == "batch_begin":
        conn.execute(
            "INSERT OR IGNORE INTO batches (group_id, name, base_url, created_at)"
            " VALUES (?, ?, ?, ?)", (a["group_id"], a["name"], a["base_url"], a["at"]))
        conn.executemany(
            "INSERT OR IGNORE INTO batch_items (group_id, position, batch_request_id)"
            " VALUES (?, ?, ?)", [(a["group_id"], i, rid) for i, rid in enumerate(a["ids"])])
        return 1
    if kind == "batch_id":
        gap = " AND batch_id IS NULL" if orphan else ""
        return _changed(conn, f"UPDATE batches SET batch_id = ? WHERE group_id = ?{gap}",
                        (a["batch_id"], a["group_id"]))
    if kind == "batch_adds_done":
        return _changed(conn, "UPDATE batches SET adds_done = 1 WHERE group_id = ?",
                        (a["group_id"],))
    if kind == "batch_result":
        gap = " AND result_text IS NULL" if orphan else ""
        return _changed(conn, "UPDATE batch_items SET result_text = ?, saved_at = ? WHERE"
                        f" group_id = ? AND batch_request_id = ?{gap}",
                        (a["text"], a["at"], a["group_id"], a["batch_request_id"]))
    raise ValueError(f"unknown journal op {kind!r}")


def _changed(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> int:
    return int(conn.execute(sql, params).rowcount)
