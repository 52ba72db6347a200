"""Submitting: retries that cannot hang a cell, honest timeouts, ids that are only tokens,
and a key that goes only to the server it belongs to."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.jobs import submit_directly
from tests.support.shell import submitted, wait_for
from xai_defer_magic.core.options import RequestOptions
from xai_defer_magic.core.schedule import PollSchedule, PollSettings
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.emulator.server import CHAT_PATH, DEFERRED_PREFIX
from xai_defer_magic.journal import Journal
from xai_defer_magic.runtime.runtime import Runtime
from xai_defer_magic.runtime.settings import Settings

FAST = PollSchedule(first=0.1, growth=0.1, cap=0.5)


def defer_within(runtime: Runtime, seconds: float, prompt: str) -> Any:
    """``runtime.defer``, then the POST's outcome; fails the test (instead of hanging it) when
    the job is still ``submitting`` after ``seconds``. Returns the job and that time."""
    started = time.monotonic()
    job = runtime.defer(prompt, RequestOptions(model="grok-3"), display=False)[0]
    assert time.monotonic() - started < 1.0, "defer() waited for the network"
    submitted(job, timeout=seconds)
    return job, time.monotonic() - started


def test_a_long_retry_after_on_submit_fails_at_once_instead_of_hanging_the_cell(
    env: dict[str, str], emulator: Emulator, home: Path
) -> None:
    emulator.configure({"faults_apply_to": "post", "burst_429_every": 1,
                        "burst_429_length": 1, "retry_after": 60})
    runtime = Runtime(Settings(home=str(home), poll=PollSettings(schedule=FAST)))
    try:
        job, took = defer_within(runtime, 12, "rate limited")
        assert job.status == "failed" and "429" in (job.error or ""), job.error
        assert took < 10.5
        posts = [r for r in emulator.requests() if r.method == "POST"]
        assert len(posts) == 1, "waited out a 60 s Retry-After"
    finally:
        runtime.close()


def test_a_short_retry_after_on_submit_is_honoured(
    env: dict[str, str], emulator: Emulator, home: Path
) -> None:
    emulator.latency = 0.2
    emulator.configure({"faults_apply_to": "post", "burst_429_every": 2,
                        "burst_429_length": 1, "retry_after": 0.3})
    emulator._fault_requests = 1  # the next POST is the 2nd: limited; its retry is not
    runtime = Runtime(Settings(home=str(home), poll=PollSettings(schedule=FAST)))
    try:
        job, _took = defer_within(runtime, 12, "limited once")
        assert job.result(timeout=10)
    finally:
        runtime.close()


def test_a_post_that_timed_out_reading_says_the_job_may_exist(
    env: dict[str, str], emulator: Emulator, home: Path
) -> None:
    emulator.configure({"faults_apply_to": "post", "slow_rate": 1.0, "slow_seconds": 2.0})
    settings = PollSettings(schedule=FAST, request_timeout=0.5)
    runtime = Runtime(Settings(home=str(home), poll=settings))
    try:
        job, _took = defer_within(runtime, 10, "slow to answer")
        assert job.status == "failed"
        assert "may have been created; check the xAI console" in (job.error or ""), job.error
        rows = runtime.journal.all()
        assert [r.status for r in rows] == ["failed"], "the intent row must stay, as failed"
    finally:
        runtime.close()


@pytest.mark.parametrize("hostile", ["../../api-key", "abc/def", "a?b=1", "a#b", "a b", "..",
                                     "%2e%2e"])
def test_a_request_id_that_is_not_a_plain_token_is_refused(
    env: dict[str, str], emulator: Emulator, home: Path, hostile: str
) -> None:
    emulator.latency = 0.0
    emulator.configure({"request_id": hostile})
    runtime = Runtime(Settings(home=str(home), poll=PollSettings(schedule=FAST)))
    try:
        job, _card = runtime.defer("hostile id", RequestOptions(model="grok-3"), display=False)
        submitted(job)
        assert job.done, "refused when the POST's answer was read"
        assert not runtime.poller.tracks(job) and runtime.poller.active_count == 0
        paths = [r.path for r in emulator.requests()]
        assert paths == [CHAT_PATH], paths
        assert job.status == "failed" and "request id" in (job.error or ""), job.error
        assert "\n" not in (job.error or "")
    finally:
        runtime.close()
    # positive control: the same settings do poll a well-formed id
    emulator.configure({"request_id": None})
    runtime = Runtime(Settings(home=str(home), poll=PollSettings(schedule=FAST)))
    try:
        job, _card = runtime.defer("plain id", RequestOptions(model="grok-3"), display=False)
        assert job.result(timeout=10)
        assert any(r.path.startswith(DEFERRED_PREFIX) for r in emulator.requests())
    finally:
        runtime.close()


def test_a_job_of_another_server_never_gets_this_key(
    ip: Any, emulator: Emulator, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.latency = 0.3
    with Emulator(latency=0.0) as other:
        there = submit_directly(other, "there")
        here = submit_directly(emulator, "here")
        journal = Journal(home)
        journal.add(there)
        journal.add(here)
        journal.close()
        ip.run_line_magic("config", "GrokDefer.first_poll = 0.1")
        capsys.readouterr()
        ip.run_line_magic("grok_wait", f"{there.request_id} {here.request_id} --timeout 20")
        out = capsys.readouterr().out
        assert other.get_count(there.request_id) == 0, "polled with this server's key"
        assert other.requests() == [] or all(r.method == "POST" for r in other.requests())
        assert emulator.delivered_count(here.request_id) == 1  # positive control: polled
        lines = [line for line in out.splitlines() if there.request_id in line]
        assert len(lines) == 1, out
        assert other.base_url in lines[0] and "XAI_BASE_URL" in lines[0], lines[0]


@pytest.mark.parametrize(("fault", "row_then"), [
    ({"faults_apply_to": "post", "slow_rate": 1.0, "slow_seconds": 2.0}, ["failed"]),  # may exist
    ({"faults_apply_to": "post", "error_5xx_rate": 1.0}, []),  # answered: taken as not created
    (None, []),  # refused by xAI (an unknown model): no job exists there, nothing to remember
])
def test_the_journal_says_what_a_failed_post_left_before_the_handle_says_failed(
    env: dict[str, str], emulator: Emulator, home: Path, fault: dict[str, Any] | None,
    row_then: list[str],
) -> None:
    """Journal first: whoever sees the job fail (a test, ``%grok_jobs``, a kill -9 right then)
    finds the journal already settled."""
    if fault is not None:
        emulator.configure(fault)
    runtime = Runtime(Settings(home=str(home), poll=PollSettings(
        schedule=FAST, request_timeout=0.5, max_transient_failures=1)))
    seen: list[list[str]] = []

    def on_change(job: Any) -> None:
        if job.status == "failed" and not seen:
            seen.append([row.status for row in runtime.journal.all()])

    try:
        options = RequestOptions(model="grok-3" if fault else "no-such-model")
        job = runtime.defer("fails", options, display=False)[0]
        job.add_listener(on_change)
        submitted(job, timeout=10)
        assert job.status == "failed", job.status
        wait_for(lambda: seen, "the handle's listener")  # it runs just after the status
        assert seen == [row_then]
    finally:
        runtime.close()


def test_the_journal_says_a_poll_failed_before_the_handle_does(
    env: dict[str, str], emulator: Emulator, home: Path
) -> None:
    emulator.configure({"faults_apply_to": "get", "error_5xx_rate": 1.0})
    runtime = Runtime(Settings(home=str(home), poll=PollSettings(
        schedule=FAST, max_transient_failures=1)))
    seen: list[list[str]] = []

    def on_change(job: Any) -> None:
        if job.status == "failed" and not seen:
            seen.append([row.status for row in runtime.journal.all()])

    try:
        job = runtime.defer("polls fail", RequestOptions(model="grok-3"), display=False)[0]
        job.add_listener(on_change)
        job.wait(10)
        assert job.status == "failed", job.status
        wait_for(lambda: seen, "the handle's listener")
        assert seen == [["failed"]]
    finally:
        runtime.close()
