"""The batch engine's journal: tables ``batches`` and ``batch_items`` in the jobs journal's file.

The rows go through the job journal itself (its connection, lock queue and fallback file; the
tables and their ops are in ``journal.side_tables``), so another process holding the write lock
is waited out in order, and what a restart depends on (the request ids, the batch id, each
result) survives a kill -9 before the lock frees. One store per batch run, keyed by the
caller's group id. The request ids and the batch id are fsynced in full; results use WAL's
NORMAL sync, which survives a killed process, the failure this is for.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .ops import Op
from .store import Journal


@dataclass(frozen=True)
class SavedBatch:
    """What the storage remembers about a batch run."""

    name: str
    batch_id: str | None
    adds_done: bool


class SQLiteBatchStore:
    """:class:`engines.batch.engine.BatchStorage` on the journal; thread-safe, usable from the loop
    thread. Give it the runtime's journal, or a directory (it then opens a journal there)."""

    def __init__(self, journal: Journal | str | os.PathLike[str] | None, group_id: str, *,
                 base_url: str | None = None, timeout: float = 5.0) -> None:
        self._own = not isinstance(journal, Journal)
        self.journal = journal if isinstance(journal, Journal) else Journal(journal,
                                                                            timeout=timeout)
        self.group_id = group_id
        self.base_url = base_url

    def __repr__(self) -> str:
        return f"SQLiteBatchStore({self.journal!r}, group_id={self.group_id!r})"

    # --- BatchStorage ----------------------------------------------------------------------

    def saved_batch(self) -> SavedBatch | None:
        rows = self.journal.query(
            "SELECT name, batch_id, adds_done FROM batches WHERE group_id = ?", (self.group_id,))
        return None if not rows else SavedBatch(rows[0][0], rows[0][1], bool(rows[0][2]))

    def begin(self, name: str, batch_request_ids: Sequence[str]) -> None:
        """The name and every request id, in one transaction, before anything is sent."""
        self._write("batch_begin", name=name, base_url=self.base_url, at=time.time(),
                    ids=list(batch_request_ids))

    def save_batch_id(self, batch_id: str) -> None:
        self._write("batch_id", batch_id=batch_id)

    def save_adds_done(self) -> None:
        self._write("batch_adds_done")

    def save_result(self, batch_request_id: str, raw_text: str) -> None:
        self._write("batch_result", batch_request_id=batch_request_id, text=raw_text,
                    at=time.time())

    def saved_results(self) -> dict[str, str]:
        """Journaled results, in input order."""
        rows = self.journal.query(
            "SELECT batch_request_id, result_text FROM batch_items "
            "WHERE group_id = ? AND result_text IS NOT NULL ORDER BY position", (self.group_id,))
        return {rid: text for rid, text in rows}

    async def saved(self) -> None:
        """Return once the writes so far are durable (in the file or the fallback file)."""
        await self.journal.saved()

    # --- extras ----------------------------------------------------------------------------

    def batch_request_ids(self) -> list[str]:
        """Every journaled request id, in input order."""
        rows = self.journal.query(
            "SELECT batch_request_id FROM batch_items WHERE group_id = ? ORDER BY position",
            (self.group_id,))
        return [r[0] for r in rows]

    def close(self) -> None:
        """Close the journal this store opened itself (the runtime's stays open)."""
        if self._own:
            self.journal.close()

    def _write(self, kind: str, **args: object) -> None:
        self.journal.write(Op(kind, {"group_id": self.group_id, **args}))
