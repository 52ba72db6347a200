"""A locked journal loses nothing: answers wait for the lock, a crash meanwhile keeps them.

Another process holding the database's write lock (a backup tool, a long ``sqlite3`` shell
session, a stuck kernel) must not turn the journal into memory for the rest of the session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support import REPO
from tests.support.journal import FailingWrites as FullDisk
from tests.support.journal import responses_on_disk
from tests.support.shell import wait_for
from xai_defer_magic.journal import DB_NAME, JobRecord, Journal

WORKTREE = str(REPO)


WRITER = textwrap.dedent(
    """
    import sys, time
    from xai_defer_magic.journal import Journal
    home, rid = sys.argv[1:3]
    j = Journal(home, timeout=0.3)
    print("open", flush=True)
    sys.stdin.readline()  # the test holds the write lock from here on
    j.store_response(rid, "paid-for body", time.time())
    print("stored", j.path is not None, j.problem is None, flush=True)
    time.sleep(120)
    """
)


def make_record(request_id: str) -> JobRecord:
    return JobRecord(request_id=request_id, created_at=time.time(), model="grok-4",
                     request={"model": "grok-4", "messages": []}, base_url="http://x/v1")


def test_answer_stored_under_a_lock_survives_kill_9_during_the_lock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with contextlib.closing(Journal(home)) as setup:
        setup.add(make_record("rid-1"))
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home), "rid-1"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": WORKTREE},
    )
    assert writer.stdin is not None and writer.stdout is not None
    try:
        assert writer.stdout.readline().strip() == "open"
        holder = sqlite3.connect(home / DB_NAME, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        writer.stdin.write("\n")
        writer.stdin.flush()
        assert writer.stdout.readline().split() == ["stored", "True", "True"], "not degraded"
        os.kill(writer.pid, signal.SIGKILL)  # no atexit, no flush: a crash while locked
        writer.wait()
        holder.execute("ROLLBACK")
        holder.close()
    finally:
        writer.kill()
        writer.wait()
    pending = sorted(home.glob("pending-*.jsonl"))
    assert len(pending) == 1 and stat.S_IMODE(pending[0].stat().st_mode) == 0o600
    with contextlib.closing(Journal(home)) as after:
        got = after.get("rid-1")
        assert got is not None and got.response_text == "paid-for body"
    assert list(home.glob("pending-*.jsonl")) == [], "the merged fallback file stays behind"


def test_writes_under_a_lock_are_queued_and_flushed_when_it_frees(tmp_path: Path) -> None:
    j = Journal(tmp_path, timeout=0.2)
    j.add(make_record("before"))
    holder = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        j.add(make_record("during"))
        j.store_response("during", "body", 1.0)
        assert j.path is not None and j.problem is None, "a busy file is not degraded"
        got = j.get("during")
        assert got is not None and got.response_text == "body", "reads see queued writes"
        assert {r.request_id for r in j.all()} == {"before", "during"}
        assert "during" not in responses_on_disk(tmp_path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_for(lambda: responses_on_disk(tmp_path).get("during") is True, "the flush", 5)
    assert list(tmp_path.glob("pending-*.jsonl")) == []
    j.close()


def test_claim_while_locked_distinguishes_own_lease_from_unknown(tmp_path: Path) -> None:
    from xai_defer_magic.journal import Claim

    j = Journal(tmp_path, timeout=0.2)
    for rid in ("mine", "not-leased"):
        j.add(make_record(rid))
    assert j.claim("mine", "me", 60) is Claim.GRANTED
    holder = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        # A full lease already on disk is ours until it lapses: the GET may go ahead.
        assert j.claim("mine", "me", 60) is Claim.GRANTED
        # No lease on disk and none can be written: refuse, do not guess.
        refused = j.claim("not-leased", "me", 60)
        assert not refused and refused is Claim.UNAVAILABLE
        assert j.claim("never-added", "me", 60) is Claim.MISSING
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_for(lambda: j.claim("not-leased", "me", 60) is Claim.GRANTED, "the lock to free", 5)
    j.close()


def test_broken_file_is_reopened_and_memory_writes_land_on_disk(tmp_path: Path) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("a regular file where the journal directory should be")
    problems: list[str] = []
    j = Journal(blocker, on_problem=problems.append, retry_seconds=0.2)
    j.add(make_record("kept"))
    j.store_response("kept", "body", 2.0)
    assert j.path is None and len(problems) == 1
    blocker.unlink()  # the user fixes the directory
    blocker.mkdir()
    time.sleep(0.3)
    assert j.get("kept") is not None  # any call retries the file
    assert j.path == blocker / DB_NAME and j.problem is None
    assert responses_on_disk(blocker) == {"kept": True}
    j.close()


def test_claim_in_memory_only_grants_ids_this_process_submitted(tmp_path: Path) -> None:
    from xai_defer_magic.journal import Claim

    home = tmp_path / "home"
    with contextlib.closing(Journal(home)) as other_kernel:
        other_kernel.add(make_record("theirs"))
    problems: list[str] = []
    j = Journal(home, on_problem=problems.append, retry_seconds=600)
    assert j.get("theirs") is not None
    j._conn = FullDisk(j._conn)  # type: ignore[assignment,arg-type]
    j.add(make_record("mine"))
    assert j.path is None and problems and "disk is full" in problems[0]
    assert j.claim("mine", "me", 60) is Claim.GRANTED
    refused = j.claim("theirs", "me", 60)
    assert not refused and refused is Claim.UNAVAILABLE


def test_busy_is_recognised_by_error_code_not_wording(tmp_path: Path) -> None:
    from xai_defer_magic.journal.problems import is_busy

    db = tmp_path / "x.sqlite3"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    waiter = sqlite3.connect(db, isolation_level=None, timeout=0)
    with pytest.raises(sqlite3.OperationalError) as real:
        waiter.execute("BEGIN IMMEDIATE")
    holder.close()
    waiter.close()
    assert is_busy(real.value)
    worded_but_full = sqlite3.OperationalError("database is locked")
    worded_but_full.sqlite_errorcode = 13  # type: ignore[attr-defined]  # SQLITE_FULL
    assert not is_busy(worded_but_full), "the code decides, not the message"
    extended = sqlite3.OperationalError("anything")
    extended.sqlite_errorcode = 5 | (3 << 8)  # type: ignore[attr-defined]  # SQLITE_BUSY_SNAPSHOT
    assert is_busy(extended)
    assert is_busy(sqlite3.OperationalError("database is locked"))  # Python 3.10: no code
    assert not is_busy(sqlite3.OperationalError("disk I/O error"))
