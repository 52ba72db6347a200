"""The thread tables beside ``jobs``: their schema and every write as a journal op.

``threads`` (a name and its head: the last turn of the current line) and ``thread_turns``
(every turn ever made, each pointing at the turn it follows). Written through the job
journal's ops (see ``side_tables``), so a held write lock is waited out in order and a kernel
killed meanwhile leaves them in its fallback file. A queued turn is one row here and no job
row: its body is written (state ``sent``) before the engine journals the job's intent row
and POSTs, which is how a restart tells "never sent" from "sent".
"""

from __future__ import annotations

import sqlite3
from typing import Any

TABLES = {
    "threads": """
        CREATE TABLE IF NOT EXISTS threads (
            name TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL,
            head TEXT
        )""",
    "thread_turns": """
        CREATE TABLE IF NOT EXISTS thread_turns (
            turn_id TEXT PRIMARY KEY, name TEXT NOT NULL, parent TEXT, cell_id TEXT,
            created_at REAL NOT NULL, system TEXT, said TEXT NOT NULL, params TEXT NOT NULL,
            state TEXT NOT NULL, request_id TEXT, body TEXT, error TEXT, owner TEXT,
            options TEXT
        )""",
}
INDEX = ("thread_turns_name", "CREATE INDEX IF NOT EXISTS thread_turns_name "
         "ON thread_turns (name, created_at)")

# Columns added after the table first shipped: (table, column, ALTER statement).
ADDED_COLUMNS = (("thread_turns", "options", "ALTER TABLE thread_turns ADD COLUMN options TEXT"),)

KINDS = frozenset({"thread_turn", "thread_state", "thread_head"})
DURABLE = frozenset({"thread_turn"})


def apply(conn: sqlite3.Connection, kind: str, a: dict[str, Any], *, orphan: bool) -> int:
    """Run one thread op; returns the rows it changed."""
    if kind == "thread_turn":
        t = a["turn"]
        conn.execute(
            "INSERT OR IGNORE INTO thread_turns (turn_id, name, parent, cell_id, created_at,"
            " system, said, params, state, request_id, body, error, owner, options)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (t["turn_id"], t["name"], t["parent"], t["cell_id"], t["created_at"], t["system"],
             t["said"], t["params"], t["state"], t["request_id"], t["body"], t["error"],
             t["owner"], t.get("options")))  # a fallback file's op from before options
        conn.execute(
            "INSERT INTO threads (name, created_at, updated_at, head) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET head = excluded.head,"
            " updated_at = excluded.updated_at",
            (t["name"], t["created_at"], t["created_at"], t["turn_id"]))
        return 1
    if kind == "thread_state":
        gap = " AND request_id IS NULL" if orphan else ""
        return int(conn.execute(
            "UPDATE thread_turns SET state = ?, request_id = COALESCE(?, request_id),"
            " body = COALESCE(?, body), error = ?, owner = COALESCE(?, owner)"
            " WHERE turn_id = ?" + gap,
            (a["state"], a["request_id"], a["body"], a["error"], a["owner"],
             a["turn_id"])).rowcount)
    if kind == "thread_head":
        return int(conn.execute("UPDATE threads SET head = ? WHERE name = ?",
                                (a["head"], a["name"])).rowcount)
    raise ValueError(f"unknown journal op {kind!r}")
