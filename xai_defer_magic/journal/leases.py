"""Who may GET a request id: one lease per row, taken in one ``BEGIN IMMEDIATE`` transaction.

xAI hands a deferred result out once; two pollers GETting one id means one 404 and, if the
other crashes before journaling, a lost answer. So a poller GETs only under a lease, renewed
to a full term on every claim, and a kernel that died on this host gives its leases up at once.
"""

from __future__ import annotations

import enum
import os
import socket
import sqlite3
import time


class Claim(enum.Enum):
    """What ``Journal.claim`` decided. Only GRANTED is truthy, so ``if journal.claim(...)``
    reads as "may I GET it now?"."""

    GRANTED = "granted"  # the lease is ours for the full term: GET now
    HELD_ELSEWHERE = "held elsewhere"  # another live poller holds an unexpired lease
    ANSWER_STORED = "answer stored"  # the 200 body is journaled: never GET it again
    MISSING = "missing"  # no such row: re-add it from the job, then claim again
    UNAVAILABLE = "unavailable"  # the file is locked or not on disk: no lease can be taken

    def __bool__(self) -> bool:
        return self is Claim.GRANTED


def process_owner() -> str:
    """Identify this process in leases and rows: ``"host:pid"``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_dead(owner: str) -> bool:
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


def lease_free(lease_owner: str | None, lease_until: float | None, me: str, now: float) -> bool:
    """Whether ``me`` may take the lease: none, expired, already ours, or holder is dead."""
    if lease_owner is None or lease_owner == me:
        return True
    if lease_until is None or lease_until <= now:
        return True
    return owner_is_dead(lease_owner)


def claim_in(conn: sqlite3.Connection, request_id: str, owner: str, lease: float) -> Claim:
    """Decide and, when granted, write the lease to a full term, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            "SELECT response_text IS NULL, lease_owner, lease_until FROM jobs "
            "WHERE request_id = ?",
            (request_id,),
        ).fetchone()
        now = time.time()
        if row is None:
            outcome = Claim.MISSING
        elif not row[0]:
            outcome = Claim.ANSWER_STORED
        elif not lease_free(row[1], row[2], owner, now):
            outcome = Claim.HELD_ELSEWHERE
        else:
            conn.execute(
                "UPDATE jobs SET lease_owner = ?, lease_until = ? WHERE request_id = ?",
                (owner, now + lease, request_id),
            )
            outcome = Claim.GRANTED
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcome


def lease_left(conn: sqlite3.Connection, request_id: str, owner: str) -> float:
    """Seconds left on ``owner``'s lease of a row with no stored answer (0 if none): read
    only, so it works while another process holds the write lock."""
    row = conn.execute(
        "SELECT lease_owner, lease_until FROM jobs WHERE request_id = ? "
        "AND response_text IS NULL",
        (request_id,),
    ).fetchone()
    if row is None or row[0] != owner or row[1] is None:
        return 0.0
    return max(0.0, float(row[1]) - time.time())
