"""``%reload_ext`` and ``%unload_ext`` + ``%load_ext`` keep every handle working, and
``%config`` reaches the live runtime (not only the next one)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.shell import wait_for
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal import Journal


def test_handles_survive_reload_ext(ip: Any, emulator: Emulator) -> None:
    emulator.latency = 1.5
    ip.run_line_magic("config", "GrokDefer.first_poll = 0.2")
    ip.run_cell_magic("grok_defer", "-o job", "Still here after a reload?")
    ip.run_cell_magic("grok_defer", "-o stopped", "Cancelled, then resumed after a reload")
    job, stopped = ip.user_ns["job"], ip.user_ns["stopped"]
    stopped.cancel()
    ip.run_line_magic("reload_ext", "xai_defer_magic")
    assert "Emulated answer" in job.result(timeout=20)
    stopped.resume()
    assert "Emulated answer" in stopped.result(timeout=20)

    ip.run_cell_magic("grok_defer", "-o again", "Unloaded, then loaded")
    again = ip.user_ns["again"]
    ip.run_line_magic("unload_ext", "xai_defer_magic")
    ip.run_line_magic("load_ext", "xai_defer_magic")
    assert "Emulated answer" in again.result(timeout=20)
    for handle in (job, stopped, again):
        rid = handle.request_id or ""
        assert (emulator.delivered_count(rid), emulator.gets_after_delivery(rid)) == (1, 0)


@pytest.fixture
def restore_config(ip: Any) -> Iterator[None]:
    """%config lands in the shared test shell's config: put back what this module changes."""
    yield
    for line in ("journal_dir = None", "max_in_flight = 8", "request_timeout = 30.0"):
        ip.run_line_magic("config", f"GrokDefer.{line}")


@pytest.mark.usefixtures("restore_config")
def test_config_reaches_the_live_runtime(ip: Any, emulator: Emulator, tmp_path: Path) -> None:
    emulator.latency = 0.0
    ip.run_line_magic("config", "GrokDefer.first_poll = 0.1")
    ip.run_cell_magic("grok_defer", "--wait -o first", "Opens the journal and the client")

    other = tmp_path / "elsewhere"
    ip.run_line_magic("config", f"GrokDefer.journal_dir = {str(other)!r}")
    ip.run_line_magic("config", "GrokDefer.max_in_flight = 1")
    ip.run_line_magic("config", "GrokDefer.request_timeout = 0.6")

    emulator.configure({"faults_apply_to": "get", "slow_rate": 1.0, "slow_seconds": 0.4})
    for i in range(3):
        ip.run_cell_magic("grok_defer", f"-o j{i}", f"One at a time {i}")
    jobs = [ip.user_ns[f"j{i}"] for i in range(3)]
    for job in jobs:
        assert job.result(timeout=20)
    ids = {job.request_id for job in jobs}
    answered = sorted(r.t for r in emulator.requests() if r.method == "GET" and r.request_id in ids)
    gaps = [b - a for a, b in itertools.pairwise(answered)]
    assert gaps and min(gaps) > 0.3, f"GETs overlapped with max_in_flight = 1: {gaps}"

    stored = Journal(other)
    try:
        assert {r.request_id for r in stored.all()} >= ids, "new jobs went to the old journal"
    finally:
        stored.close()

    emulator.configure({"faults_apply_to": "get", "slow_rate": 1.0, "slow_seconds": 1.5})
    ip.run_cell_magic("grok_defer", "-o slow", "Slower than the new timeout")
    slow = ip.user_ns["slow"]
    wait_for(lambda: slow.note and "Timed out" in slow.note, "the 0.6 s timeout to apply", 10)
    slow.cancel()


def test_a_handle_waits_listens_and_binds_through_public_methods() -> None:
    """What the magic, the views and the engines use instead of the job's private state."""
    from xai_defer_magic.core.job import Job

    calls: list[str] = []

    class Controller:
        def cancel(self, job: Job) -> None:
            calls.append("cancel")

        def resume(self, job: Job) -> None:
            calls.append("resume")

    job = Job(model="grok-3", request={}, base_url="http://127.0.0.1:1/v1")
    job.bind(Controller())
    job.cancel()
    job.resume()
    assert calls == ["cancel", "resume"]

    def listener(j: Job) -> None:
        calls.append(j.status)

    assert not job.is_listening(listener)
    job.add_listener(listener)
    assert job.is_listening(listener)
    assert job.wait(0.01) is False
    job.set_status("failed", error="stopped")
    assert job.wait(0) is True and calls[-1] == "failed"
    job.set_status("pending")  # resumed: waiting blocks again
    assert job.wait(0.01) is False
