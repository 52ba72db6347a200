"""The journal: durable, thread-safe, multi-kernel job store that never crashes the kernel.

Every call runs on the SQLite file, or, while the file cannot take a write, on the memory
copy ``offline.FileOrMemory`` keeps and replays (see there): this module is only what the
journal does with jobs, leases and the side tables' writes.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from . import blob_refs, ops
from .blobs import BlobStore
from .fallback import any_pending
from .leases import Claim, claim_in, lease_left
from .offline import FileOrMemory
from .ops import Op
from .records import SELECT, UNFINISHED, JobRecord, check_status, row_to_record


class Journal(FileOrMemory):
    """Durable, thread-safe, multi-kernel job store; goes offline instead of raising."""

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        on_problem: Callable[[str], None] | None = None,
        timeout: float = 5.0,
        retry_seconds: float = 2.0,
    ) -> None:
        self._own: set[str] = set()  # ids this process add()-ed: the only ones leased offline
        super().__init__(
            home, on_problem=on_problem, timeout=timeout, retry_seconds=retry_seconds
        )
        self.blobs = BlobStore(self._home)  # images sent with prompts, stored once

    # -- writes --

    def _write(self, op: Op) -> int | None:
        """Run ``op`` on the file (the rows it changed), or queue it (None)."""
        return self._on_file(
            lambda conn: ops.apply_now(conn, op), lambda memory: self._enqueue(memory, op)
        )

    def write(self, op: Op) -> None:
        """Run ``op`` (a group or batch table write, see ``side_tables``) like the journal's
        own writes: on the file, or queued in order while it is locked."""
        self._write(op)

    def add(self, record: JobRecord) -> None:
        """Insert or update a job; an already-journaled response is never replaced."""
        check_status(record.status)
        with self._lock:
            self._own.add(record.request_id)
            self._write(ops.add(record))

    def add_intent(self, record: JobRecord) -> None:
        """Insert the row of a job about to be POSTed (see ``ops.intent``)."""
        check_status(record.status)
        with self._lock:
            self._own.add(record.request_id)
            self._write(ops.intent(record))

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

    def sweep_images(self) -> int:
        """Remove the stored images no row refers to any more (call it after forgetting rows);
        returns how many went. Nothing goes while the journal is offline or some kernel's
        writes wait in a fallback file: a row not in the file yet may refer to an image."""
        found = self._on_file(blob_refs.referenced, lambda memory: None)
        if found is None or any_pending(self._home):
            return 0
        return self.blobs.sweep(found)

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
        return self._on_file(
            lambda conn: conn.execute(sql, args).fetchall(),
            lambda memory: memory.execute(sql, args).fetchall(),
        )

    # -- leases --

    def claim(self, request_id: str, owner: str, lease_seconds: float) -> Claim:
        """Take or renew (to a full ``lease_seconds``) the right to GET ``request_id``.

        One ``BEGIN IMMEDIATE`` transaction, so two kernels can never both win. A lease whose
        owner is a dead process on this host is taken over at once. While the file cannot be
        written, an unexpired lease ``owner`` already holds there (at least half its term
        left) still counts; otherwise the answer is UNAVAILABLE, except for ids this process
        submitted itself when the file is unusable (nobody else can know those).
        """
        return self._on_file(
            lambda conn: claim_in(conn, request_id, owner, lease_seconds),
            lambda memory: self._claim_offline(memory, request_id, owner, lease_seconds),
        )

    def _claim_offline(
        self, memory: sqlite3.Connection, request_id: str, owner: str, lease_seconds: float
    ) -> Claim:
        row = memory.execute(
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
            return claim_in(memory, request_id, owner, lease_seconds)
        return Claim.UNAVAILABLE

    def release(self, request_id: str, owner: str) -> None:
        """Give the lease back early, but only if ``owner`` holds it."""
        self._write(ops.release(request_id, owner))

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "memory"
        return f"<Journal {where}{' (degraded)' if self.problem else ''}>"
