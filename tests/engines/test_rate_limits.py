"""A long run of 429s slows polling down but never fails a job: its answer waits 24 h."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.shell import submitted
from xai_defer_magic.core.options import RequestOptions
from xai_defer_magic.core.schedule import PollSchedule, PollSettings
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.runtime.runtime import Runtime
from xai_defer_magic.runtime.settings import Settings


def test_more_429s_than_the_failure_limit_still_end_done(
    env: dict[str, str], emulator: Emulator, home: Path
) -> None:
    poll = PollSettings(
        schedule=PollSchedule(first=0.1, growth=0.1, cap=0.5), max_transient_failures=2,
        max_polls_per_second=0,
    )
    runtime = Runtime(Settings(home=str(home), poll=poll))
    try:
        emulator.latency = 0.0
        job, _card = runtime.defer("rate limited", RequestOptions(model="grok-3"), display=False)
        submitted(job)
        # Every GET is rate limited from now on: many more 429s than max_transient_failures.
        emulator.configure({"faults_apply_to": "get", "burst_429_every": 1,
                            "burst_429_length": 1, "retry_after": 0.05})
        deadline = time.monotonic() + 20
        while emulator.get_count(job.request_id or "") < 8:
            assert time.monotonic() < deadline, "the poller stopped polling"
            assert job.status == "pending", job.error
            time.sleep(0.05)
        emulator.configure({"burst_429_every": 0})
        assert job.result(timeout=20)
        assert emulator.delivered_count(job.request_id or "") == 1
    finally:
        runtime.close()
