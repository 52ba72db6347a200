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

Another process holding the file's write lock: the tables are written through the job
journal (one connection, one queue, see ``journal.side_tables``), never a connection of their
own. While the file is locked a write is queued in order behind the journal's own and fsync-ed
at once to the journal's fallback file; so the ``sending`` row is durable before its POST and
the ``accepted`` row with its request id before the job row, even if the kernel is killed
before the lock frees: the next kernel merges the file and neither re-sends the item nor calls
it ``unknown``. Reads see the queued writes. Should the fallback file refuse a write too, the
submitter waits (:meth:`GroupStore.saved`) before the next POST instead of going on.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xai_defer_magic.journal import Journal
from xai_defer_magic.journal.ops import Op

ITEM_STATES = ("queued", "sending", "accepted", "failed", "unknown", "cancelled")


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
    """The two group tables, read and written through the job journal (its connection, lock
    queue and fallback file: see ``journal.side_tables``), so a held write lock is waited out
    and a kill -9 meanwhile keeps every state change, in the order it was made."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    @property
    def path(self) -> Path | None:
        """The journal's file, or None while it is unusable (then rows live in memory)."""
        return self.journal.path

    def create(self, group: GroupRow, items: list[ItemRow]) -> None:
        """The group and all its items, in one durable transaction, before any POST."""
        self.journal.write(Op("group_create", {
            "group": {"group_id": group.group_id, "created_at": group.created_at,
                      "base_url": group.base_url, "model": group.model,
                      "template": group.template, "size": group.size,
                      "columns": json.dumps(group.columns), "owner": group.owner,
                      "engine": group.engine},
            "items": [[i.idx, to_json(i.label), to_json(i.value),
                       json.dumps(i.request, ensure_ascii=False), i.state,
                       json.dumps(list(i.names))] for i in items]}))

    def set_state(self, group_id: str, idx: int, state: str, *, request_id: str | None = None,
                  error: str | None = None) -> None:
        assert state in ITEM_STATES
        self.journal.write(Op("group_item", {"group_id": group_id, "idx": idx, "state": state,
                                             "request_id": request_id, "error": error}))

    async def saved(self) -> None:
        """Return once the writes so far are durable (in the file or the fallback file)."""
        await self.journal.saved()

    def set_owner(self, group_id: str, owner: str) -> None:
        self.journal.write(Op("group_owner", {"group_id": group_id, "owner": owner}))

    def set_cancelled(self, group_id: str, cancelled: bool) -> None:
        self.journal.write(Op("group_cancelled", {"group_id": group_id,
                                                  "cancelled": cancelled}))

    def groups(self) -> list[GroupRow]:
        """Every group, newest first."""
        rows = self.journal.query(
            "SELECT group_id, created_at, base_url, model, template, size, columns, owner,"
            " cancelled, engine FROM groups ORDER BY created_at DESC")
        return [GroupRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), r[7], bool(r[8]),
                         r[9]) for r in rows]

    def items(self, group_id: str) -> list[ItemRow]:
        rows = self.journal.query(
            "SELECT idx, label, value, request, state, request_id, error, names"
            " FROM group_items WHERE group_id = ? ORDER BY idx", (group_id,))
        return [ItemRow(r[0], json.loads(r[1]), json.loads(r[2]), json.loads(r[3]), r[4], r[5],
                        r[6], tuple(json.loads(r[7]))) for r in rows]

    def grouped_request_ids(self) -> set[str]:
        """Request ids that belong to a group (the jobs panel lists them under it)."""
        rows = self.journal.query(
            "SELECT request_id FROM group_items WHERE request_id IS NOT NULL")
        return {r[0] for r in rows}

    def forget(self, group_id: str) -> None:
        self.journal.write(Op("group_forget", {"group_id": group_id}))


def new_group_id() -> str:
    return f"g-{os.urandom(5).hex()}"

