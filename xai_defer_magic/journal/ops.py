"""Every write the journal makes, as a value: run now, or queued while the file is busy.

A queued write is replayed later in the order it was made; the precious ones (a request id,
a paid-for answer, a deletion) are also appended to a fallback file at once, so a crash while
the file is locked loses none of them (see ``fallback``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from . import side_tables
from .connections import durable_transaction
from .records import FIELDS, JobRecord, record_from_json, record_params, record_to_json

# Insert-or-update that keeps the lease columns and never replaces a journaled response.
_UPSERT = (
    f"INSERT INTO jobs ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))}) "
    "ON CONFLICT(request_id) DO UPDATE SET "
    + ", ".join(
        "response_text = COALESCE(jobs.response_text, excluded.response_text)"
        if name == "response_text"
        else f"{name} = excluded.{name}"
        for name in FIELDS[1:]
    )
)
# A dead process's queued row only fills a gap: what is on disk may be newer than it.
_INSERT_IF_MISSING = (
    f"INSERT INTO jobs ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))}) "
    "ON CONFLICT(request_id) DO NOTHING"
)
_STORE_RESPONSE = (
    "INSERT INTO jobs (request_id, created_at, model, request, base_url, status, "
    "response_text, last_poll_at) VALUES (?, ?, '', '{}', '', 'pending', ?, ?) "
    "ON CONFLICT(request_id) DO UPDATE SET response_text = excluded.response_text, "
    "last_poll_at = excluded.last_poll_at WHERE jobs.response_text IS NULL"
)
_SET_STATUS = (
    "UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE request_id = ?"
    " AND NOT (status = 'done' AND response_text IS NOT NULL)"
)
_RECORD_POLL = "UPDATE jobs SET polls = ?, last_poll_at = ? WHERE request_id = ?"
_FORGET = "DELETE FROM jobs WHERE request_id = ?"
_ASSIGN = "UPDATE jobs SET request_id = ?, status = 'pending' WHERE request_id = ?"
_RELEASE = (
    "UPDATE jobs SET lease_owner = NULL, lease_until = NULL "
    "WHERE request_id = ? AND lease_owner = ?"
)

PRECIOUS = frozenset({"add", "intent", "response", "forget", "assign"}) | side_tables.KINDS
# must survive a power cut, not only a killed kernel
_DURABLE = frozenset({"add", "response", "assign"}) | side_tables.DURABLE


@dataclass(frozen=True)
class Op:
    """One journal write: ``kind`` names it, ``args`` are plain JSON-able values."""

    kind: str
    args: dict[str, Any]

    @property
    def precious(self) -> bool:
        return self.kind in PRECIOUS

    @property
    def durable(self) -> bool:
        return self.kind in _DURABLE

    def to_json(self) -> dict[str, Any]:
        return {"op": self.kind, **self.args}

    @staticmethod
    def from_json(values: dict[str, Any]) -> Op | None:
        kind = values.get("op")
        if kind not in PRECIOUS:
            return None
        return Op(str(kind), {k: v for k, v in values.items() if k not in ("op", "host")})


def add(record: JobRecord) -> Op:
    return Op("add", {"record": record_to_json(record)})


def intent(record: JobRecord) -> Op:
    """An intent row, written by the cell before its POST: a killed kernel keeps it (WAL,
    NORMAL sync) and it holds no request id or answer, so no fsync on the cell's time; the
    ``assign`` that re-keys it to the server's id is fully synced (and syncs the WAL before)."""
    return Op("intent", {"record": record_to_json(record)})


def response(request_id: str, text: str, at: float) -> Op:
    return Op("response", {"request_id": request_id, "text": text, "at": at})


def status(request_id: str, value: str, error: str | None, finished_at: float | None) -> Op:
    return Op("status", {"request_id": request_id, "status": value, "error": error,
                         "finished_at": finished_at})


def poll(request_id: str, polls: int, at: float) -> Op:
    return Op("poll", {"request_id": request_id, "polls": polls, "at": at})


def forget(request_id: str) -> Op:
    return Op("forget", {"request_id": request_id})


def assign(placeholder: str, request_id: str) -> Op:
    """Re-key an intent row (journaled before its POST) to the server's id, as pending."""
    return Op("assign", {"placeholder": placeholder, "request_id": request_id})


def release(request_id: str, owner: str) -> Op:
    return Op("release", {"request_id": request_id, "owner": owner})


def apply(conn: sqlite3.Connection, op: Op, *, orphan: bool = False) -> int:
    """Run ``op`` on ``conn``; returns the rows it changed. ``orphan`` ops come from a dead
    process's fallback file: they fill gaps (a missing row, a missing answer) but never
    overwrite what is on disk."""
    a = op.args
    if op.kind in side_tables.KINDS:  # the group and batch tables
        return side_tables.apply(conn, op.kind, a, orphan=orphan)
    if op.kind == "assign":
        return int(conn.execute(_ASSIGN, (a["request_id"], a["placeholder"])).rowcount)
    if op.kind in ("add", "intent"):
        params = record_params(record_from_json(a["record"]))
        conn.execute(_INSERT_IF_MISSING if orphan else _UPSERT, params)
    elif op.kind == "response":
        conn.execute(_STORE_RESPONSE, (a["request_id"], a["at"], a["text"], a["at"]))
    elif op.kind == "status":
        conn.execute(_SET_STATUS, (a["status"], a["error"], a["finished_at"], a["request_id"]))
    elif op.kind == "poll":
        conn.execute(_RECORD_POLL, (a["polls"], a["at"], a["request_id"]))
    elif op.kind == "forget":
        conn.execute(_FORGET, (a["request_id"],))
    elif op.kind == "release":
        conn.execute(_RELEASE, (a["request_id"], a["owner"]))
    else:
        raise ValueError(f"unknown journal op {op.kind!r}")
    return 0


def apply_all(conn: sqlite3.Connection, batch: list[Op], *, orphan: bool = False) -> None:
    """Run ``batch`` as ONE transaction with a full fsync: all of it lands, or none."""
    with durable_transaction(conn):
        for op in batch:
            apply(conn, op, orphan=orphan)


def apply_now(conn: sqlite3.Connection, op: Op) -> int:
    """Run one op as one transaction (an op may be several statements); request ids and
    answers with a full fsync."""
    with durable_transaction(conn, full=op.durable):
        return apply(conn, op)
