"""Opening SQLite connections the way the journal needs them, and small helpers around them."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from .files import ensure_dir, ensure_file, make_sidecars_private
from .schema import SCHEMA_VERSION, NewerSchema, migrate, user_version

log = logging.getLogger(__name__)


def connect_file(
    home: Path, file: Path, timeout: float
) -> tuple[sqlite3.Connection, str | None]:
    """Create the directory (0700) and file (0600), open it in WAL mode and migrate. Returns
    the connection and a warning line when the directory is writable by others."""
    warning = ensure_dir(home)
    ensure_file(file)
    conn = sqlite3.connect(file, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        if user_version(conn) > SCHEMA_VERSION:  # before WAL: that would rewrite the header
            raise NewerSchema(f"schema version {user_version(conn)}")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.debug("journal %s: journal_mode is %s, not wal", file, mode)
        # WAL + NORMAL survives a killed process (the failure the journal is for) without an
        # fsync per poll; request ids and answers are written with a full fsync (see ops).
        conn.execute("PRAGMA synchronous=NORMAL")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    make_sidecars_private(file)
    return conn, warning


def memory_copy(source: sqlite3.Connection | None) -> sqlite3.Connection:
    """An in-memory database seeded with the file's rows when they can be read at once."""
    memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    if source is not None:
        try:
            set_wait(source, 0)
            source.backup(memory)
        except sqlite3.Error:
            close_quietly(memory)
            memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    migrate(memory)
    return memory


def set_wait(conn: sqlite3.Connection, seconds: float) -> None:
    """How long the next statements wait for another process's lock (SQLite busy_timeout)."""
    conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """End a failed transaction so the connection (and its lock) is usable again."""
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def close_quietly(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.close()


@contextlib.contextmanager
def durable_transaction(
    conn: sqlite3.Connection, *, full: bool = True
) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` transaction, with a full fsync unless ``full`` is False (WAL's
    NORMAL sync survives a killed process): all of it lands, or none."""
    if full:
        conn.execute("PRAGMA synchronous=FULL")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        if full:
            conn.execute("PRAGMA synchronous=NORMAL")
