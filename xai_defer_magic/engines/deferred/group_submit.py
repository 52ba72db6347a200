"""Submits a group's items in the background, on the loop thread, paced and never losing one.

A few workers take items in input order, at most ``MAX_SUBMITS_PER_SECOND``. Each item is
journaled ``sending`` before its POST and ``accepted`` with its request id as soon as the POST
returns; then its job row goes to the job journal and the poller takes over. A 429 puts the
item back at the front of the queue and pauses every worker for the server's ``Retry-After``
(or a growing backoff): a rate limit never fails an item. A billing stop fails the rest at
once (retrying cannot help). See :mod:`journal.groups` for the one case a crash leaves open.

The submitter outlives its runtime (``%reload_ext``, ``%unload_ext`` + ``%load_ext``): closing
the runtime halts it (no new POST; those in flight are held by the poller, which lets them
journal their ids), and :meth:`GroupSubmitter.move_to` sends what is still queued from the
next runtime, so the handle the user holds goes on and no item is sent twice.
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from typing import Any

from xai_defer_magic.core.group import Group
from xai_defer_magic.core.job import Job
from xai_defer_magic.core.schedule import Pacer
from xai_defer_magic.engines.host import EngineHost
from xai_defer_magic.engines.preflight import images_refused
from xai_defer_magic.engines.wire import wire_body
from xai_defer_magic.errors import (
    BillingExhausted,
    GrokDeferError,
    InvalidRequest,
    JobCancelled,
    NetworkError,
    RateLimited,
)
from xai_defer_magic.journal import job_record
from xai_defer_magic.journal.groups import GroupStore

MAX_WORKERS = 6  # POSTs in flight for one group; the poller's GETs share the connection pool
# Each POST costs the kernel's process CPU (and so the GIL): unpaced, 1,000 items at ~150/s
# doubled a trivial cell's round trip (B7). 1,000 items still go out in 20 s.
MAX_SUBMITS_PER_SECOND = 50.0


async def _submit_item(runtime: EngineHost, job: Job) -> str:
    """ONE item's POST; returns the request id. (The one place to re-point at a new engine.)"""
    poller = runtime.poller
    refusal = await images_refused(poller.catalogues, job.request, job.base_url,
                                   poller.settings.request_timeout)
    if refusal is not None:  # nothing is sent: the item fails with this line
        raise InvalidRequest(refusal)
    body = wire_body(job.request, runtime.journal.blobs)  # stored images inlined
    return str(await poller.client_for(job.base_url).submit(body))


class GroupSubmitter:
    """Owns a group's submission in this kernel; created and used on the kernel thread."""

    def __init__(self, runtime: EngineHost, store: GroupStore, group: Group) -> None:
        self.runtime = runtime
        self.store = store
        self.group = group
        self._queue: collections.deque[int] = collections.deque()
        self._paused_until = 0.0
        self._limited = 0
        self._cancelled = False
        self._workers = 0
        self._pacer = Pacer(MAX_SUBMITS_PER_SECOND)
        self._tasks: set[asyncio.Task[None]] = set()  # strong references (asyncio keeps weak)
        self._halted = False  # its runtime closed: nothing runs until move_to()
        group.driven_by(self)
        runtime.halt_at_close(self)

    def start(self, positions: list[int]) -> None:
        """Queue ``positions`` (input order) and make sure workers are running."""
        self._on_loop(self._enqueue, positions)

    def cancel(self) -> None:
        self._cancelled = True
        self.store.set_cancelled(self.group.id, True)
        self._on_loop(self._cancel_queued)

    def halt(self) -> None:
        """The runtime is closing: start no new POST (called before its engines close, which
        let the POSTs in flight finish and journal their ids)."""
        self._halted = True

    def move_to(self, runtime: EngineHost, store: GroupStore) -> None:
        """Go on in ``runtime`` (after ``%reload_ext``): send what the old one left queued."""
        if not self._halted:  # still working in a runtime that runs
            return
        self.runtime, self.store = runtime, store
        self._halted, self._workers, self._tasks = False, 0, set()
        runtime.halt_at_close(self)
        self.start([])

    def _on_loop(self, callback: Any, *args: Any) -> None:
        """On the loop thread; here if the runtime is gone (no worker runs then, so the queue
        is this thread's alone until move_to())."""
        if self._halted:
            callback(*args)
        else:
            self.runtime.loop.call_soon(callback, *args)

    def retry_failed(self) -> int:
        """Resend failed items; poll again the ones whose answer may still be waiting."""
        resend, repoll = [], []
        for position, job in enumerate(self.group.jobs):
            if job.status not in ("failed", "cancelled", "timed_out"):
                continue
            if job.request_id and "(404)" not in (job.error or ""):
                repoll.append(job)
            elif job.request_id is None:
                resend.append(position)
        for job in repoll:
            job.resume()
        for position in resend:
            job = self.group.jobs[position]
            job.set_status("submitting")
            self.store.set_state(self.group.id, position, "queued")
        self._cancelled = False
        self.store.set_cancelled(self.group.id, False)
        if resend:
            self.start(resend)
        return len(resend) + len(repoll)

    # --- on the loop thread ---------------------------------------------------------------------

    def _enqueue(self, positions: list[int]) -> None:
        self._queue.extend(positions)
        if self._halted:
            return  # move_to() starts the workers in the next runtime
        while self._workers < min(MAX_WORKERS, len(self._queue)):
            self._workers += 1  # counted here and in _work's finally, with no await between
            task = asyncio.ensure_future(self._work())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _cancel_queued(self) -> None:
        while self._queue:
            position = self._queue.popleft()
            self.store.set_state(self.group.id, position, "cancelled")
            self.group.jobs[position].set_status("cancelled", error=JobCancelled(
                f"Not sent: group {self.group.id} was cancelled (g.retry_failed() sends it)."))

    async def _work(self) -> None:
        try:
            await self._work_until_empty()
        finally:
            self._workers -= 1

    async def _work_until_empty(self) -> None:
        while self._queue and not self._cancelled and not self._halted:
            wait = self._paused_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            await self._pacer.wait()
            if not self._queue or self._cancelled or self._halted:
                break
            send = asyncio.ensure_future(self._send(self._queue.popleft()))
            self.runtime.poller.hold(send)  # closing the runtime lets it journal its id
            await asyncio.shield(send)
        if self._cancelled:
            self._cancel_queued()

    async def _send(self, position: int) -> None:
        try:
            await self._post(position)
        except asyncio.CancelledError:  # the runtime closed and its POST had no time to end
            self._fail(position, "unknown", unknown_error("the extension was unloaded during "
                                                          "its POST"))
            raise
        except Exception as exc:  # a bug must not leave an item "submitting" forever
            self._fail(position, "failed", GrokDeferError(f"Internal error: {exc!r}"))

    async def _post(self, position: int) -> None:
        job = self.group.jobs[position]
        group_id = self.group.id
        self.store.set_state(group_id, position, "sending")  # the intent, before the POST
        await self.store.saved()  # durable first, even while another process holds the lock
        try:
            request_id = await _submit_item(self.runtime, job)
        except RateLimited as exc:
            self.store.set_state(group_id, position, "queued")  # answered, so nothing started
            self._queue.appendleft(position)
            self._limited += 1
            self._pause(exc)
            job.noted(f"rate limited: retrying ({exc.message})")
            return
        except BillingExhausted as exc:
            self._fail(position, "failed", exc)
            while self._queue:
                self._fail(self._queue.popleft(), "failed", exc)
            return
        except NetworkError as exc:
            if exc.never_sent:
                self._fail(position, "failed", exc)
            else:
                self._fail(position, "unknown", unknown_error(exc.message))
            return
        except GrokDeferError as exc:  # xAI answered with an error: no job was started
            self._fail(position, "failed", exc)
            return
        self._limited = 0
        self.store.set_state(group_id, position, "accepted", request_id=request_id)
        self._accepted(job, request_id)
        if self._cancelled:
            job.cancel()

    def _accepted(self, job: Job, request_id: str) -> None:
        """Journal the id (full fsync), make the job known to the runtime, start polling."""
        job.accepted(request_id)
        self.runtime.journal.add(job_record(job, "pending"))
        self.runtime.register(job)
        job.polling()
        self.runtime.poller.track(job)

    def _fail(self, position: int, state: str, exc: GrokDeferError) -> None:
        self.store.set_state(self.group.id, position, state, error=exc.message)
        self.group.jobs[position].set_status("failed", error=exc)

    def _pause(self, exc: RateLimited) -> None:
        if exc.retry_after is not None:
            delay = min(float(exc.retry_after), 300.0)
        else:
            delay = min(60.0, 0.5 * 2 ** min(self._limited, 7)) * random.uniform(0.5, 1.0)
        self._paused_until = max(self._paused_until, time.monotonic() + delay)


def unknown_error(detail: str) -> GrokDeferError:
    return GrokDeferError(
        f"Unknown whether xAI received this item ({detail}); its request id was never "
        "recorded, so it is not sent again by itself: g.retry_failed() sends it (it may then "
        "run twice)."
    )

