"""The deferred engine: polls every pending job on the loop thread, journal first, one GET per 200.

For each job, one task: sleep per the schedule, check the journal (another kernel may already
hold the answer), take the journal's lease on the id, GET once under a shared limit of
in-flight requests, and on a 200 commit the raw body to the journal *before* parsing it. The
GET runs shielded and owns the lease until its answer is journaled: a cancel, an unload or the
kernel's exit stops the polling task, never the request in flight. Submitting is in
:mod:`submit`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import time
from collections.abc import Callable
from typing import Any

from xai_defer_magic.core.completion import parse_completion_text
from xai_defer_magic.core.job import Job
from xai_defer_magic.core.schedule import Pacer, PollSettings
from xai_defer_magic.engines.deferred.submit import Submitter
from xai_defer_magic.errors import (
    AnswerLost,
    GrokDeferError,
    InsecureTransport,
    JobCancelled,
    JobExpired,
    JobTimeout,
    MalformedResponse,
    NetworkError,
    RateLimited,
    ResultGone,
)
from xai_defer_magic.http.catalogue import CatalogueCache
from xai_defer_magic.http.deferred import Pending, Ready, XaiClient, check_transport, retry_delay
from xai_defer_magic.http.transport import Transport
from xai_defer_magic.journal import Claim, Journal, job_record, process_owner
from xai_defer_magic.loop import LoopThread

RESULT_LIFETIME = 24 * 3600.0  # xAI keeps a deferred result this long
LOST_AFTER_FAILED_GET = (
    "xAI answered 404 after an earlier request for this id failed in transit: the server "
    "handed the answer out but it never arrived; it cannot be fetched again."
)


KeyProvider = Callable[[], str]


class Poller:
    """The deferred engine (see :mod:`engines.base`): one shared ``httpx.AsyncClient``, one polling
    task per pending job. ``settings`` may be replaced at any time (``%config``)."""

    name = "deferred"

    def __init__(
        self,
        loop: LoopThread,
        journal: Journal,
        key_provider: KeyProvider,
        settings: PollSettings | None = None,
        *,
        current_base_url: Callable[[], str] | None = None,
        on_submitted: Callable[[Job], None] | None = None,
        catalogues: CatalogueCache | None = None,
    ) -> None:
        self.loop = loop
        self.catalogues = catalogues  # asked before a body with images is sent (preflight)
        self.journal = journal
        self.settings = settings or PollSettings()
        self.on_submitted = on_submitted or (lambda job: None)
        self._key_provider = key_provider
        self._current_base_url = current_base_url
        self._owner = process_owner()
        self._closing = False
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._tracked: set[int] = set()  # jobs being polled; updated on the caller's thread
        self._requests: set[asyncio.Future[Any]] = set()  # GETs and POSTs in flight
        self._gets: dict[int, asyncio.Future[Pending | Ready]] = {}  # the GET of each job
        self._transport = Transport()
        self._pacer: Pacer | None = None
        self._rng = random.Random()
        self._submitter = Submitter(self)

    # --- the engine interface (any thread) ------------------------------------------------

    def submit(self, job: Job, body: dict[str, Any]) -> concurrent.futures.Future[None]:
        return self._submitter.start(job, body)

    def track(self, job: Job) -> None:
        """Start polling ``job`` (idempotent); never a job of another server (see foreign)."""
        if self._closing or self.foreign(job):
            return
        self._tracked.add(id(job))
        self.loop.call_soon(self._start_task, job)

    def tracks(self, job: Job) -> bool:
        return id(job) in self._tracked

    def cancel(self, job: Job, reason: str | None = None) -> None:
        """Mark the job cancelled now (so a resume() right after wins), stop its task soon."""
        if not job.done:
            which = job.request_id or "this job (its POST still on the wire)"
            self._finish(job, "cancelled", JobCancelled(reason or (
                f"Polling of {which} was cancelled; job.resume() picks it up again."
            )))
        self.loop.call_soon(self._cancel_task, job)

    def resume(self, job: Job) -> None:
        if job.request_id is None:  # its POST is still on the wire: it polls when the id comes
            if self._submitter.sending(job):
                job.set_status("submitting")
            return
        job.polling()
        self.journal.set_status(job.request_id or "", "pending")
        self.track(job)

    def close(self, timeout: float | None = None) -> None:
        """Start no new request; let those in flight journal their answers, then close."""
        self._closing = True
        bound = self.settings.request_timeout + 5 if timeout is None else timeout
        if self.loop.loop.is_running():
            try:
                self.loop.run(self._close(bound), timeout=bound + 0.5)
            except Exception:
                pass

    # --- for the runtime -------------------------------------------------------------------

    def foreign(self, job: Job) -> bool:
        """True for a job of another server: this kernel's key never goes there."""
        current = self._current_base_url() if self._current_base_url else job.base_url
        return job.base_url != current

    def client_check(self, base_url: str) -> None:
        """Raise before anything is shown if the URL is unsafe or the key is missing."""
        check_transport(base_url)
        self._key_provider()

    def expire(self, job: Job) -> None:
        self._finish(job, "expired", JobExpired(
            f"Job {job.request_id} is older than 24 h and was never retrieved; xAI no longer "
            "holds its result."
        ))

    @property
    def active_count(self) -> int:
        return len(self._tasks)

    def client_for(self, base_url: str) -> XaiClient:
        """A client with the key, for the current server only; request_timeout as it is now."""
        if self._current_base_url is not None and base_url != self._current_base_url():
            raise InsecureTransport(f"Refusing to send this kernel's key to {base_url}.")
        http = self._transport.http(self.settings.max_in_flight)
        key, timeout = self._key_provider(), self.settings.request_timeout
        return XaiClient(http, base_url, key, timeout=timeout)

    def semaphore(self) -> asyncio.Semaphore:
        return self._transport.semaphore(self.settings.max_in_flight)

    def hold(self, request: asyncio.Future[Any]) -> None:
        """Keep a request in flight alive until it ends; close() waits for it."""
        self._requests.add(request)
        request.add_done_callback(self._requests.discard)

    # --- on the loop thread ------------------------------------------------------------------

    def _start_task(self, job: Job) -> None:
        key = id(job)
        existing = self._tasks.get(key)
        if self._closing or (existing is not None and not existing.done()):
            return
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks[key] = task
        self._tracked.add(key)
        task.add_done_callback(lambda done: self._forget_task(key, done))

    def _forget_task(self, key: int, task: asyncio.Task[None]) -> None:
        if self._tasks.get(key) is task:  # not a newer task started by resume()
            del self._tasks[key]
            self._tracked.discard(key)

    def _cancel_task(self, job: Job) -> None:
        task = self._tasks.pop(id(job), None)  # gone now, so a resume() right after starts anew
        self._tracked.discard(id(job))
        if task is not None:
            task.cancel()

    async def _close(self, bound: float) -> None:
        give_up_at = time.monotonic() + bound
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._requests:  # GETs and POSTs in flight land their answers in the journal
            await asyncio.wait(set(self._requests), timeout=max(0.0, give_up_at - time.monotonic()))
        await self._transport.aclose()

    async def _run(self, job: Job) -> None:
        try:
            await self._poll_until_finished(job)
        except asyncio.CancelledError:
            raise
        except GrokDeferError as exc:  # e.g. a transport refused before sending
            self._finish(job, "failed", exc)
        except Exception as exc:  # never let a bug leave a job pending forever
            self._finish(job, "failed", GrokDeferError(f"Internal error while polling: {exc!r}"))
        finally:
            if job.request_id and id(job) not in self._gets:  # else the GET releases it
                self.journal.release(job.request_id, self._owner)

    async def _poll_until_finished(self, job: Job) -> None:
        request_id = job.request_id
        assert request_id, "only submitted jobs are polled"
        schedule = self.settings.schedule
        failures = 0  # consecutive 5xx/network failures: too many and the job fails (resumable)
        limited = 0  # consecutive 429s: never fatal, the answer waits 24 h; only slow down
        in_transit = False  # the last GET failed after it was sent: its answer may be gone
        delay = schedule.first if job.polls == 0 else schedule.next_delay(job.elapsed(), self._rng)
        while True:
            if not await self._sleep_within_timeout(job, delay):
                return
            if time.time() - job.created_at > RESULT_LIFETIME:
                self.expire(job)
                return
            try:
                outcome = await self._claimed_poll(job, request_id)
            except GrokDeferError as exc:
                if job.done or self._take_stored(job, request_id):  # e.g. another kernel won
                    return
                if isinstance(exc, ResultGone) and in_transit:
                    exc = AnswerLost(LOST_AFTER_FAILED_GET)
                if exc.final:
                    self._finish(job, "failed", exc)
                    return
                in_transit = isinstance(exc, NetworkError) and not exc.never_sent
                job.noted(f"retrying: {exc.message}")
                if isinstance(exc, RateLimited):
                    limited += 1
                    delay = self._retry_delay(job, limited, exc)
                    continue
                failures += 1
                if failures > self.settings.max_transient_failures:
                    self._finish(job, "failed", type(exc)(
                        f"{exc.message.rstrip('.')}. Gave up after {failures} attempts; "
                        "job.resume() tries again."
                    ))
                    return
                delay = self._retry_delay(job, failures, exc)
                continue
            if outcome is None:
                if self._take_stored(job, request_id):  # another kernel got the answer
                    return
                job.noted("another kernel is polling this job")
                delay = schedule.next_delay(job.elapsed(), self._rng)
                continue
            if isinstance(outcome, Ready):  # journaled, counted and shown by _fetch
                return
            failures = limited = 0
            in_transit = False
            job.noted(None)
            delay = schedule.next_delay(job.elapsed(), self._rng)

    def _take_stored(self, job: Job, request_id: str) -> bool:
        """Finish ``job`` from an answer already in the journal, if there is one."""
        stored = self.journal.get(request_id)
        if stored is None or stored.response_text is None:
            return False
        self._accept(job, stored.response_text)
        return True

    async def _claimed_poll(self, job: Job, request_id: str) -> Pending | Ready | None:
        """One GET under the journal's lease, or None when another kernel holds it.

        Never two GETs of one id from this process: a GET still in flight from before a
        cancel/resume is waited for first. The lease is taken (renewed to a full term) inside
        the in-flight slot, right before the GET, and outlives the GET's total deadline.
        """
        earlier = self._gets.get(id(job))
        if earlier is not None:
            await asyncio.wait({earlier})
            if job.done:
                return None
        await self._pace()
        async with self.semaphore():
            if self._closing:
                raise asyncio.CancelledError
            claim = self.journal.claim(request_id, self._owner, self._lease_seconds())
            if claim is Claim.MISSING:  # no row is not "another kernel holds it": re-add it
                self.journal.add(job_record(job, "pending"))
                claim = self.journal.claim(request_id, self._owner, self._lease_seconds())
            if not claim:
                return None
            fetch = asyncio.ensure_future(self._fetch(job, request_id))
            self._gets[id(job)] = fetch
            self.hold(fetch)
            fetch.add_done_callback(lambda done: self._fetched(job, request_id, done))
            return await asyncio.shield(fetch)

    async def _fetch(self, job: Job, request_id: str) -> Pending | Ready:
        """GET, journal a 200, count the poll, then show it: one unit that cancel() or unload
        cannot cut in half (once the server handed the answer out, it exists nowhere else)."""
        try:
            outcome = await self.client_for(job.base_url).poll(request_id)
        except GrokDeferError as exc:
            self._count_poll(job)
            if isinstance(exc, AnswerLost):  # final even if the polling task is gone
                self._finish(job, "failed", exc)
            raise
        if isinstance(outcome, Ready):
            self.journal.store_response(request_id, outcome.text, time.time())
        self._count_poll(job)  # before the card can say "done": one count everywhere
        if isinstance(outcome, Ready):
            self._accept(job, outcome.text)  # even if the polling task was cancelled meanwhile
        return outcome

    def _fetched(self, job: Job, request_id: str, fetch: asyncio.Future[Pending | Ready]) -> None:
        """A GET ended (its answer, if any, journaled): give the lease back unless the job's
        task goes on polling, which renews it before its next GET."""
        if self._gets.get(id(job)) is fetch:
            del self._gets[id(job)]
        task = self._tasks.get(id(job))
        goes_on = (
            task is not None and not task.done() and not fetch.cancelled()
            and fetch.exception() is None and isinstance(fetch.result(), Pending)
        )
        if not goes_on:
            self.journal.release(request_id, self._owner)

    async def _pace(self) -> None:
        rate = self.settings.max_polls_per_second
        if self._pacer is None:
            self._pacer = Pacer(rate)
        self._pacer.rate = rate  # %config may change it while jobs are pending
        await self._pacer.wait()

    def _lease_seconds(self) -> float:
        return max(self.settings.lease_seconds, 2 * self.settings.request_timeout + 10)

    def _retry_delay(self, job: Job, failures: int, exc: GrokDeferError) -> float:
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return retry_delay(failures, exc)
        cap = self.settings.schedule.cap
        return max(self.settings.schedule.first, retry_delay(failures, exc, base=1.0, cap=cap))

    async def _sleep_within_timeout(self, job: Job, delay: float) -> bool:
        """Sleep ``delay``; False (and the job timed out) if its timeout comes first."""
        if job.timeout is not None:
            remaining = job.poll_started + job.timeout - time.monotonic()
            if remaining <= delay:
                await asyncio.sleep(max(0.0, remaining))
                self._finish(job, "timed_out", JobTimeout(
                    f"Stopped polling {job.request_id} after {job.timeout:g} s (--timeout); "
                    "the job is still at xAI: job.resume() or %grok_wait picks it up."
                ))
                return False
        await asyncio.sleep(delay)
        return True

    def _count_poll(self, job: Job) -> None:
        at = time.time()
        polls = job.polled(at)
        if job.request_id:
            self.journal.record_poll(job.request_id, polls, at)

    def _accept(self, job: Job, text: str) -> None:
        """Parse a journaled 200 body and finish the job with it."""
        try:
            completion = parse_completion_text(text)
        except MalformedResponse as exc:
            self._finish(job, "failed", MalformedResponse(
                f"{exc.message} The raw answer is kept in the journal."
            ))
            return
        finished_at = time.time()
        self._journal_status(job, "done", None, finished_at)
        job.finish(completion, finished_at=finished_at)

    def _finish(self, job: Job, status: str, error: GrokDeferError | None) -> None:
        """Journal first: whoever sees the handle end finds the journal already settled."""
        finished_at = time.time()
        self._journal_status(job, status, error, finished_at)
        job.set_status(status, error=error, finished_at=finished_at)

    def _journal_status(self, job: Job, status: str, error: GrokDeferError | None,
                        finished_at: float | None) -> None:
        if job.request_id:
            self.journal.set_status(
                job.request_id, status,
                error=error.message if error else None,
                finished_at=finished_at,
            )
