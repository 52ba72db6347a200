"""The journal keeps every request id and every paid-for 200 body, whatever the disk does."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.journal import FailingWrites
from xai_defer_magic import journal as journal_mod
from xai_defer_magic.journal import (
    SCHEMA_VERSION,
    STATUSES,
    UNFINISHED,
    Claim,
    JobRecord,
    Journal,
    canonical_request,
    ops,
    process_owner,
)
from xai_defer_magic.journal.connections import connect_file

HOST = socket.gethostname()
PKG_PARENT = str(Path(journal_mod.__file__).resolve().parents[2])  # journal/__init__.py


def make_record(request_id: str = "req-1", **changes: object) -> JobRecord:
    fields: dict[str, object] = {
        "request_id": request_id,
        "created_at": 1_700_000_000.5,
        "model": "grok-4",
        "request": {"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]},
        "base_url": "https://api.x.ai/v1",
    }
    fields.update(changes)
    return JobRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "home")
    yield j
    j.close()


def raw_conn(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, timeout=5)


def writes_blocked(directory: Path) -> bool:
    """Whether the OS really refuses writes here (root ignores chmod)."""
    probe = directory / ".probe"
    try:
        probe.write_bytes(b"x")
    except OSError:
        return True
    probe.unlink()
    return False


@pytest.fixture
def live_pid() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- storage ------------------------------------------------------------------------------


def test_round_trip_every_field(journal: Journal) -> None:
    record = JobRecord(
        request_id="abc-123",
        created_at=1_712_345_678.25,
        model="grok-4-latest",
        request={
            "model": "grok-4-latest",
            "deferred": True,
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "Grüße, 世界 \n  twice"},
            ],
            "temperature": 0.3,
        },
        base_url="http://127.0.0.1:8123/v1",
        status="timed_out",
        polls=17,
        last_poll_at=1_712_345_700.5,
        response_text='{"id": "x",  "choices": []}\n',
        error="stopped polling after 10 s",
        owner="box:42",
        cell_id="cell-7",
        finished_at=1_712_345_701.0,
    )
    journal.add(record)
    assert journal.get("abc-123") == record
    reopened = Journal(journal.path.parent)  # type: ignore[union-attr]
    assert reopened.get("abc-123") == record
    reopened.close()


def test_defaults_and_missing(journal: Journal) -> None:
    journal.add(make_record())
    got = journal.get("req-1")
    assert got is not None and got.status == "pending" and got.polls == 0
    assert got.response_text is None and got.finished_at is None
    assert journal.get("nope") is None


def test_wal_schema_and_permissions(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    j = Journal(home)
    assert j.problem is None and j.path == home / "jobs.sqlite3"
    conn = raw_conn(j.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 1
    conn.close()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE(j.path.stat().st_mode) == 0o600
    j.close()


def test_home_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XAI_DEFER_HOME", str(tmp_path / "envhome"))
    j = Journal()
    assert j.path == tmp_path / "envhome" / "jobs.sqlite3"
    j.close()


def test_existing_empty_v0_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    raw_conn(path).close()  # a valid, empty database at user_version 0
    j = Journal(tmp_path)
    j.add(make_record())
    assert j.problem is None and j.get("req-1") is not None
    j.close()


def test_newer_schema_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    conn = raw_conn(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = path.read_bytes()
    j = Journal(tmp_path)
    assert j.path is None and "newer" in (j.problem or "")
    j.add(make_record())
    j.close()
    assert path.read_bytes() == before


def test_store_response_never_overwrites(journal: Journal) -> None:
    journal.add(make_record())
    journal.store_response("req-1", "first body", 10.0)
    journal.store_response("req-1", "second body", 11.0)
    got = journal.get("req-1")
    assert got is not None and got.response_text == "first body" and got.last_poll_at == 10.0
    journal.add(make_record())  # re-adding the row must not drop the journaled body
    got = journal.get("req-1")
    assert got is not None and got.response_text == "first body"


def test_store_response_without_row_keeps_the_body(journal: Journal) -> None:
    journal.store_response("ghost", '{"choices": []}', 5.0)
    got = journal.get("ghost")
    assert got is not None and got.response_text == '{"choices": []}'
    assert [r.request_id for r in journal.unparsed()] == ["ghost"]
    journal.add(make_record("ghost", model="grok-4"))  # the real row arrives later
    got = journal.get("ghost")
    assert got is not None and got.model == "grok-4" and got.response_text == '{"choices": []}'


def test_record_poll_set_status_forget(journal: Journal) -> None:
    journal.add(make_record())
    journal.record_poll("req-1", 3, 123.5)
    journal.set_status("req-1", "failed", error="boom", finished_at=124.0)
    got = journal.get("req-1")
    assert got is not None
    assert (got.polls, got.last_poll_at, got.status, got.error, got.finished_at) == (
        3,
        123.5,
        "failed",
        "boom",
        124.0,
    )
    journal.set_status("req-1", "pending")  # resume: old error and finish time cleared
    got = journal.get("req-1")
    assert got is not None and got.error is None and got.finished_at is None
    with pytest.raises(ValueError):
        journal.set_status("req-1", "weird")
    journal.forget("req-1")
    assert journal.get("req-1") is None


def test_all_newest_first_and_unfinished(journal: Journal) -> None:
    for i, status in enumerate(STATUSES):
        journal.add(make_record(f"r{i}", created_at=1000.0 + i, status=status))
    journal.store_response("r1", "{}", 5.0)  # pending but its 200 is journaled
    assert [r.request_id for r in journal.all()] == [f"r{i}" for i in reversed(range(7))]
    unfinished = {r.request_id for r in journal.unfinished()}
    expected = {f"r{i}" for i, s in enumerate(STATUSES) if s in UNFINISHED} - {"r1"}
    assert unfinished == expected
    assert [r.request_id for r in journal.unparsed()] == ["r1"]


def test_find_by_request_returns_the_newest_identical_request(journal: Journal) -> None:
    body = {"model": "grok-4", "temperature": 0.3,
            "messages": [{"role": "user", "content": "Grüße, 世界"}]}
    text = canonical_request(dict(reversed(list(body.items()))))  # key order does not matter
    assert text == canonical_request(body)
    base = "https://api.x.ai/v1"
    journal.add(make_record("old", created_at=1.0, request=body, status="done"))
    journal.add(make_record("new", created_at=2.0, request=body, status="done"))
    journal.add(make_record("running", created_at=3.0, request=body, status="pending"))
    journal.add(make_record("elsewhere", created_at=4.0, request=body, status="done",
                            base_url="http://127.0.0.1:9/v1"))
    journal.add(make_record("same-size", created_at=5.0, request={**body, "temperature": 0.4},
                            status="done"))
    found = journal.find_by_request(text, base, ("done",))
    assert found is not None and found.request_id == "new" and found.request == body
    either = journal.find_by_request(text, base, ("done", "pending"))
    assert either is not None and either.request_id == "running"
    elsewhere = journal.find_by_request(text, "http://127.0.0.1:9/v1", ["done"])
    assert elsewhere is not None and elsewhere.request_id == "elsewhere"
    assert journal.find_by_request(text, base, ("failed",)) is None
    assert journal.find_by_request(text, base, ()) is None
    assert journal.find_by_request(canonical_request({"model": "grok-4"}), base, ["done"]) is None
    with pytest.raises(ValueError):
        journal.find_by_request(text, base, ("finished",))
    assert journal.path is not None
    with contextlib.closing(raw_conn(journal.path)) as conn:
        stored = conn.execute("SELECT request FROM jobs WHERE request_id = 'new'").fetchone()[0]
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT request_id FROM jobs WHERE base_url = ? "
            "AND length(request) = length(?) AND request = ?", (base, text, text),
        ).fetchall()
    assert stored == text
    assert "jobs_request_size" in " ".join(str(step) for step in plan)


def test_prompt_preview() -> None:
    long_text = "word " * 40
    rec = make_record(
        request={
            "messages": [
                {"role": "user", "content": "old"},
                {"role": "assistant", "content": "x"},
                {"role": "user", "content": "  Hello\n\n  there\tfriend  "},
            ]
        }
    )
    assert rec.prompt_preview == "Hello there friend"
    preview = make_record(request={"messages": [{"role": "user", "content": long_text}]})
    assert len(preview.prompt_preview) <= 80
    assert make_record(request={}).prompt_preview == ""


def test_threads_share_one_journal(journal: Journal) -> None:
    """Four threads at once; whatever a thread raises or decides is checked in the main one."""
    outcomes: dict[str, tuple[Claim, Claim]] = {}
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                rid = f"t{n}-{i}"
                journal.add(make_record(rid))
                journal.record_poll(rid, i, float(i))
                mine = journal.claim(rid, f"owner-{n}", 5)
                theirs = journal.claim(rid, f"owner-{(n + 1) % 4}", 5)
                outcomes[rid] = (mine, theirs)
        except BaseException as exc:  # re-raised below: pytest only warns about thread errors
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    assert len(outcomes) == 100
    assert set(outcomes.values()) == {(Claim.GRANTED, Claim.HELD_ELSEWHERE)}
    records = journal.all()
    assert len(records) == 100 and journal.problem is None
    assert {(r.request_id, r.polls) for r in records} == {
        (f"t{n}-{i}", i) for n in range(4) for i in range(25)
    }


def test_close_then_late_write_reopens(journal: Journal) -> None:
    journal.add(make_record())
    journal.close()
    journal.store_response("req-1", "late body", 1.0)  # a poller racing with unload
    got = journal.get("req-1")
    assert got is not None and got.response_text == "late body"


# --- claims -------------------------------------------------------------------------------


def test_claim_free_renew_and_release(journal: Journal) -> None:
    journal.add(make_record())
    assert journal.claim("req-1", "me", 30)
    assert journal.claim("req-1", "me", 30)  # renewal
    assert not journal.claim("req-1", "someone-else", 30)
    journal.release("req-1", "someone-else")  # not theirs: no effect
    assert not journal.claim("req-1", "someone-else", 30)
    journal.release("req-1", "me")
    assert journal.claim("req-1", "someone-else", 30)
    assert journal.claim("missing", "me", 30) is Claim.MISSING
    assert journal.claim("req-1", "me", 30) is Claim.HELD_ELSEWHERE


def test_claim_by_its_owner_renews_to_a_full_term(journal: Journal) -> None:
    journal.add(make_record())
    assert journal.claim("req-1", "me", 100)
    first = lease_until(journal, "req-1")
    time.sleep(0.05)
    before = time.time()
    assert journal.claim("req-1", "me", 100)  # most of the term is left: renewed anyway
    assert lease_until(journal, "req-1") >= before + 100 > first


def lease_until(journal: Journal, request_id: str) -> float:
    assert journal.path is not None
    with contextlib.closing(raw_conn(journal.path)) as conn:
        row = conn.execute(
            "SELECT lease_until FROM jobs WHERE request_id = ?", (request_id,)
        ).fetchone()
    return float(row[0])


def test_claim_refused_for_live_other_owner(journal: Journal, live_pid: int) -> None:
    journal.add(make_record())
    other = f"{HOST}:{live_pid}"
    assert journal.claim("req-1", other, 60)
    assert not journal.claim("req-1", process_owner(), 60)


def test_claim_taken_from_dead_owner_at_once(journal: Journal, dead_pid: int) -> None:
    journal.add(make_record())
    assert journal.claim("req-1", f"{HOST}:{dead_pid}", 3600)
    assert journal.claim("req-1", process_owner(), 60)


def test_other_host_counts_as_alive(journal: Journal, dead_pid: int) -> None:
    journal.add(make_record())
    assert journal.claim("req-1", f"not-{HOST}:{dead_pid}", 3600)
    assert not journal.claim("req-1", process_owner(), 60)


def test_claim_taken_over_after_expiry(journal: Journal, live_pid: int) -> None:
    journal.add(make_record())
    assert journal.claim("req-1", f"{HOST}:{live_pid}", 0.05)
    assert not journal.claim("req-1", "me", 60)
    time.sleep(0.1)
    assert journal.claim("req-1", "me", 60)


def test_claim_refused_once_response_stored(journal: Journal) -> None:
    journal.add(make_record())
    assert journal.claim("req-1", "me", 60)
    journal.store_response("req-1", "{}", 1.0)
    assert journal.claim("req-1", "me", 60) is Claim.ANSWER_STORED
    assert journal.claim("req-1", "other", 60) is Claim.ANSWER_STORED


RACER = textwrap.dedent(
    """
    import json, random, sys, time
    from xai_defer_magic.journal import Journal, process_owner
    home, rid, start_at, attempts, out = sys.argv[1:]
    j = Journal(home)
    me = process_owner()
    time.sleep(max(0.0, float(start_at) - time.time()))
    windows = []
    for _ in range(int(attempts)):
        if j.claim(rid, me, 0.5):
            begin = time.time()
            time.sleep(0.0005)
            windows.append((begin, time.time()))
            j.release(rid, me)
        time.sleep(random.random() * 0.002)  # jitter so both processes keep contending
    json.dump(windows, open(out, "w"))
    """
)


def test_two_processes_never_hold_the_same_lease(tmp_path: Path) -> None:
    home = tmp_path / "home"
    Journal(home).add(make_record("race"))
    env = {**os.environ, "PYTHONPATH": PKG_PARENT}
    start_at = str(time.time() + 1.0)
    outs = [tmp_path / f"w{i}.json" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(home), "race", start_at, "200", str(out)], env=env
        )
        for out in outs
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    a, b = (json.loads(out.read_text()) for out in outs)
    assert a and b, "both processes should have won some claims"
    for s1, e1 in a:
        for s2, e2 in b:
            assert e1 <= s2 or e2 <= s1, "two processes held the lease at once"


CLAIMER = textwrap.dedent(
    """
    import sys
    from xai_defer_magic.journal import Journal, process_owner
    j = Journal(sys.argv[1])
    print(process_owner(), flush=True)
    for line in sys.stdin:
        rid, lease = line.split()
        print(j.claim(rid, process_owner(), float(lease)).name, flush=True)
    """
)


class Claimer:
    """A separate process that claims when told to and says what the journal decided."""

    def __init__(self, home: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(home)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": PKG_PARENT},
        )
        assert self.proc.stdout is not None
        self.owner = self.proc.stdout.readline().strip()

    def claim(self, request_id: str, lease: float) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{request_id} {lease}\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def lease_row(home: Path, request_id: str) -> tuple[str | None, float]:
    with contextlib.closing(raw_conn(home / "jobs.sqlite3")) as conn:
        owner, until = conn.execute(
            "SELECT lease_owner, lease_until FROM jobs WHERE request_id = ?", (request_id,)
        ).fetchone()
    return owner, float(until or 0.0)


def test_two_processes_lease_expiry_renewal_and_takeover(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with contextlib.closing(Journal(home)) as setup:
        setup.add(make_record("race"))
    a, b = Claimer(home), Claimer(home)
    try:
        assert a.claim("race", 1.5) == "GRANTED"
        _owner, first_until = lease_row(home, "race")
        assert b.claim("race", 1.5) == "HELD_ELSEWHERE"
        before = time.time()
        assert a.claim("race", 1.5) == "GRANTED"  # renewed with most of its term still left
        owner, until = lease_row(home, "race")
        assert owner == a.owner and until >= before + 1.5 > first_until, "not renewed in full"
        assert b.claim("race", 1.5) == "HELD_ELSEWHERE"
        # A stays alive but stops renewing: once its lease lapses, B may take it.
        wait_until(lambda: time.time() > lease_row(home, "race")[1] + 0.05, 10)
        assert b.claim("race", 60) == "GRANTED"
        assert lease_row(home, "race")[0] == b.owner
        assert a.claim("race", 1.5) == "HELD_ELSEWHERE"  # A comes back: B's lease stands
        # B dies with almost all of its 60 s left: A takes over at once, not in a minute.
        b.kill()
        assert a.claim("race", 1.5) == "GRANTED"
        assert lease_row(home, "race")[0] == a.owner
    finally:
        a.kill()
        b.kill()


# --- degraded modes -----------------------------------------------------------------------


def assert_degraded_but_working(j: Journal, problems: list[str]) -> None:
    assert j.path is None and j.problem and "\n" not in j.problem
    assert problems == [j.problem]
    j.add(make_record())
    j.store_response("req-1", "{}", 1.0)
    assert j.get("req-1") is not None and j.all() and not j.unfinished()
    j.add(make_record("req-2"))
    assert j.claim("req-2", process_owner(), 30)
    j.forget("req-2")
    assert problems == [j.problem], "one report per distinct problem"
    j.close()
    assert j.get("req-1") is not None, "closing a memory journal must not lose it"


def test_readonly_directory(tmp_path: Path) -> None:
    home = tmp_path / "ro"
    home.mkdir()
    home.chmod(0o500)
    try:
        if not writes_blocked(home):  # running as root: chmod does not stop writes
            home = tmp_path / "afile" / "sub"
            (tmp_path / "afile").write_text("not a directory")
        problems: list[str] = []
        j = Journal(home, on_problem=problems.append)
        assert str(home / "jobs.sqlite3") in (j.problem or "")
        assert "will not survive a kernel restart" in (j.problem or "")
        assert_degraded_but_working(j, problems)
    finally:
        (tmp_path / "ro").chmod(0o700)


def test_home_under_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    problems: list[str] = []
    j = Journal(tmp_path / "afile" / "sub", on_problem=problems.append)
    assert "Journal disabled:" in (j.problem or "")
    assert_degraded_but_working(j, problems)


def test_home_is_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    problems: list[str] = []
    j = Journal(tmp_path / "afile", on_problem=problems.append)
    assert "Not a directory" in (j.problem or "")
    assert_degraded_but_working(j, problems)
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize(
    "garbage",
    [b"\x00\xffgarbage bytes " * 300, b"SQLite format 3\x00" + b"\x13\x37" * 4000],
    ids=["no-header", "bad-pages"],
)
def test_corrupt_file_is_left_untouched(tmp_path: Path, garbage: bytes) -> None:
    path = tmp_path / "jobs.sqlite3"
    path.write_bytes(garbage)
    problems: list[str] = []
    j = Journal(tmp_path, on_problem=problems.append)
    assert str(path) in (j.problem or "") and "not a valid SQLite database" in (j.problem or "")
    assert_degraded_but_working(j, problems)
    assert path.read_bytes() == garbage
    others = sorted(p.name for p in tmp_path.iterdir() if p.name != "jobs.sqlite3")
    assert all(name.startswith("pending-") for name in others), others  # the fallback file


def test_locked_database_queues_without_raising_or_degrading(tmp_path: Path) -> None:
    Journal(tmp_path).add(make_record("old"))
    holder = raw_conn(tmp_path / "jobs.sqlite3")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        problems: list[str] = []
        j = Journal(tmp_path, on_problem=problems.append, timeout=0.3)
        began = time.monotonic()
        j.add(make_record("new"))
        j.add(make_record("newer"))  # offline now: queued without waiting for the lock again
        assert time.monotonic() - began < 2.0
        assert j.path is not None and j.problem is None and problems == []
        assert {r.request_id for r in j.all()} == {"old", "new", "newer"}, "file rows + queue"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_until(lambda: on_disk(tmp_path) == {"old", "new", "newer"}, 5)
    j.close()


def on_disk(home: Path) -> set[str]:
    with contextlib.closing(raw_conn(home / "jobs.sqlite3")) as conn:
        return {rid for (rid,) in conn.execute("SELECT request_id FROM jobs")}


def wait_until(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_claim_while_locked_is_refused_not_degraded(tmp_path: Path) -> None:
    j = Journal(tmp_path, timeout=0.2)
    j.add(make_record())
    holder = raw_conn(tmp_path / "jobs.sqlite3")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert j.claim("req-1", "me", 30) is Claim.UNAVAILABLE
        assert j.problem is None and j.path is not None
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_until(lambda: j.claim("req-1", "me", 30) is Claim.GRANTED, 5)
    j.close()


def test_write_failing_mid_session_keeps_memory_copy(tmp_path: Path) -> None:
    problems: list[str] = []
    j = Journal(tmp_path, on_problem=problems.append)
    j.add(make_record())
    j._conn = FailingWrites(j._conn)  # type: ignore[assignment,arg-type]
    j.store_response("req-1", "paid-for body", 3.0)  # must not raise
    assert j.path is None and problems == [j.problem] and "disk is full" in (j.problem or "")
    got = j.get("req-1")
    assert got is not None and got.response_text == "paid-for body"
    assert j.claim("req-1", "me", 30) is Claim.ANSWER_STORED  # its 200 is journaled (memory)


def test_broken_callback_does_not_break_journal(tmp_path: Path) -> None:
    (tmp_path / "jobs.sqlite3").write_bytes(b"junk" * 100)

    def explode(line: str) -> None:
        raise RuntimeError(line)

    j = Journal(tmp_path, on_problem=explode)
    j.add(make_record())
    assert j.get("req-1") is not None


def test_an_intent_row_is_not_fsynced_but_its_request_id_is(tmp_path: Path) -> None:
    """The cell writes the intent row before the POST; a killed kernel keeps it (WAL, NORMAL
    sync), and it holds no request id or answer, so it skips the fsync (ms on the cell's
    time). The id that re-keys it, on the loop thread, is written with a full fsync."""
    conn, _warning = connect_file(tmp_path, tmp_path / "journal.sqlite3", 1.0)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    record = JobRecord(request_id="local+1", created_at=1.0, model="grok-4",
                       request={"model": "grok-4"}, base_url="http://127.0.0.1:1",
                       status="submitting")
    ops.apply_now(conn, ops.intent(record))
    assert not [s for s in statements if "synchronous=FULL" in s], statements
    statements.clear()
    ops.apply_now(conn, ops.assign("local+1", "rid-1"))
    assert [s for s in statements if "synchronous=FULL" in s], statements
    assert conn.execute("SELECT request_id, status FROM jobs").fetchall() == [("rid-1", "pending")]
    conn.close()
