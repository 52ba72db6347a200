"""When to poll next: intervals that grow with the job's age.

A result that has been cooking for ten minutes will not be ready in the next second, so polling
it every second (xai-sdk) wastes requests that count against the rate limit; a fixed 60 s cap
(xAI's example) makes short jobs wait. Polling at a fixed fraction of the job's age keeps the
expected delay between "ready" and "shown" at about half that fraction of the job's run time,
while the number of GETs grows only with the logarithm of the run time.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PollSchedule:
    first: float = 1.0  # seconds before the first poll
    growth: float = 0.1  # interval as a fraction of the job's age
    cap: float = 30.0  # never wait longer than this between polls
    jitter: float = 0.1  # +/- fraction, so many jobs do not poll in lockstep

    def next_delay(self, age: float, rng: random.Random | None = None) -> float:
        """Seconds to wait before the next poll of a job that is ``age`` seconds old."""
        base = min(self.cap, max(self.first, self.growth * max(0.0, age)))
        spread = self.jitter * base
        draw = (rng or random).uniform(-spread, spread)
        return max(0.05, base + draw)


class Pacer:
    """Spaces polls across all jobs to at most ``rate`` a second.

    With hundreds of young jobs the per-job schedule alone would ask for hundreds of GETs a
    second: polls likely count against the rate limit, and each one costs the kernel's process
    CPU (and so the GIL). Slots are handed out in call order, so no job starves.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next = 0.0

    async def wait(self) -> None:
        if self.rate <= 0:
            return
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next)
        self._next = slot + 1.0 / self.rate
        if slot > now:
            await asyncio.sleep(slot - now)


@dataclass
class PollSettings:
    """How the deferred engine polls and sends (``%config GrokDefer.*``); plain values, so the
    magics can build them at load without importing the engine."""

    schedule: PollSchedule = field(default_factory=PollSchedule)
    max_in_flight: int = 8
    request_timeout: float = 30.0  # the whole request, not each phase
    max_transient_failures: int = 8
    lease_seconds: float = 60.0
    max_polls_per_second: float = 20.0
