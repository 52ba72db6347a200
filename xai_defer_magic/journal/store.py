"""The journal: durable, thread-safe, multi-kernel job store that never crashes the kernel.

On disk, every call runs on the SQLite file. When the file cannot take a write it goes
*offline*: a memory copy (seeded from the file) answers reads and takes the write, the write
is queued, and the precious ones are appended to a fallback file. A flusher thread replays
the queue into the file as soon as it can and the journal is on disk again. A busy file
(another process holds the write lock) is only waited out; an unusable one (unwritable,
corrupt, disk full) is reported once and retried every ``retry_seconds``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import ops
from .connections import (
    close_quietly,
    connect_file,
    memory_copy,
    rollback_quietly,
    set_wait,
)
from .fallback import PendingFile, orphans, read_ops
from .files import DB_NAME, default_home
from .leases import Claim, claim_in, lease_left
from .ops import Op
from .problems import CALLER_BUGS, describe_open_failure, describe_write_failure, is_busy
from .records import SELECT, UNFINISHED, JobRecord, check_status, row_to_record
from .schema import NewerSchema

log = logging.getLogger(__name__)

BUSY_RETRY = 0.5  # seconds between tries of a locked file
FLUSH_WAIT = 0.05  # how long one try waits for the lock: short, callers may be the loop thread


class Journal:
    """Durable, thread-safe, multi-kernel job store; goes offline instead of raising."""

    problem: str | None

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        on_problem: Callable[[str], None] | None = None,
        timeout: float = 5.0,
        retry_seconds: float = 2.0,
    ) -> None:
        self._home = Path(home).expanduser() if home is not None else default_home()
        self._file = self._home / DB_NAME
        self._on_problem = on_problem
        self._timeout = timeout
        self._retry = retry_seconds
        self._lock = threading.RLock()
        self._reported: set[str] = set()
        self._conn: sqlite3.Connection | None = None  # the file
        self._memory: sqlite3.Connection | None = None  # authoritative while offline
        self._queue: list[Op] = []  # writes made offline, oldest first
        self._unsaved: list[Op] = []  # precious queued writes the fallback file refused
        self._broken = False  # offline because the file is unusable (not merely busy)
        self._own: set[str] = set()  # ids this process add()-ed: the only ones leased offline
        self._fallback = PendingFile(self._home)
        self._flusher: threading.Thread | None = None
        self.problem = None
        with self._lock:
            self._open()
        _LIVE.add(self)

    @property
    def path(self) -> Path | None:
        """The database file, or None while the journal lives in memory only."""
        return self._file if self._conn is not None and not self._broken else None

    # -- opening, going offline, catching up --

    def _open(self) -> None:
        try:
            self._conn = self._connect_file()
        except (OSError, sqlite3.Error, NewerSchema) as exc:
            self._go_offline(exc, None, opening=True)
            return
        self._merge_orphans()

    def _connect_file(self) -> sqlite3.Connection:
        conn, warning = connect_file(self._home, self._file, self._timeout)
        if warning:
            self._report(warning, problem=False)
        return conn

    def _go_offline(
        self, exc: BaseException, conn: sqlite3.Connection | None, *, opening: bool = False
    ) -> None:
        """Answer from memory from now on; for an unusable file, close it and report once."""
        if self._memory is None:
            self._memory = memory_copy(conn)
        busy = is_busy(exc)
        self._broken = not busy
        if busy and conn is not None:
            with contextlib.suppress(sqlite3.Error):
                set_wait(conn, FLUSH_WAIT)  # reads while offline must not stall the caller
        if not busy:
            if conn is not None:
                close_quietly(conn)
            self._conn = None
            describe = describe_open_failure if opening else describe_write_failure
            self._report(describe(self._file, exc))
        self._ensure_flusher()

    def _catch_up(self) -> bool:
        """Try to put the journal back on disk: reopen the file if needed, replay the queue in
        one transaction. True when on disk (the memory copy is then dropped)."""
        if self._memory is None:
            return True
        conn = self._conn
        try:
            if conn is None:
                conn = self._conn = self._connect_file()
            set_wait(conn, FLUSH_WAIT)
            try:
                ops.apply_all(conn, self._queue)  # an empty batch still proves the lock is free
            finally:
                set_wait(conn, self._timeout)
        except (OSError, sqlite3.Error, NewerSchema) as exc:
            if conn is not None:
                rollback_quietly(conn)
            was_broken = self._broken
            self._go_offline(exc, conn, opening=conn is None or was_broken)
            return False
        self._queue.clear()
        self._unsaved.clear()
        close_quietly(self._memory)
        self._memory = None
        self._broken = False
        self.problem = None
        self._fallback.remove()
        self._merge_orphans()
        return True

    def _merge_orphans(self) -> None:
        """Write the fallback files of processes that died offline into the database."""
        conn = self._conn
        if conn is None or self._memory is not None:
            return
        for path in orphans(self._home):
            try:
                set_wait(conn, FLUSH_WAIT)
                try:
                    ops.apply_all(conn, read_ops(path), orphan=True)
                finally:
                    set_wait(conn, self._timeout)
            except sqlite3.Error as exc:  # busy: the next open or flush tries again
                rollback_quietly(conn)
                log.debug("journal: merging %s failed: %s", path, exc)
                return
            with contextlib.suppress(OSError):
                path.unlink()

    def _file_conn(self) -> sqlite3.Connection | None:
        """The file connection (reopened lazily after ``close()``), or None while offline."""
        if self._conn is None and self._memory is None:
            self._open()
        return self._conn if self._memory is None else None

    def _report(self, line: str, *, problem: bool = True) -> None:
        """Tell ``on_problem`` (or the log) once per distinct line; ``problem`` also records it
        as the reason the journal is not on disk."""
        if problem:
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

    # -- writes --

    def _write(self, op: Op) -> int | None:
        """Run ``op`` on the file (the rows it changed), or queue it (None)."""
        with self._lock:
            conn = self._file_conn()
            if conn is not None:
                try:
                    return ops.apply_now(conn, op)
                except CALLER_BUGS:
                    raise
                except sqlite3.Error as exc:
                    rollback_quietly(conn)
                    self._go_offline(exc, conn)
            self._enqueue(op)
            return None

    def write(self, op: Op) -> None:
        """Run ``op`` (a group or batch table write, see ``side_tables``) like the journal's
        own writes: on the file, or queued in order while it is locked."""
        self._write(op)

    def unsaved(self) -> bool:
        """Whether a precious write is only in memory while the file is merely busy (the
        fallback file refused it too). Waiting helps then; for an unusable file it cannot."""
        with self._lock:
            return bool(self._unsaved) and not self._broken

    async def saved(self) -> None:
        """Return once no precious write is only in memory (see ``unsaved``): what must not
        happen before a write is durable (the next POST after its intent row) awaits this."""
        while self.unsaved():
            await asyncio.sleep(BUSY_RETRY)

    def _enqueue(self, op: Op) -> None:
        assert self._memory is not None
        ops.apply(self._memory, op)
        self._queue.append(op)
        if op.precious and not self._fallback.append(op):
            self._unsaved.append(op)

    def _ensure_flusher(self) -> None:
        """While offline, one daemon thread retries the file; callers never wait on it."""
        if self._flusher is None:
            self._flusher = threading.Thread(
                target=self._flush_until_done, name="xai-defer-journal-flush", daemon=True
            )
            self._flusher.start()

    def _flush_until_done(self) -> None:
        while True:
            time.sleep(self._retry if self._broken else BUSY_RETRY)
            with self._lock:
                if self._catch_up():
                    self._flusher = None
                    return

    def add(self, record: JobRecord) -> None:
        """Insert or update a job; an already-journaled response is never replaced."""
        check_status(record.status)
        with self._lock:
            self._own.add(record.request_id)
            self._write(ops.add(record))

    def record_poll(self, request_id: str, polls: int, at: float) -> None:
        """Remember how often and when we last polled (shown in cards and the jobs panel)."""
        self._write(ops.poll(request_id, polls, at))

    def store_response(self, request_id: str, text: str, at: float) -> None:
        """Commit the raw 200 body before anyone parses it; the first stored body wins.

        If the row is missing (e.g. forgotten meanwhile) a placeholder row is created rather
        than dropping the only copy of a paid-for answer.
        """
        self._write(ops.response(request_id, text, at))

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
        check_status(status)
        self._write(ops.status(request_id, status, error, finished_at))

    def assign_request_id(self, placeholder: str, request_id: str) -> bool:
        """Re-key an intent row (journaled before its POST) to the id the server answered
        with, as ``pending``; False if the file has no such row (queued: assumed there)."""
        with self._lock:
            if placeholder in self._own:  # still this process's job under its new name
                self._own.add(request_id)
        return self._write(ops.assign(placeholder, request_id)) != 0

    def forget(self, request_id: str) -> None:
        """Delete a job's row (its result, if any, is gone with it)."""
        self._write(ops.forget(request_id))

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

    def find_by_request(
        self, request_json_text: str, base_url: str, statuses: Iterable[str]
    ) -> JobRecord | None:
        """The newest job of ``base_url`` in one of ``statuses`` whose stored request text is
        exactly ``request_json_text`` (make it with ``canonical_request``)."""
        wanted = tuple(statuses)
        for status in wanted:
            check_status(status)
        if not wanted:
            return None
        rows = self._select(
            "WHERE base_url = ? AND length(request) = length(?) AND request = ? "
            f"AND status IN ({', '.join('?' * len(wanted))}) "
            "ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (base_url, request_json_text, request_json_text, *wanted),
        )
        return rows[0] if rows else None

    def _select(self, where: str, params: Iterable[object] = ()) -> list[JobRecord]:
        return [row_to_record(row) for row in self.query(f"{SELECT} {where}", params)]

    def query(self, sql: str, params: Iterable[object] = ()) -> list[tuple[Any, ...]]:
        """The rows of one SELECT: from the file, or from the memory copy (which holds the
        queued writes) while offline; a lock met here is waited out, never raised."""
        args = tuple(params)
        with self._lock:
            conn = self._file_conn()
            if conn is not None:
                try:
                    return conn.execute(sql, args).fetchall()
                except CALLER_BUGS:
                    raise
                except sqlite3.Error as exc:
                    rollback_quietly(conn)
                    self._go_offline(exc, conn)
            assert self._memory is not None
            return self._memory.execute(sql, args).fetchall()

    # -- leases --

    def claim(self, request_id: str, owner: str, lease_seconds: float) -> Claim:
        """Take or renew (to a full ``lease_seconds``) the right to GET ``request_id``.

        One ``BEGIN IMMEDIATE`` transaction, so two kernels can never both win. A lease whose
        owner is a dead process on this host is taken over at once. While the file cannot be
        written, an unexpired lease ``owner`` already holds there (at least half its term
        left) still counts; otherwise the answer is UNAVAILABLE, except for ids this process
        submitted itself when the file is unusable (nobody else can know those).
        """
        with self._lock:
            conn = self._file_conn()
            if conn is not None:
                try:
                    return claim_in(conn, request_id, owner, lease_seconds)
                except CALLER_BUGS:
                    raise
                except sqlite3.Error as exc:
                    rollback_quietly(conn)
                    self._go_offline(exc, conn)
            return self._claim_offline(request_id, owner, lease_seconds)

    def _claim_offline(self, request_id: str, owner: str, lease_seconds: float) -> Claim:
        assert self._memory is not None
        row = self._memory.execute(
            "SELECT response_text IS NULL FROM jobs WHERE request_id = ?", (request_id,)
        ).fetchone()
        if row is None:
            return Claim.MISSING
        if not row[0]:
            return Claim.ANSWER_STORED
        if self._conn is not None:  # busy, not broken: the file is still readable
            try:
                if lease_left(self._conn, request_id, owner) >= lease_seconds / 2:
                    return Claim.GRANTED
            except sqlite3.Error:
                pass
        if self._broken and request_id in self._own:
            return claim_in(self._memory, request_id, owner, lease_seconds)
        return Claim.UNAVAILABLE

    def release(self, request_id: str, owner: str) -> None:
        """Give the lease back early, but only if ``owner`` holds it."""
        self._write(ops.release(request_id, owner))

    # -- lifecycle --

    def close(self) -> None:
        """Close the file connection. A later call reopens it. While offline, one last try
        to write the queue; what still cannot be written stays in memory (and the fallback
        file) and the flusher keeps trying."""
        with self._lock:
            if self._memory is not None:
                self._catch_up()
            if self._memory is None and self._conn is not None:
                close_quietly(self._conn)
                self._conn = None

    def _flush_before_exit(self) -> None:
        """At interpreter exit: a last try of the file, and the fallback file for the rest."""
        if not self._lock.acquire(timeout=1.0):
            return
        try:
            if self._memory is not None:
                self._catch_up()
            self._unsaved = [op for op in self._unsaved if not self._fallback.append(op)]
        finally:
            self._lock.release()

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "memory"
        return f"<Journal {where}{' (degraded)' if self.problem else ''}>"


_LIVE: weakref.WeakSet[Journal] = weakref.WeakSet()


@atexit.register  # registered at import, so it runs after later handlers (pollers finishing)
def _flush_all_at_exit() -> None:
    for journal in list(_LIVE):
        journal._flush_before_exit()
