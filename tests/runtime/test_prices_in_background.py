"""A job's cost is read, never fetched: a slow catalogue does not stall ``job.cost_usd``.

An answer without ``cost_in_usd_ticks`` is priced from the catalogue, which the runtime
fetches in the background; the job updates itself when the prices arrive."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

import xai_defer_magic
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal import JobRecord
from xai_defer_magic.runtime.runtime import current_runtime

FAKE_KEY = "fake-test-key-not-a-secret"
SLOW = 3.0


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def answer_without_ticks(emulator: Emulator) -> dict[str, Any]:
    with httpx.Client(base_url=emulator.base_url,
                      headers={"Authorization": f"Bearer {FAKE_KEY}"}) as client:
        response = client.post("/chat/completions", json={
            "model": "grok-3-mini", "messages": [{"role": "user", "content": "Old server."}]})
        answer: dict[str, Any] = response.json()
    answer["usage"].pop("cost_in_usd_ticks")
    return answer


def test_reading_cost_does_not_wait_for_a_slow_catalogue(ip: Any, emulator: Emulator) -> None:
    emulator.latency = 0.0
    body = answer_without_ticks(emulator)
    xai_defer_magic.jobs()  # the runtime starts on first use, not at %load_ext
    runtime = current_runtime()
    assert runtime is not None
    rid = str(uuid.uuid4())
    runtime.journal.add(JobRecord(
        request_id=rid, created_at=time.time() - 5, model="grok-3-mini",
        request={"model": "grok-3-mini", "messages": [{"role": "user", "content": "x"}]},
        base_url=emulator.base_url, status="done", response_text=json.dumps(body),
        finished_at=time.time(),
    ))
    emulator.configure({"slow_rate": 1.0, "slow_seconds": SLOW, "faults_apply_to": "get"})
    job = runtime.get(rid)
    assert job is not None and job.done
    started = time.monotonic()
    first = job.cost_usd, job.cost_estimated, repr(job), job.served_model
    assert time.monotonic() - started < SLOW / 2, "reading a property went to the network"
    assert first[0] is None and first[1] is False  # not known yet: the prices are on their way
    assert wait_for(lambda: job.cost_usd is not None, SLOW + 10), "the prices never arrived"
    assert job.cost_estimated and job.cost_usd > 0
