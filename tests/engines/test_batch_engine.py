"""The batch engine on a real loop thread, against the emulator, journaled in real SQLite.

Includes the crash that matters: ``kill -9`` of a process between its adds and the first
result; a new process must resume the same batch, send no duplicate, and return everything in
input order.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import FAKE_KEY, REPO
from tests.support.batch import FAST, items
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.engines.batch.engine import (
    BATCH_SCHEDULE,
    BatchEngine,
    SavedBatch,
    batch_name,
)
from xai_defer_magic.errors import RateLimited
from xai_defer_magic.http.batch import BatchClient, BatchModelNotSupported, BatchResult
from xai_defer_magic.journal.batches import SQLiteBatchStore
from xai_defer_magic.loop import LoopThread

KEY = FAKE_KEY


pytestmark = pytest.mark.emulator(latency=0.0)


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    thread = LoopThread(name="test-batch-loop")
    yield thread
    thread.stop()


class Recording:
    """Wraps a store; records each call and what the server had when it was made."""

    def __init__(self, inner: SQLiteBatchStore, emulator: Emulator, fail_on: str | None = None):
        self.inner, self.emulator, self.fail_on = inner, emulator, fail_on
        self.calls: list[tuple[str, int, int]] = []  # (method, batches, requests on the server)

    def _note(self, name: str) -> None:
        ids = self.emulator.batches.batch_ids()
        requests = sum(len(self.emulator.batches.items(b)) for b in ids)
        self.calls.append((name, len(ids), requests))
        if name == self.fail_on:
            self.fail_on = None
            raise OSError(f"simulated crash in {name}")

    def saved_batch(self) -> SavedBatch | None:
        return self.inner.saved_batch()

    def begin(self, name: str, batch_request_ids: Sequence[str]) -> None:
        self._note("begin")
        self.inner.begin(name, batch_request_ids)

    def save_batch_id(self, batch_id: str) -> None:
        self._note("save_batch_id")
        self.inner.save_batch_id(batch_id)

    def save_adds_done(self) -> None:
        self._note("save_adds_done")
        self.inner.save_adds_done()

    def save_result(self, batch_request_id: str, raw_text: str) -> None:
        self.inner.save_result(batch_request_id, raw_text)

    def saved_results(self) -> dict[str, str]:
        return self.inner.saved_results()


def engine_run(loop: LoopThread, emulator: Emulator, store: Any,
               work: list[tuple[str, dict[str, Any]]],
               *, name: str = "test batch", timeout: float = 30, client_args: Any = None,
               **kwargs: Any) -> tuple[list[BatchResult | None], BatchEngine, BatchClient]:
    """Run one engine on the loop thread with a client made there, as the poller does."""
    made: dict[str, Any] = {}

    async def main() -> list[BatchResult | None]:
        async with httpx.AsyncClient(timeout=10) as http:
            client = BatchClient(http, emulator.base_url, KEY, retry_base=0.01,
                                 **(client_args or {}))
            engine = BatchEngine(client, store, work, name=name, settings=FAST, **kwargs)
            made.update(engine=engine, client=client)
            return await engine.run()

    return loop.run(main(), timeout), made["engine"], made["client"]


def creates(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests() if r.method == "POST" and r.path == "/v1/batches")


def test_one_batch_chunked_adds_journal_first_results_in_order(
    loop: LoopThread, emulator: Emulator, tmp_path: Path
) -> None:
    work = [(f"g1-{i:04d}", {"model": "grok-4.3", "messages": [{"role": "user", "content":
             f"Item {i} [[latency={0.1 + (i * 7 % 10) / 10:.1f}]]"}]}) for i in range(30)]
    store = Recording(SQLiteBatchStore(tmp_path, "g1"), emulator)
    states: list[Any] = []
    seen: list[tuple[int, int]] = []  # (index, requests still pending when it arrived)

    def on_result(index: int, result: BatchResult) -> None:
        seen.append((index, states[-1].num_pending if states else -1))

    name = batch_name("g1", cell="[5]", when=0)
    assert name == "xai_defer_magic cell [5] at 1970-01-01 00:00:00Z [g1]"
    results, engine, client = engine_run(loop, emulator, store, work, name=name,
                                         client_args={"max_items": 10},
                                         on_result=on_result, on_state=states.append)
    assert [r.batch_request_id if r else None for r in results] == [rid for rid, _ in work]
    assert all(r and r.completion and r.cost_in_usd_ticks for r in results)
    assert creates(emulator) == 1
    adds = [r for r in emulator.requests() if r.path.endswith("/requests")]
    assert [len(r.body["batch_requests"]) for r in adds] == [10, 10, 10]
    # journal first: ids before the create, the batch id before the first add
    assert store.calls[:2] == [("begin", 0, 0), ("save_batch_id", 1, 0)]
    assert store.calls[2] == ("save_adds_done", 1, 30)
    assert sorted(i for i, _ in seen) == list(range(30))
    assert any(pending > 0 for _, pending in seen)  # results landed while the batch still ran
    saved = SQLiteBatchStore(tmp_path, "g1")
    assert list(saved.saved_results()) == [rid for rid, _ in work]
    assert saved.saved_batch() == SavedBatch(name, engine.batch_id, True)
    assert stat.S_IMODE(os.stat(tmp_path / "jobs.sqlite3").st_mode) == 0o600
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert client.calls == len(emulator.requests())


def test_a_crash_during_the_adds_resumes_the_same_batch(
    loop: LoopThread, emulator: Emulator, tmp_path: Path
) -> None:
    work = items("g2", 30)
    emulator.batches.add_calls_per_window, emulator.batches.add_window = 2, 1e9
    with pytest.raises(RateLimited):  # the third add fails: the process "dies" there
        engine_run(loop, emulator, SQLiteBatchStore(tmp_path, "g2"), work,
                   client_args={"max_items": 10, "attempts": 1})
    (batch_id,) = emulator.batches.batch_ids()
    assert len(emulator.batches.items(batch_id)) == 20
    emulator.batches.add_calls_per_window = 1000
    store = SQLiteBatchStore(tmp_path, "g2")
    assert store.saved_batch() == SavedBatch("test batch", batch_id, False)
    results, engine, _ = engine_run(loop, emulator, store, work, client_args={"max_items": 10})
    assert engine.batch_id == batch_id and creates(emulator) == 1
    assert len(emulator.batches.items(batch_id)) == 30  # the first 20 re-added idempotently
    assert [r.batch_request_id for r in results if r] == [rid for rid, _ in work]


def test_a_crash_between_create_and_journaling_finds_the_batch_by_name(
    loop: LoopThread, emulator: Emulator, tmp_path: Path
) -> None:
    work = items("g3", 5)
    store = Recording(SQLiteBatchStore(tmp_path, "g3"), emulator, fail_on="save_batch_id")
    name = batch_name("g3", cell="[1]")
    with pytest.raises(OSError, match="simulated crash"):
        engine_run(loop, emulator, store, work, name=name)
    results, engine, _ = engine_run(loop, emulator, SQLiteBatchStore(tmp_path, "g3"), work,
                                    name="new")
    assert creates(emulator) == 1 and engine.name == name
    assert [r.batch_request_id for r in results if r] == [rid for rid, _ in work]


def test_cancel_keeps_done_results_and_reports_the_rest_cancelled(
    loop: LoopThread, emulator: Emulator, tmp_path: Path
) -> None:
    work = items("g4", 4, latency="0") + [
        (rid.replace("g4-", "g4-z"), body) for rid, body in items("g4", 4, latency="1000")]
    arrived = threading.Event()
    count: list[int] = []

    def on_result(index: int, result: BatchResult) -> None:
        count.append(index)
        if len(count) >= 4:
            arrived.set()

    engines: list[BatchEngine] = []

    async def main() -> list[BatchResult | None]:
        async with httpx.AsyncClient(timeout=10) as http:
            client = BatchClient(http, emulator.base_url, KEY)
            engine = BatchEngine(client, SQLiteBatchStore(tmp_path, "g4"), work, name="c",
                                 settings=FAST, on_result=on_result)
            engines.append(engine)
            return await engine.run()

    future = loop.submit(main())
    assert arrived.wait(20)
    info = loop.run(engines[0].cancel(), 10)
    assert info is not None and info.cancelled and info.num_cancelled == 4
    results = future.result(20)
    assert [bool(r and r.completion) for r in results] == [True] * 4 + [False] * 4
    assert all(r and r.cancelled and r.error == "Batch cancelled" for r in results[4:])


def test_a_model_that_is_not_batch_enabled_sends_nothing_else(
    loop: LoopThread, emulator: Emulator, tmp_path: Path
) -> None:
    with pytest.raises(BatchModelNotSupported, match="grok-3-mini is not supported"):
        engine_run(loop, emulator, SQLiteBatchStore(tmp_path, "g5"),
                   items("g5", 3, model="grok-3-mini"))
    sent = [(r.method, r.path.rsplit("/", 1)[-1], r.status) for r in emulator.requests()]
    assert [s[0] for s in sent] == ["POST", "POST"] and sent[1][2] == 400


def test_the_schedule_settles_at_one_get_per_ten_seconds() -> None:
    assert BATCH_SCHEDULE.first == 1.0
    assert 0.9 <= BATCH_SCHEDULE.next_delay(5.0) <= 1.1
    assert 9.0 <= BATCH_SCHEDULE.next_delay(300.0) <= 11.0
    assert 9.0 <= BATCH_SCHEDULE.next_delay(86400.0) <= 11.0


# --- kill -9 between the adds and the first result ----------------------------------------------

CHILD = r"""
import asyncio, json, sys
import httpx
from xai_defer_magic.engines.batch.engine import BatchEngine, EngineSettings
from xai_defer_magic.http.batch import BatchClient
from xai_defer_magic.journal.batches import SQLiteBatchStore
from xai_defer_magic.loop import LoopThread
from xai_defer_magic.core.schedule import PollSchedule

base_url, home, group, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
work = [(f"{group}-{i:03d}", {"model": "grok-4.3", "messages": [{"role": "user",
         "content": f"Item {i}. [[latency={3 + (i % 4) * 0.3:.1f}]]"}]}) for i in range(n)]

def added(batch_id):
    print("ADDED", batch_id, flush=True)

async def main():
    async with httpx.AsyncClient(timeout=10) as http:
        client = BatchClient(http, base_url, "fake-test-key-not-a-secret", max_items=15)
        engine = BatchEngine(client, SQLiteBatchStore(home, group), work, name=f"cell [{group}]",
                             settings=EngineSettings(schedule=PollSchedule(0.2, 0.1, 0.4),
                                                     results_schedule=PollSchedule(0.2, 0.25, 0.4)),
                             on_added=added)
        results = await engine.run()
        print("RESULTS", json.dumps([[r.batch_request_id, r.completion["choices"][0]
              ["message"]["content"][:60]] for r in results]), flush=True)

loop = LoopThread()
loop.run(main(), 120)
"""


def test_kill_9_between_adds_and_first_result_resumes_without_duplicates(
    emulator: Emulator, tmp_path: Path
) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    home = tmp_path / "journal"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, str(script), emulator.base_url, str(home), "g9", "40"]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    assert first.stdout is not None
    line = first.stdout.readline()
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    assert line.startswith("ADDED batch_"), line
    batch_id = line.split()[1]
    store = SQLiteBatchStore(home, "g9")
    assert store.saved_batch() == SavedBatch("cell [g9]", batch_id, True)
    assert store.saved_results() == {}  # killed before any result arrived
    assert len(store.batch_request_ids()) == 40
    emulator.reset_counters()

    second = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert second.returncode == 0, second.stderr
    out = [ln for ln in second.stdout.splitlines() if ln.startswith("RESULTS ")]
    rows = json.loads(out[0].removeprefix("RESULTS "))
    assert [rid for rid, _ in rows] == [f"g9-{i:03d}" for i in range(40)]
    assert all("Emulated answer" in text for _, text in rows)
    assert creates(emulator) == 0 and emulator.batches.batch_ids() == [batch_id]  # the same batch
    assert not [r for r in emulator.requests() if r.path.endswith("/requests")]  # nothing re-sent
    assert len(emulator.batches.items(batch_id)) == 40
    assert not any(ln.startswith("ADDED") for ln in second.stdout.splitlines())
    assert list(SQLiteBatchStore(home, "g9").saved_results()) == [r for r, _ in rows]


def test_cancel_while_adding_stops_the_adds(
    loop: LoopThread, emulator: Emulator, tmp_path: Path
) -> None:
    batches = emulator.batches
    batches.add_calls_per_window, batches.add_window = 1, 0.5  # one chunk per 0.5 s
    work = items("g6", 40, latency="1000")
    engines: list[BatchEngine] = []

    async def main() -> list[BatchResult | None]:
        async with httpx.AsyncClient(timeout=10) as http:
            client = BatchClient(http, emulator.base_url, KEY, max_items=10, retry_base=0.01)
            engine = BatchEngine(client, SQLiteBatchStore(tmp_path, "g6"), work, name="c",
                                 settings=FAST)
            engines.append(engine)
            return await engine.run()

    future = loop.submit(main())
    deadline = time.monotonic() + 20
    while not (batches.batch_ids() and batches.items(batches.batch_ids()[0])):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    loop.run(engines[0].cancel(), 10)
    results = future.result(20)
    (batch_id,) = emulator.batches.batch_ids()
    admitted = len(emulator.batches.items(batch_id))
    assert 10 <= admitted < 40  # the adds stopped
    assert sum(1 for r in results if r is not None and r.cancelled) == admitted
    assert sum(1 for r in results if r is None) == 40 - admitted  # never sent
