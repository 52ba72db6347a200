"""A private asyncio loop in a daemon thread (the pattern of IPython's ``%%script --bg``).

The kernel's own loop freezes while a synchronous cell runs, so polling there would stop every
card during ``time.sleep(30)``. This loop keeps ticking. Strong references to every scheduled
future are kept until it finishes, because asyncio holds only weak ones.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def within(seconds: float, awaitable: Awaitable[T]) -> T:
    """Await with a time bound (``asyncio.TimeoutError`` past it), keeping every cancel.

    Not ``asyncio.wait_for``: on 3.10 and 3.11 it swallows a cancel that lands as the awaited
    thing finishes (cpython gh-86296), and the task runs on after it was told to stop (a batch
    runner did, into a closed connection pool). 3.10 has nothing better and keeps it."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)  # pragma: no cover - 3.10


class LoopThread:
    def __init__(self, name: str = "xai-defer-poller") -> None:
        self._loop = asyncio.new_event_loop()
        self._futures: set[concurrent.futures.Future[Any]] = set()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; the returned future is safe to wait on from any thread."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)
        return future

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and block the caller until it is done."""
        if self.in_loop_thread():
            raise RuntimeError("LoopThread.run() called from the loop thread itself")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def call_soon(self, callback: Any, *args: Any) -> None:
        self._loop.call_soon_threadsafe(callback, *args)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel what is left, stop the loop, and join the thread."""
        if not self._loop.is_running():
            return

        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if not self.in_loop_thread():
            try:
                self.submit(_cancel_all()).result(timeout)
            except (concurrent.futures.TimeoutError, RuntimeError):
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        if not self.in_loop_thread():
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self._loop.close()
