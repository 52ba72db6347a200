"""The loop thread's helpers: a bound on an await that never loses a cancel."""

from __future__ import annotations

import asyncio
import sys

import pytest

from xai_defer_magic.loop import within


def test_a_cancel_is_not_lost_when_the_awaited_answer_lands_in_the_same_moment() -> None:
    """asyncio.wait_for (3.10/3.11) swallows such a cancel (cpython gh-86296): a batch runner
    told to stop ran on into a closed connection pool and failed every item of its group."""
    if sys.version_info < (3, 11):
        pytest.skip("asyncio.timeout, which keeps the cancel, is 3.11+; 3.10 keeps wait_for")

    async def scenario() -> None:
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        waiting = asyncio.ensure_future(within(5.0, answer))
        await asyncio.sleep(0)  # it waits on the answer now
        answer.set_result("answer")
        waiting.cancel()  # the same moment: the runtime is closing
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(scenario())


def test_within_bounds_the_wait_with_a_timeout_error() -> None:
    async def scenario() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await within(0.01, asyncio.sleep(5))
        assert await within(1.0, asyncio.sleep(0, result="fast")) == "fast"

    asyncio.run(scenario())
