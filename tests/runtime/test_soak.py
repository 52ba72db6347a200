"""Fault soak: 200 jobs through the real Runtime and Poller against a faulty emulator.

The emulator injects ~20% faults on GETs (5xx with JSON or HTML bodies, dropped connections,
429 bursts with ``Retry-After``). POSTs get only 429 bursts, the one submit fault that is safe
to retry: a dropped or 5xx POST may or may not have created a job, so those stay off here.
The invariants are the product's promises: every job ends ``done``, every result is fetched
exactly once and never asked for again, the card's poll count is the server's GET count, and
no more than ``max_in_flight`` requests are ever in flight.

Then the final classes: a bad key, a billing stop (429 and 403), a 404 on poll. Each costs
exactly one request and leaves the job ``failed`` with one clear line.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.shell import submitted
from xai_defer_magic.core.job import Job
from xai_defer_magic.core.options import RequestOptions
from xai_defer_magic.core.schedule import PollSchedule, PollSettings
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.errors import GrokDeferError
from xai_defer_magic.journal import JobRecord
from xai_defer_magic.runtime.runtime import Runtime
from xai_defer_magic.runtime.settings import Settings

JOBS = 200
MAX_IN_FLIGHT = 4
HANG_BOUND = 120.0  # only bounds a hang; the soak takes a fraction of this


class CountingEmulator(Emulator):
    """The real emulator, also counting API requests being handled at the same moment.

    The server handles a request strictly inside the client's request (after the request
    arrived, before the answer leaves), so this peak is a lower bound of the client's own
    in-flight count: if it ever exceeds ``max_in_flight`` the client broke its limit.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._active_lock = threading.Lock()
        self._active_requests = 0
        self.peak_requests = 0

    def handle(self, method: str, target: str, auth: str | None, raw: bytes) -> Any:
        if target.startswith("/_emulator/"):
            return super().handle(method, target, auth, raw)
        with self._active_lock:
            self._active_requests += 1
            self.peak_requests = max(self.peak_requests, self._active_requests)
        try:
            return super().handle(method, target, auth, raw)
        finally:
            with self._active_lock:
                self._active_requests -= 1


def fast_settings(home: Path, first: float = 0.2, transient: int = 50) -> Settings:
    schedule = PollSchedule(first=first, growth=0.1, cap=2.0)
    poll = PollSettings(
        schedule=schedule, max_in_flight=MAX_IN_FLIGHT, request_timeout=20.0,
        max_transient_failures=transient,
        max_polls_per_second=0,  # the soak is about faults, not pacing: let it run flat out
    )
    return Settings(home=str(home), poll=poll)


@pytest.fixture
def counting_emulator(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[
    CountingEmulator
]:
    emu = CountingEmulator(latency=(1.0, 3.0), seed=7)
    emu.start()
    try:
        monkeypatch.setenv("XAI_BASE_URL", emu.base_url)
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def runtime(env: dict[str, str], home: Path) -> Iterator[Runtime]:
    rt = Runtime(fast_settings(home))
    try:
        yield rt
    finally:
        rt.close()


def wait_all(jobs: list[Job], bound: float = HANG_BOUND) -> None:
    """Block until every job is finished (any outcome); fail only on a hang."""
    deadline = time.monotonic() + bound
    for job in jobs:
        try:
            job.result(max(0.0, deadline - time.monotonic()))
        except GrokDeferError:
            pass
    hanging = [j for j in jobs if not j.done]
    assert not hanging, f"{len(hanging)} jobs still running after {bound} s: {hanging[:3]}"


def test_soak_200_jobs_through_faults(
    counting_emulator: CountingEmulator, env: dict[str, str], home: Path
) -> None:
    emu = counting_emulator
    # Phase 1, submits: only 429 bursts on POST (retried; no job is created by a 429).
    emu.configure({"faults_apply_to": "post", "burst_429_every": 4, "burst_429_length": 2,
                   "retry_after": 0.05, "seed": 11})
    rt = Runtime(fast_settings(home))
    try:
        started = time.monotonic()
        jobs = []
        for i in range(JOBS):
            if i == 20:  # Phase 2: GET faults from here on, while most jobs are pending.
                submitted(*jobs)  # phase 1's POSTs run in the background: let them land first
                emu.configure({
                    "faults_apply_to": "get", "error_5xx_rate": 0.1, "drop_rate": 0.06,
                    "burst_429_every": 40, "burst_429_length": 3, "retry_after": 0.3,
                    "slow_rate": 0.1, "slow_seconds": 0.5,
                })
            job, _card = rt.defer(f"Soak job {i}: name a prime.",
                                  RequestOptions(model="grok-3-mini"), display=False)
            jobs.append(job)
        all_deferred = time.monotonic() - started
        wait_all(jobs)
        took = time.monotonic() - started
        assert_soak_invariants(emu, rt, jobs)
    finally:
        rt.close()
    stats = emu.stats()
    print(f"\nsoak: {JOBS} jobs deferred in {all_deferred:.1f} s, all done in {took:.1f} s; "
          f"{stats['by_method_status']}; peak requests {emu.peak_requests}, "
          f"peak connections {stats['max_concurrent_connections']}")


def assert_soak_invariants(emu: CountingEmulator, rt: Runtime, jobs: list[Job]) -> None:
    failed = [(j.request_id, j.error) for j in jobs if j.status != "done"]
    assert not failed, f"{len(failed)} jobs not done: {failed[:5]}"
    ids = [j.request_id or "" for j in jobs]
    assert len(set(ids)) == JOBS and sorted(ids) == sorted(emu.job_ids()), "duplicate submits"
    for job in jobs:
        rid = job.request_id or ""
        assert job.content and "Emulated" in job.content
        assert emu.delivered_count(rid) == 1, (rid, emu.id_counts()[rid])
        assert emu.gets_after_delivery(rid) == 0, (rid, emu.id_counts()[rid])
        assert job.polls == emu.get_count(rid), (rid, job.polls, emu.get_count(rid))
        record = rt.journal.get(rid)
        assert record is not None and record.status == "done" and record.response_text
    stats = emu.stats()
    by_status = stats["by_method_status"]
    get_faults = sum(n for k, n in by_status.items() if k.startswith("GET ")
                     and k not in ("GET 200", "GET 202"))
    get_total = stats["by_method"]["GET"]
    assert by_status.get("POST 429", 0) >= 8 and by_status["POST 200"] == JOBS, by_status
    assert by_status.get("GET 0", 0) > 0 and by_status.get("GET 429", 0) > 0, by_status
    assert sum(by_status.get(f"GET {s}", 0) for s in (500, 502, 503)) > 0, by_status
    assert get_faults / get_total >= 0.10, f"only {get_faults}/{get_total} GETs were faults"
    assert by_status.get("GET 404", 0) == 0, by_status
    assert 2 <= emu.peak_requests <= MAX_IN_FLIGHT, emu.peak_requests
    assert_retry_after_honoured(emu, 0.3)
    # Open sockets as the server counts them: the client's pool allows max_in_flight + 2.
    assert stats["max_concurrent_connections"] <= MAX_IN_FLIGHT + 2, stats


def assert_retry_after_honoured(emu: Emulator, retry_after: float) -> None:
    """After a GET 429 with Retry-After, that id's next GET comes no sooner than asked.

    Both times are the server's answer times, so the gap includes the client's whole sleep:
    a loaded machine can only make it longer.
    """
    last_429: dict[str, float] = {}
    checked = 0
    for record in emu.requests():
        if record.method != "GET" or record.request_id is None:
            continue
        rid = record.request_id
        if rid in last_429:
            gap = record.t - last_429.pop(rid)
            assert gap >= retry_after - 0.01, f"{rid}: next GET {gap:.3f} s after a 429"
            checked += 1
        if record.status == 429:
            last_429[rid] = record.t
    assert checked > 0


# --- final classes: one request, then stop ----------------------------------------------------


def requests_for(emu: Emulator) -> list[tuple[str, int]]:
    return [(r.method, r.status) for r in emu.requests()]


def settle(rt: Runtime, job: Job) -> None:
    """Wait for the job to end and its polling task to be gone (so no later request can come)."""
    wait_all([job], 30.0)
    deadline = time.monotonic() + 10
    while rt.poller.active_count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rt.poller.active_count == 0


def assert_failed_one_line(job: Job, *words: str) -> None:
    assert job.status == "failed", (job.status, job.error)
    assert job.error and "\n" not in job.error and len(job.error) <= 400, job.error
    for word in words:
        assert word.lower() in job.error.lower(), job.error


def test_bad_key_costs_one_post(emulator: Emulator, runtime: Runtime) -> None:
    emulator.api_key = "server-expects-this-other-key-0000"
    job, _ = runtime.defer("hello", display=False)
    settle(runtime, job)
    assert_failed_one_line(job, "api key", "400")
    assert requests_for(emulator) == [("POST", 400)]
    assert job.request_id is None and runtime.journal.all() == []


@pytest.mark.parametrize("status", [429, 403])
def test_billing_stop_on_submit_costs_one_post(
    emulator: Emulator, runtime: Runtime, status: int
) -> None:
    emulator.configure({"billing_exhausted": True, "billing_status": status})
    job, _ = runtime.defer("hello", display=False)
    settle(runtime, job)
    assert_failed_one_line(job, "billing", str(status), "not retried")
    assert requests_for(emulator) == [("POST", status)]


@pytest.mark.parametrize("status", [429, 403])
def test_billing_stop_on_poll_costs_one_get(
    emulator: Emulator, runtime: Runtime, status: int
) -> None:
    emulator.configure({"billing_exhausted": True, "billing_status": status,
                        "faults_apply_to": "get"})
    job, _ = runtime.defer("hello", display=False)
    settle(runtime, job)
    assert_failed_one_line(job, "billing", str(status))
    assert requests_for(emulator) == [("POST", 200), ("GET", status)]
    record = runtime.journal.get(job.request_id or "")
    assert record is not None and record.status == "failed" and record.error == job.error


def test_expired_result_404_costs_one_get(emulator: Emulator, runtime: Runtime) -> None:
    emulator.ttl = 0.01  # every job is older than the TTL by its first poll
    job, _ = runtime.defer("hello", display=False)
    settle(runtime, job)
    assert_failed_one_line(job, "404")
    assert requests_for(emulator) == [("POST", 200), ("GET", 404)]
    assert emulator.get_count(job.request_id or "") == 1


def test_unknown_id_from_journal_404_costs_one_get(
    emulator: Emulator, runtime: Runtime
) -> None:
    rid = str(uuid.uuid4())  # never issued by this emulator
    runtime.journal.add(JobRecord(
        request_id=rid, created_at=time.time() - 60, model="grok-4",
        request={"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]},
        base_url=emulator.base_url, status="pending", owner="elsewhere:1",
    ))
    resumed = runtime.resume_unfinished()
    assert [j.request_id for j in resumed] == [rid]
    settle(runtime, resumed[0])
    assert_failed_one_line(resumed[0], "404")
    assert requests_for(emulator) == [("GET", 404)]
    record = runtime.journal.get(rid)
    assert record is not None and record.status == "failed"
