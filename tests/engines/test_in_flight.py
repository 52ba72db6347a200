"""A GET on the wire: the lease covers it, its deadline is total, and a loss is named as one.

In-process runtimes against the emulator's delivery faults, which strike after the server has
marked an id delivered (the one loss that a fetch-once protocol cannot undo).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.support.shell import submitted, wait_for
from xai_defer_magic.core.options import RequestOptions
from xai_defer_magic.core.schedule import PollSchedule, PollSettings
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal import DB_NAME, process_owner
from xai_defer_magic.runtime.runtime import Runtime
from xai_defer_magic.runtime.settings import Settings

FAST = PollSchedule(first=0.1, growth=0.1, cap=0.5)


def lease_owner(home: Path, request_id: str) -> str | None:
    with contextlib.closing(sqlite3.connect(home / DB_NAME, timeout=5)) as conn:
        row = conn.execute("SELECT lease_owner FROM jobs WHERE request_id = ?",
                           (request_id,)).fetchone()
    return row[0] if row else None


def runtime_for(home: Path, **poll: Any) -> Runtime:
    return Runtime(Settings(home=str(home), poll=PollSettings(schedule=FAST, **poll)))


def test_cancel_mid_get_keeps_the_lease_until_the_answer_is_journaled(
    env: dict[str, str], emulator: Emulator, home: Path
) -> None:
    emulator.latency = 0.0
    emulator.configure({"deliver_seconds": 1.5})
    runtime = runtime_for(home)
    try:
        job, _card = runtime.defer("slow answer", RequestOptions(model="grok-3"), display=False)
        submitted(job)
        rid = job.request_id or ""
        wait_for(lambda: emulator.delivered_count(rid) == 1, "the 200 to start", 10)
        job.cancel()  # the polling task ends; the shielded GET is still reading the body
        time.sleep(0.3)
        assert runtime.journal.get(rid).response_text is None, "the body arrived too soon"
        assert lease_owner(home, rid) == process_owner(), "lease released mid-GET"
        wait_for(lambda: job.status == "done", "the answer", 10)
        wait_for(lambda: lease_owner(home, rid) is None, "the lease to be released", 5)
        assert emulator.gets_after_delivery(rid) == 0
    finally:
        runtime.close()


def test_request_timeout_bounds_the_whole_get_not_each_read(
    env: dict[str, str], emulator: Emulator, home: Path
) -> None:
    emulator.latency = 0.0
    emulator.configure({"deliver_seconds": 4.0})  # every piece arrives well within 1 s
    runtime = runtime_for(home, request_timeout=1.0)
    try:
        job, _card = runtime.defer("trickles for four seconds", RequestOptions(model="grok-3"),
                                   display=False)
        submitted(job)
        rid = job.request_id or ""
        wait_for(lambda: emulator.delivered_count(rid) == 1, "the 200 to start", 10)
        started = time.monotonic()
        wait_for(lambda: job.done, "the job to end", 10)
        assert time.monotonic() - started < 3.0, "the GET ran past its 1 s deadline"
        assert job.status == "failed"
        assert "never arrived" in (job.error or ""), job.error
    finally:
        runtime.close()


def test_answer_lost_after_delivery_is_named_lost_not_pending_or_a_404(
    env: dict[str, str], emulator: Emulator, home: Path
) -> None:
    emulator.latency = 0.0
    emulator.configure({"lose_after_delivery": True})
    runtime = runtime_for(home)
    try:
        job, _card = runtime.defer("lost on the way", RequestOptions(model="grok-3"), display=False)
        submitted(job)
        rid = job.request_id or ""
        wait_for(lambda: job.done, "the job to end", 10)
        assert job.status == "failed", job.status
        error = job.error or ""
        assert "handed the answer out but it never arrived" in error, error
        assert "cannot be fetched again" in error and "404" not in error, error
        assert "\n" not in error and len(error) <= 300
        row = runtime.journal.get(rid)
        assert row is not None and row.status == "failed" and row.error == error
        assert emulator.delivered_count(rid) == 1
        assert emulator.gets_after_delivery(rid) == 0, "asked again for an answer already gone"
    finally:
        runtime.close()


def test_the_card_counts_the_final_poll_before_it_shows_done(
    env: dict[str, str], emulator: Emulator, home: Path
) -> None:
    from xai_defer_magic.views.card import JobCard

    emulator.latency = 0.5
    runtime = runtime_for(home)
    try:
        job, _card = runtime.defer("count my polls", RequestOptions(model="grok-3"), display=False)
        submitted(job)
        seen: list[tuple[str, int]] = []
        job.add_listener(lambda j: seen.append((j.status, j.polls)))
        card = JobCard(job)
        wait_for(lambda: job.done, "the job to end", 10)
        # The card hears of it through its listener, right after done is set: wait for it.
        wait_for(lambda: "xdm-status-done" in card._header.value, "the card to show done", 10)
        assert job.status == "done" and job.polls >= 2
        assert ("done", job.polls) in seen, seen
        assert f">{job.polls} polls<" in card._header.value, card._header.value
        assert runtime.journal.get(job.request_id or "").polls == job.polls
    finally:
        runtime.close()
