"""Proving that something did NOT happen without sleeping: a witness that counts.

"Job X is no longer polled" needs time to pass at the poller's cadence. A sleep guesses that
time; a witness measures it: a pending job of its own, polled on the same schedule by a runtime
of its own. Once the witness has been polled ``n`` more times, a live poller on that schedule
would have polled X too (X is at least as old, so its interval is no shorter, until the cap).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support import FAKE_KEY
from tests.support.shell import HANG, wait_for
from xai_defer_magic.core.schedule import PollSchedule, PollSettings
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.runtime.runtime import Runtime
from xai_defer_magic.runtime.settings import Settings


class PollWitness:
    def __init__(self, emulator: Emulator, request_id: str) -> None:
        self._emulator = emulator
        self._request_id = request_id

    @property
    def polls(self) -> int:
        return self._emulator.get_count(self._request_id)

    def rounds(self, n: int, timeout: float = HANG) -> None:
        """Return once the witness has been polled ``n`` more times (a bound only on a hang)."""
        target = self.polls + n
        wait_for(lambda: self.polls >= target, f"{n} more polls of the witness job", timeout)


@contextlib.contextmanager
def poll_witness(emulator: Emulator, home: Path, schedule: PollSchedule | None = None
                 ) -> Iterator[PollWitness]:
    """A never-finishing job polled on ``schedule`` (default: the runtime's) from ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    runtime = Runtime(Settings(home=str(home), base_url=emulator.base_url, reuse=False,
                               poll=PollSettings(schedule=schedule or PollSchedule())))
    try:
        job, _card = runtime.defer("[[latency=3600]] The witness: polled, never answered.",
                                   display=False)
        wait_for(lambda: job.request_id, "the witness's id")
        try:
            yield PollWitness(emulator, job.request_id)
        finally:
            job.cancel()  # not left pending for a later %grok_wait in this process
    finally:
        runtime.close()


def assert_not_polled(emulator: Emulator, request_id: str, witness: PollWitness,
                      rounds: int = 2) -> None:
    """``request_id`` gets no GET while the witness is polled ``rounds`` times.

    One round first, so that a GET already on the wire has landed before the count is taken."""
    witness.rounds(1)
    gets = emulator.get_count(request_id)
    witness.rounds(rounds)
    assert emulator.get_count(request_id) == gets, f"{request_id} was polled after it stopped"


WITNESS_PROMPT = "The witness POST: not one of the test's items."


def post_rounds(emulator: Emulator, n: int) -> None:
    """Send ``n`` chat POSTs one after another, each slowed like the test's own (same faults):
    when they are done, ``n`` rounds of POSTs had time to land; any POST begun before the
    first of them has landed too. Count the test's POSTs without ``WITNESS_PROMPT``."""
    body = {"model": "grok-3", "deferred": True,
            "messages": [{"role": "user", "content": WITNESS_PROMPT}]}
    headers = {"Authorization": f"Bearer {FAKE_KEY}"}
    for _ in range(n):
        httpx.post(f"{emulator.base_url}/chat/completions", json=body, headers=headers,
                   timeout=HANG)
