"""The on-disk job journal: no paid-for answer is ever lost.

xAI hands a deferred result out exactly once, so every request id and every raw 200 body is
committed to a small SQLite database (WAL mode) before anything else happens with it. Several
kernels may share one journal directory; a per-row lease (``claim``/``release``) makes sure only
one poller at a time may GET a given id.

The journal must never crash the kernel. When the file cannot be used (unwritable directory,
corrupt file, database locked past the timeout, disk full) it reports ONE clear line through
``on_problem`` and carries on with an in-memory database, so the session keeps working; only
durability across restarts is lost.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "SCHEMA_VERSION",
    "STATUSES",
    "UNFINISHED",
    "JobRecord",
    "Journal",
    "default_home",
    "process_owner",
]

log = logging.getLogger(__name__)

STATUSES = ("submitting", "pending", "done", "failed", "expired", "timed_out", "cancelled")
# Jobs whose result may still be fetched from the server.
UNFINISHED = ("submitting", "pending", "timed_out", "cancelled")

DB_NAME = "jobs.sqlite3"
SCHEMA_VERSION = 1
_SQLITE_HEADER = b"SQLite format 3\x00"
_CONSEQUENCE = "jobs still run but will not survive a kernel restart."

T = TypeVar("T")


# --- records ------------------------------------------------------------------------------


@dataclass
class JobRecord:
    """One deferred job as the journal stores it (lease columns are internal, not here)."""

    request_id: str
    created_at: float
    model: str
    request: dict[str, Any]
    base_url: str
    status: str = "pending"
    polls: int = 0
    last_poll_at: float | None = None
    response_text: str | None = None
    error: str | None = None
    owner: str | None = None
    cell_id: str | None = None
    finished_at: float | None = None

    @property
    def prompt_preview(self) -> str:
        """The last user message, whitespace-collapsed and cut to 80 characters, for listings."""
        text = _last_user_text(self.request.get("messages"))
        text = " ".join(text.split())
        return text if len(text) <= 80 else text[:79] + "…"


def _last_user_text(messages: Any) -> str:
    """Text of the last ``role == "user"`` message; tolerates content given as parts."""
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                parts = [p.get("text", "") for p in content if isinstance(p, dict)]
                return " ".join(p for p in parts if isinstance(p, str))
            return ""
    return ""


_FIELDS = (
    "request_id",
    "created_at",
    "model",
    "request",
    "base_url",
    "status",
    "polls",
    "last_poll_at",
    "response_text",
    "error",
    "owner",
    "cell_id",
    "finished_at",
)
_SELECT = f"SELECT {', '.join(_FIELDS)} FROM jobs"
# Insert-or-update that keeps the lease columns and never replaces a journaled response.
_UPSERT = (
    f"INSERT INTO jobs ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))}) "
    "ON CONFLICT(request_id) DO UPDATE SET "
    + ", ".join(
        "response_text = COALESCE(jobs.response_text, excluded.response_text)"
        if name == "response_text"
        else f"{name} = excluded.{name}"
        for name in _FIELDS[1:]
    )
)


_STORE_RESPONSE = (
    "INSERT INTO jobs (request_id, created_at, model, request, base_url, status, "
    "response_text, last_poll_at) VALUES (?, ?, '', '{}', '', 'pending', ?, ?) "
    "ON CONFLICT(request_id) DO UPDATE SET response_text = excluded.response_text, "
    "last_poll_at = excluded.last_poll_at WHERE jobs.response_text IS NULL"
)


def _record_params(record: JobRecord) -> tuple[Any, ...]:
    """Row values for ``record`` in ``_FIELDS`` order (the request body as JSON text)."""
    values = {name: getattr(record, name) for name in _FIELDS}
    values["request"] = json.dumps(record.request, ensure_ascii=False, sort_keys=True)
    return tuple(values[name] for name in _FIELDS)


def _row_to_record(row: tuple[Any, ...]) -> JobRecord:
    """Build a JobRecord from a ``_SELECT`` row; a damaged request column becomes ``{}``."""
    values = dict(zip(_FIELDS, row, strict=True))
    try:
        request = json.loads(values["request"])
    except (TypeError, ValueError):
        request = {}
    values["request"] = request if isinstance(request, dict) else {}
    return JobRecord(**values)


# --- ownership ----------------------------------------------------------------------------


def process_owner() -> str:
    """Identify this process in leases and rows: ``"host:pid"``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_is_dead(owner: str) -> bool:
    """True only if ``owner`` is a process on THIS host that certainly no longer exists.

    Lets the next kernel resume a ``kill -9``-ed kernel's jobs at once instead of waiting for
    the lease to expire. Anything uncertain (other host, odd format, Windows, permission
    denied) counts as alive, which is the safe answer for exactly-once.
    """
    host, sep, pid_text = owner.rpartition(":")
    if not sep or host != socket.gethostname() or not pid_text.isdigit() or os.name == "nt":
        return False
    pid = int(pid_text)
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def default_home() -> Path:
    """Journal directory when none is given: ``$XAI_DEFER_HOME`` or the per-user data dir."""
    env = os.environ.get("XAI_DEFER_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("xai_defer_magic"))


# --- schema -------------------------------------------------------------------------------


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


class _NewerSchema(Exception):
    """The file was written by a newer xai_defer_magic; we must not touch it."""


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema up to SCHEMA_VERSION; takes the write lock only when there is work."""
    if _user_version(conn) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _user_version(conn)  # re-read: another kernel may have migrated meanwhile
        if version > SCHEMA_VERSION:
            raise _NewerSchema(f"schema version {version}")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](conn)
            conn.execute(f"PRAGMA user_version = {target}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


# --- problems -----------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _describe_open_failure(path: Path, exc: BaseException) -> str:
    """One line saying why the journal file cannot be used at all."""
    if isinstance(exc, _NewerSchema):
        what = f"was written by a newer xai_defer_magic ({exc}; left untouched)"
    elif isinstance(exc, PermissionError) or "readonly" in str(exc):
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        what = f"is not writable ({reason})"
    elif isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename and str(exc.filename) != str(path) else ""
        what = f"cannot be created ({exc.strerror or exc}{where})"
    elif "locked" in str(exc) or "busy" in str(exc):
        what = f"is locked by another process ({exc})"
    elif isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        what = f"is not a valid SQLite database ({exc}; left untouched)"
    else:
        what = f"cannot be used ({exc})"
    return _one_line(f"Journal disabled: {path} {what}; {_CONSEQUENCE}")


def _describe_write_failure(path: Path, exc: BaseException) -> str:
    """One line saying a journal that opened fine has failed during the session."""
    reason = "is locked by another process" if "locked" in str(exc) else "failed"
    return _one_line(
        f"Journal disabled: {path} {reason} ({exc}); this session's jobs are kept in memory "
        "only and will not survive a kernel restart."
    )


# Errors that mean the caller passed bad data, not that the disk failed: never degrade for them.
_CALLER_BUGS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


class _CorruptFile(sqlite3.DatabaseError):
    """The file exists but does not start with the SQLite header."""


# --- the journal --------------------------------------------------------------------------


class Journal:
    """Durable, thread-safe, multi-kernel job store; degrades to memory instead of raising."""

    path: Path | None
    problem: str | None

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        on_problem: Callable[[str], None] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self._home = Path(home).expanduser() if home is not None else default_home()
        self._file = self._home / DB_NAME
        self._on_problem = on_problem
        self._timeout = timeout
        self._lock = threading.RLock()
        self._reported: set[str] = set()
        self._conn: sqlite3.Connection | None = None
        self.path = None
        self.problem = None
        with self._lock:
            self._open()

    # -- opening and degrading --

    def _open(self) -> None:
        """Open the file database, or fall back to memory with a reported problem."""
        try:
            self._conn = self._connect_file()
            self.path = self._file
        except (OSError, sqlite3.Error, _NewerSchema) as exc:
            self._degrade(_describe_open_failure(self._file, exc), copy_from=None)

    def _connect_file(self) -> sqlite3.Connection:
        """Create the directory (0700) and file (0600), then open it in WAL mode and migrate."""
        _ensure_dir(self._home)
        _ensure_file(self._file)
        conn = sqlite3.connect(
            self._file, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        try:
            if _user_version(conn) > SCHEMA_VERSION:  # before WAL: that would rewrite the header
                raise _NewerSchema(f"schema version {_user_version(conn)}")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.debug("journal %s: journal_mode is %s, not wal", self._file, mode)
            # WAL + NORMAL survives a killed process (the failure the journal is for) without
            # an fsync per poll; the writes that must also survive a power cut use _durably.
            conn.execute("PRAGMA synchronous=NORMAL")
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _degrade(self, line: str, *, copy_from: sqlite3.Connection | None) -> None:
        """Switch to an in-memory database (seeded from ``copy_from`` if readable) and report."""
        memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        if copy_from is not None and not _copy_database(copy_from, memory):
            memory.close()
            memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        _migrate(memory)
        if copy_from is not None:
            _close_quietly(copy_from)
        self._conn = memory
        self.path = None
        self._report(line)

    def _report(self, line: str) -> None:
        """Record the problem; tell ``on_problem`` (or the log) once per distinct line."""
        self.problem = line
        if line in self._reported:
            return
        self._reported.add(line)
        if self._on_problem is None:
            log.warning("%s", line)
            return
        try:
            self._on_problem(line)
        except Exception:  # a broken callback must not break the journal
            log.warning("%s", line, exc_info=True)

    def _connection(self) -> sqlite3.Connection:
        """The live connection; reopened lazily after ``close()`` so late writers still land."""
        if self._conn is None:
            self._open()
        assert self._conn is not None
        return self._conn

    def _run(self, action: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``action`` on the file; on failure degrade to memory and run it there instead."""
        with self._lock:
            conn = self._connection()
            try:
                return action(conn)
            except _CALLER_BUGS:
                raise
            except sqlite3.Error as exc:
                _rollback_quietly(conn)
                if self.path is None:  # already in memory: nothing left to fall back to
                    raise
                self._degrade(_describe_write_failure(self._file, exc), copy_from=conn)
                return action(self._connection())

    # -- writes --

    def add(self, record: JobRecord) -> None:
        """Insert or update a job; an already-journaled response is never replaced."""
        if record.status not in STATUSES:
            raise ValueError(f"unknown job status {record.status!r}")
        params = _record_params(record)
        self._run(lambda conn: _durably(conn, _UPSERT, params))

    def record_poll(self, request_id: str, polls: int, at: float) -> None:
        """Remember how often and when we last polled (shown in cards and the jobs panel)."""
        sql = "UPDATE jobs SET polls = ?, last_poll_at = ? WHERE request_id = ?"
        self._run(lambda conn: conn.execute(sql, (polls, at, request_id)))

    def store_response(self, request_id: str, text: str, at: float) -> None:
        """Commit the raw 200 body before anyone parses it; the first stored body wins.

        If the row is missing (e.g. forgotten, or lost when degrading to memory) a placeholder
        row is created rather than dropping the only copy of a paid-for answer.
        """
        params = (request_id, at, text, at)
        self._run(lambda conn: _durably(conn, _STORE_RESPONSE, params))

    def set_status(
        self,
        request_id: str,
        status: str,
        *,
        error: str | None = None,
        finished_at: float | None = None,
    ) -> None:
        """Set status, error and finished_at exactly as given (None clears the old value).

        A row that is done with its answer stored stays done: a late failure seen by another
        kernel (a 404 after this one fetched the answer) must not hide the answer.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown job status {status!r}")
        sql = (
            "UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE request_id = ?"
            " AND NOT (status = 'done' AND response_text IS NOT NULL)"
        )
        self._run(lambda conn: conn.execute(sql, (status, error, finished_at, request_id)))

    def assign_request_id(self, placeholder: str, request_id: str) -> bool:
        """Re-key an intent row (journaled before its POST) to the id the server answered
        with, as ``pending``; False if there was no such row."""
        sql = "UPDATE jobs SET request_id = ?, status = 'pending' WHERE request_id = ?"

        def rekey(conn: sqlite3.Connection) -> int:
            conn.execute("PRAGMA synchronous=FULL")
            try:
                return int(conn.execute(sql, (request_id, placeholder)).rowcount)
            finally:
                conn.execute("PRAGMA synchronous=NORMAL")

        return self._run(rekey) > 0

    def forget(self, request_id: str) -> None:
        """Delete a job's row (its result, if any, is gone with it)."""
        self._run(lambda conn: conn.execute("DELETE FROM jobs WHERE request_id = ?", (request_id,)))

    # -- reads --

    def get(self, request_id: str) -> JobRecord | None:
        """The job with this id, or None."""
        rows = self._select("WHERE request_id = ?", (request_id,))
        return rows[0] if rows else None

    def all(self) -> list[JobRecord]:
        """Every job in the journal, newest first."""
        return self._select("ORDER BY created_at DESC, rowid DESC")

    def unfinished(self) -> list[JobRecord]:
        """Jobs whose result may still be fetched, oldest first (closest to the 24 h limit)."""
        return self._select(
            f"WHERE status IN ({', '.join('?' * len(UNFINISHED))}) AND response_text IS NULL "
            "ORDER BY created_at ASC, rowid ASC",
            UNFINISHED,
        )

    def unparsed(self) -> list[JobRecord]:
        """Jobs whose 200 body is journaled but whose status was never finalised (crash
        between ``store_response`` and ``set_status``): render these, never GET them again."""
        return self._select(
            f"WHERE status IN ({', '.join('?' * len(UNFINISHED))}) "
            "AND response_text IS NOT NULL ORDER BY created_at ASC, rowid ASC",
            UNFINISHED,
        )

    def _select(self, where: str, params: Iterable[Any] = ()) -> list[JobRecord]:
        args = tuple(params)
        rows = self._run(lambda conn: conn.execute(f"{_SELECT} {where}", args).fetchall())
        return [_row_to_record(row) for row in rows]

    # -- leases --

    def claim(self, request_id: str, owner: str, lease_seconds: float) -> bool:
        """Take or renew the right to GET ``request_id`` for ``lease_seconds``.

        One ``BEGIN IMMEDIATE`` transaction, so two kernels can never both win. Refused when
        the 200 body is already journaled or another live owner holds an unexpired lease. A
        lease whose owner is a dead process on this host is taken over at once. When the
        database is busy past the timeout the answer is False (try again later): refusing is
        always safe, a wrong True could lose the one-time result.
        """
        with self._lock:
            conn = self._connection()
            try:
                return self._claim_in(conn, request_id, owner, lease_seconds)
            except _CALLER_BUGS:
                raise
            except sqlite3.Error as exc:
                _rollback_quietly(conn)
                if self.path is None:
                    raise
                if "locked" in str(exc) or "busy" in str(exc):
                    return False
                self._degrade(_describe_write_failure(self._file, exc), copy_from=conn)
                return self._claim_in(self._connection(), request_id, owner, lease_seconds)

    @staticmethod
    def _claim_in(conn: sqlite3.Connection, request_id: str, owner: str, lease: float) -> bool:
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT response_text IS NULL, lease_owner, lease_until FROM jobs "
                "WHERE request_id = ?",
                (request_id,),
            ).fetchone()
            now = time.time()
            granted = row is not None and bool(row[0]) and _lease_free(row[1], row[2], owner, now)
            if granted:  # always a full term: a GET starting now must be covered to its end
                conn.execute(
                    "UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE request_id = ?",
                    (owner, now + lease, request_id),
                )
            conn.execute("COMMIT")
        except BaseException:
            _rollback_quietly(conn)
            raise
        return granted

    def release(self, request_id: str, owner: str) -> None:
        """Give the lease back early, but only if ``owner`` holds it."""
        sql = (
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL "
            "WHERE request_id = ? AND lease_owner = ?"
        )
        self._run(lambda conn: conn.execute(sql, (request_id, owner)))

    # -- lifecycle --

    def close(self) -> None:
        """Close the file connection. A later call reopens it; an in-memory journal keeps its
        data (closing it would lose the only copy)."""
        with self._lock:
            if self._conn is not None and self.path is not None:
                _close_quietly(self._conn)
                self._conn = None

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "memory"
        return f"<Journal {where}{' (degraded)' if self.problem else ''}>"


def _lease_free(lease_owner: str | None, lease_until: float | None, me: str, now: float) -> bool:
    """Whether ``me`` may take the lease: none, expired, already ours, or holder is dead."""
    if lease_owner is None or lease_owner == me:
        return True
    if lease_until is None or lease_until <= now:
        return True
    return _owner_is_dead(lease_owner)


# --- file helpers -------------------------------------------------------------------------


def _ensure_dir(home: Path) -> None:
    """Create the journal directory private to the user (0700); fail early, with a clear
    errno, when it is not a directory or not writable (sqlite's own message is vaguer)."""
    if home.exists() and not home.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(home))
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not os.access(home, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "Permission denied", str(home))


def _ensure_file(path: Path) -> None:
    """Create the database file 0600, or check an existing one is SQLite (never modify it)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _check_header(path)
        return
    os.close(fd)


def _check_header(path: Path) -> None:
    """Refuse a non-empty file without the SQLite header, before sqlite gets to touch it."""
    with open(path, "rb") as fh:
        head = fh.read(len(_SQLITE_HEADER))
    if head and head != _SQLITE_HEADER:
        raise _CorruptFile("file is not a database")


def _copy_database(source: sqlite3.Connection, target: sqlite3.Connection) -> bool:
    """Best-effort copy of the file's rows into memory, without waiting on a lock again."""
    try:
        source.execute("PRAGMA busy_timeout = 0")
        source.backup(target)
        return True
    except sqlite3.Error:
        return False


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    """End a failed transaction so the connection (and its lock) is usable again."""
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def _close_quietly(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.close()


def _durably(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> None:
    """Run one autocommit statement with a full fsync: request ids and answers must survive
    a power cut, not only a killed kernel."""
    conn.execute("PRAGMA synchronous=FULL")
    try:
        conn.execute(sql, params)
    finally:
        conn.execute("PRAGMA synchronous=NORMAL")
