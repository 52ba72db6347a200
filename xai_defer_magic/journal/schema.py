"""The table, its migrations and indexes: brought up to date on open, never downgraded."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from .side_tables import ensure_tables

SCHEMA_VERSION = 1


class NewerSchema(Exception):
    """The file was written by a newer xai_defer_magic; we must not touch it."""


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """Version 1: one row per job, plus the internal lease columns."""
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS jobs (
            request_id    TEXT PRIMARY KEY,
            created_at    REAL NOT NULL,
            model         TEXT NOT NULL,
            request       TEXT NOT NULL,
            base_url      TEXT NOT NULL,
            status        TEXT NOT NULL,
            polls         INTEGER NOT NULL DEFAULT 0,
            last_poll_at  REAL,
            response_text TEXT,
            error         TEXT,
            owner         TEXT,
            cell_id       TEXT,
            finished_at   REAL,
            lease_owner   TEXT,
            lease_until   REAL
        )
        """
    )
    conn.execute("CREATE INDEX IF NOT EXISTS jobs_created_at ON jobs (created_at)")


# MIGRATIONS[n] brings a database from version n - 1 to version n.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_v1}

# Indexes any version may add without a version bump (older code simply ignores them). The
# request index keys on the text's length, not the text: a few bytes per row instead of a
# second copy of every prompt, and equal requests still meet in one small index range.
INDEXES = {
    "jobs_request_size": "CREATE INDEX IF NOT EXISTS jobs_request_size "
    "ON jobs (base_url, length(request))",
}


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema up to SCHEMA_VERSION; takes the write lock only when there is work."""
    if user_version(conn) != SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = user_version(conn)  # re-read: another kernel may have migrated meanwhile
            if version > SCHEMA_VERSION:
                raise NewerSchema(f"schema version {version}")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[target](conn)
                conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    ensure_tables(conn)  # the group and batch tables: any version may add them
    _ensure_indexes(conn)


def _ensure_indexes(conn: sqlite3.Connection) -> None:
    """Create missing optional indexes; skipped quietly when the file is busy (they only speed
    up lookups, and the next open tries again)."""
    present = {
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    }
    missing = [sql for name, sql in INDEXES.items() if name not in present]
    if not missing:
        return
    waited = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        for sql in missing:
            conn.execute(sql)
    except sqlite3.OperationalError:
        pass
    finally:
        conn.execute(f"PRAGMA busy_timeout = {waited}")
