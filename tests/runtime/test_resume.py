"""Which jobs a new kernel resumes, and cancel/resume in quick succession."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.jobs import submit_directly
from tests.support.shell import submitted
from xai_defer_magic.core.options import RequestOptions
from xai_defer_magic.core.schedule import PollSchedule, PollSettings
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal import Journal
from xai_defer_magic.runtime.runtime import Runtime
from xai_defer_magic.runtime.settings import Settings

FAST = PollSettings(schedule=PollSchedule(first=0.1, growth=0.1, cap=0.5))


def test_only_jobs_of_the_current_server_are_resumed(
    env: dict[str, str], emulator: Emulator, home: Path
) -> None:
    emulator.latency = 0.3
    with Emulator(latency=0.3) as other:
        here, there = submit_directly(emulator, "here"), submit_directly(other, "there")
        journal = Journal(home)
        journal.add(here)
        journal.add(there)
        journal.close()

        runtime = Runtime(Settings(home=str(home), poll=FAST))
        try:
            resumed = runtime.resume_unfinished()
            assert [j.request_id for j in resumed] == [here.request_id]
            left = runtime.get(there.request_id)
            assert left is not None and left.status == "pending"
            assert left.note and f"XAI_BASE_URL={other.base_url}" in left.note
            assert runtime.pending() == resumed, "%grok_wait alone must not wait for it"
            assert not runtime.ensure_polling(left)  # what %grok_wait ID asks: refused
            left.resume()  # and a handle's resume(): refused too
            assert resumed[0].result(timeout=20)  # the poller ran meanwhile (positive control)
            assert emulator.delivered_count(here.request_id) == 1
            assert other.requests()[-1].method == "POST", "this server's key went to the other"
            assert other.get_count(there.request_id) == 0
        finally:
            runtime.close()


def test_resume_right_after_cancel_polls_again(env: dict[str, str], emulator: Emulator,
                                              home: Path) -> None:
    emulator.latency = 1.0
    runtime = Runtime(Settings(home=str(home), poll=FAST))
    try:
        job, _card = runtime.defer("cancel me", RequestOptions(model="grok-3"), display=False)
        submitted(job)
        time.sleep(0.3)
        job.cancel()
        job.resume()  # before the cancelled task has even finished
        assert job.result(timeout=20)
        assert emulator.delivered_count(job.request_id or "") == 1
    finally:
        runtime.close()


def defer_with_get_in_flight(runtime: Runtime, emulator: Emulator, prompt: str) -> str:
    """Submit a job whose answer is ready, and return once its 200 (trickling out over 1 s) is
    on the wire: the server has handed the answer out, the client has not read it yet."""
    emulator.latency = 0.0
    emulator.configure({"deliver_seconds": 1.0})
    job, _card = runtime.defer(prompt, RequestOptions(model="grok-3"), display=False)
    submitted(job)
    rid = job.request_id or ""
    deadline = time.monotonic() + 10
    while emulator.delivered_count(rid) == 0:
        assert time.monotonic() < deadline, "no 200 was sent"
        time.sleep(0.02)
    assert runtime.journal.get(rid).response_text is None, "the body arrived too soon"
    return rid


def test_cancel_during_a_get_keeps_the_answer_it_fetches(
    env: dict[str, str], emulator: Emulator, home: Path
) -> None:
    runtime = Runtime(Settings(home=str(home), poll=FAST))
    try:
        rid = defer_with_get_in_flight(runtime, emulator, "cut me off")
        job = runtime.get(rid)
        assert job is not None
        job.cancel()
        assert job.status == "cancelled"
        deadline = time.monotonic() + 10
        while job.status != "done":
            assert time.monotonic() < deadline, "the fetched answer was dropped"
            time.sleep(0.05)
        assert emulator.delivered_count(rid) == 1 and job.content
        stored = runtime.journal.get(rid)
        assert stored is not None and stored.response_text
    finally:
        runtime.close()


def test_closing_during_a_get_journals_the_answer(
    env: dict[str, str], emulator: Emulator, home: Path
) -> None:
    runtime = Runtime(Settings(home=str(home), poll=FAST))
    rid = defer_with_get_in_flight(runtime, emulator, "unload now")
    runtime.close()  # %unload_ext or kernel shutdown while the answer is in flight
    assert emulator.delivered_count(rid) == 1
    stored = Journal(home).get(rid)
    assert stored is not None and stored.response_text, "the only copy of the answer was lost"
