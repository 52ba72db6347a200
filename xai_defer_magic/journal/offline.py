"""Where the journal's rows live: the SQLite file, or a memory copy while the file cannot write.

When the file cannot take a write the journal goes *offline*: a memory copy (seeded from the
file) answers reads and takes the write, the write is queued, and the precious ones are
appended to a fallback file. A flusher thread replays the queue into the file as soon as it
can and the journal is on disk again. A busy file (another process holds the write lock) is
only waited out; an unusable one (unwritable, corrupt, disk full) is reported once and
retried every ``retry_seconds``. Kept apart from ``store`` so the ``Journal`` there reads as
the job operations only, each run through :meth:`FileOrMemory._on_file`.
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
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from xai_defer_magic.paths import DB_NAME, default_home

from . import ops
from .connections import (
    close_quietly,
    connect_file,
    memory_copy,
    rollback_quietly,
    set_wait,
)
from .fallback import PendingFile, orphans, read_ops
from .ops import Op
from .problems import CALLER_BUGS, describe_open_failure, describe_write_failure, is_busy
from .schema import NewerSchema

log = logging.getLogger(__name__)

BUSY_RETRY = 0.5  # seconds between tries of a locked file
FLUSH_WAIT = 0.05  # how long one try waits for the lock: short, callers may be the loop thread

T = TypeVar("T")


class FileOrMemory:
    """The journal's storage: thread-safe, and offline in memory instead of raising."""

    problem: str | None

    def __init__(
        self,
        home: str | os.PathLike[str] | None,
        *,
        on_problem: Callable[[str], None] | None,
        timeout: float,
        retry_seconds: float,
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

    def _on_file(
        self,
        use: Callable[[sqlite3.Connection], T],
        otherwise: Callable[[sqlite3.Connection], T],
    ) -> T:
        """``use`` the file; while offline, or if the file fails now (the journal then goes
        offline), ``otherwise`` with the memory copy. Both run under the journal's lock."""
        with self._lock:
            conn = self._file_conn()
            if conn is not None:
                try:
                    return use(conn)
                except CALLER_BUGS:
                    raise
                except sqlite3.Error as exc:
                    rollback_quietly(conn)
                    self._go_offline(exc, conn)
            assert self._memory is not None
            return otherwise(self._memory)

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

    # -- the queue of writes made offline --

    def _enqueue(self, memory: sqlite3.Connection, op: Op) -> None:
        ops.apply(memory, op)
        self._queue.append(op)
        if op.precious and not self._fallback.append(op):
            self._unsaved.append(op)

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

    def flush_before_exit(self) -> None:
        """At interpreter exit: a last try of the file, and the fallback file for the rest."""
        if not self._lock.acquire(timeout=1.0):
            return
        try:
            if self._memory is not None:
                self._catch_up()
            self._unsaved = [op for op in self._unsaved if not self._fallback.append(op)]
        finally:
            self._lock.release()


_LIVE: weakref.WeakSet[FileOrMemory] = weakref.WeakSet()


@atexit.register  # registered at import, so it runs after later handlers (pollers finishing)
def _flush_all_at_exit() -> None:
    for journal in list(_LIVE):
        journal.flush_before_exit()
