"""The poll schedule and the global pace: the two rules that decide when a GET goes out."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from xai_defer_magic.core.schedule import Pacer, PollSchedule


def test_intervals_grow_with_age_between_first_and_cap() -> None:
    schedule = PollSchedule(first=1.0, growth=0.1, cap=30.0, jitter=0.0)
    assert schedule.next_delay(0) == 1.0
    assert schedule.next_delay(5) == 1.0
    assert schedule.next_delay(100) == pytest.approx(10.0)
    assert schedule.next_delay(10_000) == 30.0


def test_jitter_stays_within_its_fraction() -> None:
    schedule = PollSchedule(first=1.0, growth=0.1, cap=30.0, jitter=0.1)
    rng = random.Random(7)
    delays = [schedule.next_delay(200, rng) for _ in range(500)]
    assert min(delays) >= 18.0 and max(delays) <= 22.0
    assert len({round(d, 3) for d in delays}) > 100, "jitter spreads jobs apart"


def test_pacer_spaces_calls_to_its_rate_in_call_order() -> None:
    async def run() -> tuple[float, list[int]]:
        pacer = Pacer(rate=50.0)
        order: list[int] = []

        async def one(i: int) -> None:
            await pacer.wait()
            order.append(i)

        start = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(11)))
        return time.monotonic() - start, order

    elapsed, order = asyncio.run(run())
    assert elapsed >= 10 / 50.0 * 0.95  # eleven calls need ten gaps of 20 ms at least
    assert order == list(range(11))


def test_pacer_rate_zero_means_no_limit() -> None:
    async def run() -> float:
        pacer = Pacer(rate=0)
        start = time.monotonic()
        for _ in range(1000):
            await pacer.wait()
        return time.monotonic() - start

    assert asyncio.run(run()) < 5.0  # bounds a hang only: no sleeping happens at all
