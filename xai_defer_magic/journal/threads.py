"""Durable threads: every turn (queued, sent, failed) and each thread's head, on disk.

Read and written through the job journal (its connection, lock queue and fallback file: see
``side_tables`` and ``thread_tables``), so a restart continues every thread, and a queued
turn left by a killed kernel is sent by the next one, once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from xai_defer_magic.core.thread import TURN_STATES, Turn
from xai_defer_magic.journal import Journal
from xai_defer_magic.journal.leases import process_owner
from xai_defer_magic.journal.ops import Op

_COLUMNS = ("turn_id, name, parent, cell_id, created_at, system, said, params, state,"
            " request_id, body, error, owner, options")


@dataclass(frozen=True)
class ThreadRow:
    name: str
    created_at: float
    updated_at: float
    head: str | None


def new_turn_id() -> str:
    return f"t-{os.urandom(6).hex()}"


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


class ThreadStore:
    """The thread tables, through the job journal."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def add_turn(self, turn: Turn) -> None:
        """The turn, and the thread's head moved to it, in one durable write."""
        assert turn.state in TURN_STATES
        self.journal.write(Op("thread_turn", {"turn": {
            "turn_id": turn.turn_id, "name": turn.thread, "parent": turn.parent,
            "cell_id": turn.cell_id, "created_at": turn.created_at, "system": turn.system,
            "said": _dump(turn.said), "params": _dump(turn.params), "state": turn.state,
            "request_id": turn.request_id, "body": _dump(turn.body), "error": turn.error,
            "owner": turn.owner or process_owner(), "options": _dump(turn.options or None),
        }}))

    def set_state(self, turn_id: str, state: str, *, request_id: str | None = None,
                  body: dict[str, Any] | None = None, error: str | None = None,
                  owner: str | None = None) -> None:
        """A turn's new state; ``owner``: the process now driving it (a restart's)."""
        assert state in TURN_STATES
        self.journal.write(Op("thread_state", {
            "turn_id": turn_id, "state": state, "request_id": request_id, "body": _dump(body),
            "error": error, "owner": owner}))

    def set_head(self, name: str, head: str | None) -> None:
        self.journal.write(Op("thread_head", {"name": name, "head": head}))

    def thread(self, name: str) -> ThreadRow | None:
        rows = self.journal.query(
            "SELECT name, created_at, updated_at, head FROM threads WHERE name = ?", (name,))
        return ThreadRow(*rows[0]) if rows else None

    def threads(self) -> list[ThreadRow]:
        """Every thread, the one with the newest turn first."""
        rows = self.journal.query(
            "SELECT name, created_at, updated_at, head FROM threads"
            " ORDER BY updated_at DESC, name")
        return [ThreadRow(*r) for r in rows]

    def turns(self, name: str) -> list[Turn]:
        """Every turn of ``name`` (current line and earlier branches), oldest first."""
        rows = self.journal.query(
            f"SELECT {_COLUMNS} FROM thread_turns WHERE name = ? ORDER BY created_at, rowid",
            (name,))
        return [_turn(r) for r in rows]

    def unsettled(self) -> list[Turn]:
        """Turns a kernel may have left half done: queued, or sent without a request id;
        oldest first, so a turn's predecessor comes before it."""
        rows = self.journal.query(
            f"SELECT {_COLUMNS} FROM thread_turns WHERE state = 'queued'"
            " OR (state = 'sent' AND request_id IS NULL) ORDER BY created_at, rowid")
        return [_turn(r) for r in rows]


def _turn(row: tuple[Any, ...]) -> Turn:
    return Turn(
        turn_id=row[0], thread=row[1], parent=row[2], cell_id=row[3], created_at=row[4],
        system=row[5], said=json.loads(row[6]), params=json.loads(row[7]), state=row[8],
        request_id=row[9], body=None if row[10] is None else json.loads(row[10]), error=row[11],
        owner=row[12], options=json.loads(row[13]) if row[13] else {},
    )
