"""Groups and batches under a held write lock: nothing raises, nothing is sent twice, no link
between an item and its request id is lost, not even by a ``kill -9`` while the lock is held.

A second process holds the journal file's write lock (``BEGIN IMMEDIATE``) longer than any
busy timeout; the group and batch tables share that file with the job journal.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support import FAKE_KEY as KEY
from tests.support.batch import FAST, items
from tests.support.locks import chat_posts, on_disk, release, write_lock
from tests.support.shell import run, wait_for
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.engines.batch.engine import BatchEngine
from xai_defer_magic.http.batch import BatchClient
from xai_defer_magic.journal import DB_NAME
from xai_defer_magic.journal.batches import SQLiteBatchStore
from xai_defer_magic.loop import LoopThread

LOCK_SECONDS = 60.0  # bounds a hang only: the tests release the lock themselves
BUSY_TIMEOUT = 5.0  # the journal's SQLite busy timeout: a lock held past it makes writes queue


def test_deferred_and_batch_groups_wait_out_a_held_write_lock(
    ip: Any, emulator: Emulator, home: Path
) -> None:
    emulator.latency = 0.3
    run(ip, "%config GrokDefer.first_poll = 0.1\nimport xai_defer_magic\n"
            "xai_defer_magic.groups()\nxs = ['ant', 'bee', 'cat']")  # the file and its tables
    with write_lock(home / DB_NAME, LOCK_SECONDS) as holder:
        locked_at = time.monotonic()
        deferred = ip.run_cell("%%grok_defer --over xs -m grok-3 -o g\nName {item}")
        batch = ip.run_cell("%%grok_defer --batch --over xs -m grok-4.3 -o b\nBatch {item}")
        assert (deferred.error_in_exec, batch.error_in_exec) == (None, None)
        assert holder.poll() is None, "the cells ran after the lock was released"
        g, b = ip.user_ns["g"], ip.user_ns["b"]
        b.results(30)  # batch answers come from xAI's batch, not from a journal lease
        assert holder.poll() is None, "the lock did not outlast the batch"
        assert on_disk(home, "SELECT count(*) FROM group_items") == [(0,)], "not yet written"
        # Hold on past the busy timeout, so the writes certainly gave up waiting and queued.
        time.sleep(max(0.0, locked_at + BUSY_TIMEOUT + 1.0 - time.monotonic()))
        assert on_disk(home, "SELECT count(*) FROM group_items") == [(0,)], "not yet written"
        release(holder)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "released"
    g.results(30)
    assert [(j.status, j.error) for j in [*g, *b]] == [("done", None)] * 6
    assert chat_posts(emulator) == Counter({f"Name {x}": 1 for x in ("ant", "bee", "cat")})
    (batch_id,) = emulator.batches.batch_ids()
    expected = [f"{b.id}-{i:06d}" for i in range(3)]
    assert sorted(emulator.batches.items(batch_id)) == expected, "each added once"
    adds = [r for r in emulator.requests() if r.path.endswith("/requests")]
    assert [len(r.body["batch_requests"]) for r in adds] == [3]

    ids = [job.request_id for job in g]
    assert sorted(ids) == sorted(emulator.job_ids())

    def group_rows() -> list[tuple[Any, ...]]:
        return on_disk(home, "SELECT state, request_id FROM group_items WHERE group_id = ? "
                             "ORDER BY idx", (g.id,))

    wait_for(lambda: group_rows() == [("accepted", rid) for rid in ids],
             f"every item accepted with its request id on disk (have {group_rows()})", 10)
    assert on_disk(home, "SELECT batch_id, adds_done FROM batches WHERE group_id = ?",
                   (b.id,)) == [(batch_id, 1)]
    saved = on_disk(home, "SELECT batch_request_id FROM batch_items WHERE group_id = ? "
                          "AND result_text IS NOT NULL ORDER BY position", (b.id,))
    assert [r[0] for r in saved] == expected
    assert list(home.glob("pending-*.jsonl")) == [], "the fallback file is gone once flushed"


def test_no_post_before_its_sending_row_is_durable_even_if_the_fallback_file_refuses(
    ip: Any, emulator: Emulator, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xai_defer_magic.journal.fallback import PendingFile
    from xai_defer_magic.journal.groups import GroupStore

    emulator.latency = 0.2
    run(ip, "%config GrokDefer.first_poll = 0.1\nimport xai_defer_magic\n"
            "xai_defer_magic.groups()\nys = ['one', 'two']")
    monkeypatch.setattr(PendingFile, "append", lambda self, op: False)  # e.g. the disk is full
    # Each item's POST waits at GroupStore.saved() for its "sending" row: watch it get there.
    at_the_gate: list[str] = []
    through_it: list[str] = []
    saved = GroupStore.saved

    async def watched(self: GroupStore) -> None:
        at_the_gate.append("item")
        await saved(self)
        through_it.append("item")

    monkeypatch.setattr(GroupStore, "saved", watched)
    with write_lock(home / DB_NAME, 30) as holder:
        run(ip, "%%grok_defer --over ys -m grok-3 -o h\nSay {item}")  # queued in memory only
        wait_for(lambda: len(at_the_gate) == 2, "both items to wait for their rows", 20)
        assert holder.poll() is None
        assert through_it == [], "a sending row counted as durable while the file was locked"
        assert chat_posts(emulator) == Counter(), "POSTed before its sending row was durable"
    h = ip.user_ns["h"]
    h.results(30)  # positive control: the lock freed, the rows landed, then the POSTs went
    assert [j.status for j in h] == ["done", "done"]
    assert chat_posts(emulator) == Counter({"Say one": 1, "Say two": 1})
    assert on_disk(home, "SELECT state FROM group_items WHERE group_id = ?", (h.id,)) == [
        ("accepted",), ("accepted",)]


class GatedStore(SQLiteBatchStore):
    """A store whose writes become durable only when the test says so (a lock, then none)."""

    def __init__(self, home: Path, group_id: str) -> None:
        super().__init__(home, group_id)
        self.gates = [threading.Event(), threading.Event()]
        self.waits = 0

    async def saved(self) -> None:
        gate = self.gates[min(self.waits, 1)]
        self.waits += 1
        while not gate.is_set():
            await asyncio.sleep(0.02)


def test_batch_create_waits_for_its_ids_and_the_first_add_for_the_batch_id(
    tmp_path: Path
) -> None:
    import httpx

    store = GatedStore(tmp_path, "gq")
    with Emulator() as emu:
        loop = LoopThread(name="test-store-locks")
        try:
            async def main() -> Any:
                async with httpx.AsyncClient(timeout=10) as http:
                    client = BatchClient(http, emu.base_url, KEY, retry_base=0.01)
                    return await BatchEngine(client, store, items("gq", 2), name="gated",
                                             settings=FAST).run()

            future = loop.submit(main())
            wait_for(lambda: store.waits >= 1, "the wait for the items' ids", 10)
            assert (store.waits, emu.batches.batch_ids()) == (1, []), "created before durable"
            ids_durable = time.monotonic()
            store.gates[0].set()
            wait_for(lambda: store.waits == 2, "the batch id's wait", 10)
            (batch_id,) = emu.batches.batch_ids()
            assert emu.batches.items(batch_id) == {}, "added before the batch id was durable"
            batch_id_durable = time.monotonic()
            store.gates[1].set()
            results = future.result(30)  # positive control: once durable, the run goes on
        finally:
            loop.stop()
    assert [r.batch_request_id for r in results] == ["gq-0000", "gq-0001"]
    # The order, as the server saw it (no sleep needed): nothing went out before its gate opened.
    posts = [r for r in emu.requests() if r.method == "POST"]
    creates = [r.t for r in posts if r.path.endswith("/batches")]
    adds = [r.t for r in posts if r.path.endswith("/requests")]
    assert creates and min(creates) >= ids_durable, "created before the ids were durable"
    assert adds and min(adds) >= batch_id_durable, "added before the batch id was durable"
    store.close()
