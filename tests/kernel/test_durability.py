"""Nothing paid for is lost: kill -9, shared journals, broken homes, old and half-written rows.

Every scenario runs real ipykernels (``tests/kernels.py``) against the emulator over loopback,
and checks the emulator's per-id counters: each result is fetched (200) exactly once and never
asked for again afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import FAKE_KEY
from tests.support.kernels import Execution, Kernel, all_submitted, request_id_of
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal import DB_NAME, JobRecord, Journal

pytestmark = pytest.mark.kernel

LOAD = "%load_ext xai_defer_magic"
FAST = "%config GrokDefer.first_poll = 0.5"
STATUS_BY_ID = (
    "import json, xai_defer_magic\n"
    "print(json.dumps({j.request_id: j.status for j in xai_defer_magic.jobs()}))"
)
DIGEST_BY_ID = (
    "import hashlib, json, xai_defer_magic\n"
    "print(json.dumps({j.request_id: [j.status, hashlib.sha256((j.content or '').encode())"
    ".hexdigest()] for j in xai_defer_magic.jobs()}))"
)
DAY = 24 * 3600.0

StartKernel = Callable[..., Kernel]


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture
def start_kernel(env: dict[str, str], tmp_path: Path) -> Iterator[StartKernel]:
    """Start kernels on the shared test environment; every one is stopped at the end."""
    started: list[Kernel] = []

    def start(load: bool = True, **overrides: str) -> Kernel:
        kernel = Kernel({**env, **overrides}, cwd=str(tmp_path))
        started.append(kernel)
        if load:
            kernel.run(LOAD)
        return kernel

    yield start
    for kernel in started:
        kernel.stop()


def run_json(kernel: Kernel, code: str) -> Any:
    """Run ``code`` (which prints one JSON value) and return the value."""
    return json.loads(kernel.run(code).text().strip())


def markdowns(execution: Execution) -> list[str]:
    # Outputs a frontend keeps: an update_display_data (a card turning into plain data) adds none.
    return [o["content"]["data"]["text/markdown"] for o in execution.outputs
            if o["msg_type"] != "update_display_data"
            and "text/markdown" in o["content"].get("data", {})]


def answer_for(execution: Execution, request_id: str) -> str:
    """The one text/markdown output of ``execution`` that shows ``request_id``."""
    found = [m for m in markdowns(execution) if request_id in m]
    assert len(found) == 1, f"{request_id}: {len(found)} markdown outputs in {execution.outputs}"
    return found[0]


def assert_answer(markdown: str, prompt: str) -> None:
    """The emulator's answer to ``prompt``: its marker line and its heading quoting the prompt."""
    assert "Emulated answer" in markdown, markdown
    assert f"Re: “{prompt}”" in markdown, markdown
    assert " · done" in markdown.splitlines()[0], markdown


def prompts_by_id(emulator: Emulator) -> dict[str, str]:
    """Request id -> user prompt, from the deferred POSTs the emulator answered."""
    found = {}
    for record in emulator.requests():
        if record.method == "POST" and record.request_id and isinstance(record.body, dict):
            found[record.request_id] = record.body["messages"][-1]["content"]
    return found


def assert_fetched_once(emulator: Emulator, ids: list[str]) -> None:
    counts = {r: (emulator.delivered_count(r), emulator.gets_after_delivery(r)) for r in ids}
    assert counts == {rid: (1, 0) for rid in ids}, counts


def submit_cells(kernel: Kernel, prompts: list[str]) -> None:
    """One ``%%grok_defer`` cell per prompt, queued like "Run All"; each returns at once."""
    cells = [kernel.submit(f"%%grok_defer -o job{i}\n{p}") for i, p in enumerate(prompts)]
    for cell in cells:
        kernel.wait(cell, 30)
        assert cell.status == "ok", cell.outputs
    all_submitted(kernel)  # the POSTs run in the background: every id known from here on


def submit_direct(emulator: Emulator, prompt: str) -> tuple[str, dict[str, Any]]:
    """A deferred request made over HTTP as an earlier (now gone) kernel would have made it."""
    body = {"model": "grok-4", "deferred": True,
            "messages": [{"role": "user", "content": prompt}]}
    reply = httpx.post(f"{emulator.base_url}/chat/completions", json=body,
                       headers={"Authorization": f"Bearer {FAKE_KEY}"}, timeout=10)
    reply.raise_for_status()
    return reply.json()["request_id"], body


def fetch_direct(emulator: Emulator, request_id: str) -> str:
    """Take the one-time 200 body for ``request_id`` (as a kernel about to crash would)."""
    emulator.complete(request_id)
    reply = httpx.get(f"{emulator.base_url}/chat/deferred-completion/{request_id}",
                      headers={"Authorization": f"Bearer {FAKE_KEY}"}, timeout=10)
    assert reply.status_code == 200, reply.text
    return reply.text


def journal_record(emulator: Emulator, request_id: str, body: dict[str, Any],
                   created_at: float) -> JobRecord:
    return JobRecord(request_id=request_id, created_at=created_at, model=body["model"],
                     request=body, base_url=emulator.base_url, status="pending")


def leases(home: Path) -> dict[str, tuple[str | None, float | None]]:
    """Who may GET each id, and until when (internal lease columns, read directly)."""
    with contextlib.closing(sqlite3.connect(home / DB_NAME, timeout=5)) as conn:
        rows = conn.execute("SELECT request_id, lease_owner, lease_until FROM jobs").fetchall()
    return {rid: (owner, until) for rid, owner, until in rows}


def with_journal(home: Path, action: Callable[[Journal], Any]) -> Any:
    """Open the journal the kernels share, run ``action`` on it, close it again."""
    journal = Journal(home)
    try:
        assert journal.path is not None, journal.problem
        return action(journal)
    finally:
        journal.close()


# --- 1. kill -9 with ten jobs pending ----------------------------------------------------------


def test_kill_9_with_ten_pending_jobs_next_kernel_shows_every_answer_once(
    start_kernel: StartKernel, emulator: Emulator, home: Path
) -> None:
    emulator.latency = (4.0, 6.0)
    first = start_kernel()
    first.run(FAST)
    prompts = [f"Durable prompt number {i}" for i in range(10)]
    submit_cells(first, prompts)
    by_id = prompts_by_id(emulator)
    ids = list(by_id)
    assert sorted(by_id.values()) == sorted(prompts)
    # The dying kernel has polled every job (so it holds their leases) but fetched none.
    first.pump_until(lambda: all(emulator.get_count(r) >= 1 for r in ids), 20, "first polls")
    assert [emulator.delivered_count(r) for r in ids] == [0] * 10, "a job finished too early"

    first.kill()
    held = leases(home)
    dead_owner = f"{socket.gethostname()}:{first.km.provisioner.pid}"  # type: ignore[union-attr]
    assert {owner for owner, _until in held.values()} == {dead_owner}
    lease_end = min(until or 0.0 for _owner, until in held.values())

    second = start_kernel()  # same XAI_DEFER_HOME: %load_ext resumes the ten jobs
    waited = second.run("%grok_wait", 90)
    assert time.time() < lease_end, "the dead kernel's leases were waited out, not taken over"

    assert len(markdowns(waited)) == 10, waited.outputs
    for rid, prompt in by_id.items():
        assert_answer(answer_for(waited, rid), prompt)
    assert "Traceback" not in waited.text()
    assert_fetched_once(emulator, ids)
    assert run_json(second, STATUS_BY_ID) == {rid: "done" for rid in ids}


# --- 2. two live kernels on one journal --------------------------------------------------------


def test_two_kernels_on_one_journal_fetch_each_result_once_and_both_show_it(
    start_kernel: StartKernel, emulator: Emulator
) -> None:
    emulator.latency = (4.0, 6.0)
    first = start_kernel()
    first.run(FAST)
    second = start_kernel(load=False)  # started now so that loading later takes no time
    prompts = [f"Shared prompt number {i}" for i in range(8)]
    submit_cells(first, prompts)
    by_id = prompts_by_id(emulator)
    ids = list(by_id)

    second.run(LOAD)  # resume_on_load: it starts polling the same eight jobs
    polling = run_json(second, (
        "import json, time\n"
        "from xai_defer_magic.runtime.runtime import get_runtime\nrt = get_runtime()\n"
        "end = time.monotonic() + 10\n"
        "while rt.poller.active_count < 8 and time.monotonic() < end: time.sleep(0.05)\n"
        "print(json.dumps([sorted(j.request_id for j in rt.pending()), rt.poller.active_count]))"
    ))
    assert polling == [sorted(ids), 8], "the second kernel did not take up the pending jobs"
    assert all(emulator.delivered_count(r) == 0 for r in ids), "a job finished too early"

    waits = [first.submit("%grok_wait"), second.submit("%grok_wait")]
    for kernel, waited in zip((first, second), waits, strict=True):
        kernel.wait(waited, 90)
        assert waited.status == "ok", waited.outputs
        assert len(markdowns(waited)) == 8, waited.outputs
        for rid, prompt in by_id.items():
            assert_answer(answer_for(waited, rid), prompt)

    assert_fetched_once(emulator, ids)
    seen_first, seen_second = run_json(first, DIGEST_BY_ID), run_json(second, DIGEST_BY_ID)
    assert seen_first == seen_second
    assert {rid: status for rid, (status, _digest) in seen_first.items()} == dict.fromkeys(
        ids, "done"
    )

    # A job only the first kernel knows and fetches; the second shows it from the journal.
    emulator.latency = 0.5
    first.run("%%grok_defer --wait -o extra\nOnly the first kernel fetches this", 60)
    extra = first.run("print(extra.request_id)").text().strip()
    requests_before = len(emulator.requests())
    shown = second.run(f"%grok_result {extra}")
    assert_answer(answer_for(shown, extra), "Only the first kernel fetches this")
    assert len(emulator.requests()) == requests_before, "%grok_result made a request"
    assert_fetched_once(emulator, [extra])


# --- 3. a journal directory that cannot exist ---------------------------------------------------


def test_broken_journal_home_warns_once_and_jobs_still_complete(
    start_kernel: StartKernel, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.latency = 1.5
    blocker = tmp_path / "afile"
    blocker.write_text("a regular file where a directory should be\n")
    kernel = start_kernel(load=False, XAI_DEFER_HOME=str(blocker / "sub"))

    loaded = kernel.run(LOAD)
    assert not loaded.text().strip(), "the journal opens on first use, not at load"
    kernel.run(FAST)
    first = kernel.run("%%grok_defer -o job\nStill works without a journal")
    lines = [line for line in first.text().splitlines() if line.strip()]
    warnings = [line for line in lines if "Journal disabled" in line]
    assert len(warnings) == 1 and str(blocker / "sub") in warnings[0], first.outputs
    assert "Traceback" not in first.text()
    waited = kernel.run("%grok_wait", 60)
    rid = kernel.run("print(job.request_id)").text().strip()
    assert_answer(answer_for(waited, rid), "Still works without a journal")
    assert "Journal disabled" not in waited.text(), "the warning came back"
    assert kernel.run("print(job.status, 6 * 7)").text().split() == ["done", "42"]
    assert kernel.km.is_alive()
    assert_fetched_once(emulator, [rid])
    assert not (blocker / "sub").exists()


# --- 4. a journaled job older than 24 h -----------------------------------------------------------


def test_job_older_than_24_hours_is_expired_on_load_without_any_request(
    start_kernel: StartKernel, emulator: Emulator, home: Path
) -> None:
    emulator.latency = 1.5
    stale = str(uuid.uuid4())
    stale_body = {"model": "grok-4", "deferred": True,
                  "messages": [{"role": "user", "content": "Asked the day before yesterday"}]}
    control, control_body = submit_direct(emulator, "A control job from the same journal")

    def left_by_an_earlier_kernel(journal: Journal) -> None:
        journal.add(journal_record(emulator, stale, stale_body, time.time() - 25 * 3600))
        journal.add(journal_record(emulator, control, control_body, time.time()))

    with_journal(home, left_by_an_earlier_kernel)

    kernel = start_kernel()
    waited = kernel.run("%grok_wait", 60)  # waits for the control job only
    assert len(markdowns(waited)) == 1
    assert_answer(answer_for(waited, control), "A control job from the same journal")
    assert run_json(kernel, STATUS_BY_ID) == {stale: "expired", control: "done"}

    assert emulator.get_count(stale) == 0
    assert [r for r in emulator.requests() if stale in r.path or r.request_id == stale] == []
    row = with_journal(home, lambda j: j.get(stale))
    assert row.status == "expired" and "24 h" in (row.error or "")
    shown = kernel.run(f"%grok_result {stale}")
    assert "expired" in answer_for(shown, stale)
    assert_fetched_once(emulator, [control])


# --- 5. a 200 body journaled, its status never finalised -----------------------------------------


def test_stored_body_without_final_status_is_done_on_load_without_a_get(
    start_kernel: StartKernel, emulator: Emulator, home: Path
) -> None:
    emulator.latency = 1.5
    crashed, crashed_body = submit_direct(emulator, "Fetched just before the crash")
    text = fetch_direct(emulator, crashed)
    control, control_body = submit_direct(emulator, "Still pending at the crash")

    def crash_between_store_and_status(journal: Journal) -> list[str]:
        journal.add(journal_record(emulator, crashed, crashed_body, time.time() - 60))
        journal.store_response(crashed, text, time.time())
        journal.add(journal_record(emulator, control, control_body, time.time()))
        return [r.request_id for r in journal.unparsed()]

    assert with_journal(home, crash_between_store_and_status) == [crashed]
    gets_before = emulator.get_count(crashed)

    kernel = start_kernel()
    assert run_json(kernel, STATUS_BY_ID)[crashed] == "done"
    waited = kernel.run("%grok_wait", 60)  # the control job keeps the poller busy meanwhile
    assert_answer(answer_for(waited, control), "Still pending at the crash")
    shown = kernel.run(f"%grok_result {crashed}")
    assert_answer(answer_for(shown, crashed), "Fetched just before the crash")

    row = with_journal(home, lambda j: j.get(crashed))
    assert row.status == "done" and row.finished_at is not None and row.response_text == text
    assert with_journal(home, lambda j: j.unparsed()) == []
    assert emulator.get_count(crashed) == gets_before
    assert emulator.gets_after_delivery(crashed) == 0
    assert_fetched_once(emulator, [control])


# --- 6. %grok_result long after, in a fresh kernel ---------------------------------------------


def test_grok_result_in_a_fresh_kernel_days_later_reads_the_journal_only(
    start_kernel: StartKernel, emulator: Emulator, home: Path
) -> None:
    emulator.latency = 1.5
    first = start_kernel()
    first.run(FAST)
    first.run("%%grok_defer --wait -o job\nRemember this answer for later", 60)
    rid = first.run("print(job.request_id)").text().strip()
    first.stop()

    def three_days_older(journal: Journal) -> None:
        record = journal.get(rid)
        assert record is not None and record.status == "done" and record.finished_at
        record.created_at -= 3 * DAY
        record.finished_at -= 3 * DAY
        journal.add(record)

    with_journal(home, three_days_older)
    requests_before = len(emulator.requests())

    second = start_kernel()
    shown = second.run(f"%grok_result {rid[:8]}")
    assert_answer(answer_for(shown, rid), "Remember this answer for later")
    digest = hashlib.sha256(answer_for(shown, rid).encode()).hexdigest()
    again = second.run(f"%grok_result {rid}")
    assert hashlib.sha256(answer_for(again, rid).encode()).hexdigest() == digest
    assert run_json(second, STATUS_BY_ID) == {rid: "done"}
    assert len(emulator.requests()) == requests_before, "showing an old result made a request"
    assert_fetched_once(emulator, [rid])


# --- 7. shutdown and restart while the 200 is on the wire ----------------------------------


def start_slow_delivery(kernel: Kernel, emulator: Emulator, prompt: str,
                        seconds: float = 2.0) -> str:
    """Submit a job whose 200 trickles out over ``seconds``; return once the server has handed
    it out (marked delivered: a second GET would be a 404) and the client is still reading."""
    emulator.configure({"latency": 0.0, "deliver_seconds": seconds})
    kernel.run(f"%%grok_defer -o job\n{prompt}")
    rid = request_id_of(kernel)
    kernel.pump_until(lambda: emulator.delivered_count(rid) == 1, 20, "the 200 to start")
    return rid


def test_shutdown_and_restart_mid_delivery_keep_the_answer_fetched_once(
    start_kernel: StartKernel, emulator: Emulator, home: Path
) -> None:
    first = start_kernel()
    first.run(FAST)
    shut = start_slow_delivery(first, emulator, "Delivered while the kernel shuts down")
    took = first.shutdown()
    assert took < 5.0, f"shutdown waited {took:.1f} s: past jupyter_client's grace"
    assert with_journal(home, lambda j: j.get(shut)).response_text, "answer lost at shutdown"

    second = start_kernel()
    second.run(FAST)
    shown = second.run(f"%grok_result {shut}")
    assert_answer(answer_for(shown, shut), "Delivered while the kernel shuts down")

    restarted = start_slow_delivery(second, emulator, "Delivered while the kernel restarts")
    took = second.restart()
    assert took < 5.0, f"restart waited {took:.1f} s: past jupyter_client's grace"
    second.run(LOAD)
    assert run_json(second, STATUS_BY_ID) == {shut: "done", restarted: "done"}
    shown = second.run(f"%grok_result {restarted}")
    assert_answer(answer_for(shown, restarted), "Delivered while the kernel restarts")
    assert_fetched_once(emulator, [shut, restarted])

    # Honest about the bound: a body still arriving when the 3 s are up is lost, and says so.
    cut = start_slow_delivery(second, emulator, "Still arriving when time is up", seconds=8.0)
    took = second.shutdown()
    assert took < 5.0, f"shutdown waited {took:.1f} s: past jupyter_client's grace"
    row = with_journal(home, lambda j: j.get(cut))
    assert row.status == "failed" and row.response_text is None, row
    assert "handed the answer out but it never arrived" in (row.error or ""), row.error
