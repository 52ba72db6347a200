"""The per-process state: loop thread, poller, journal, and every job this kernel knows.

Created lazily (by ``%load_ext`` or the first ``defer()``), closed by ``%unload_ext``. It is the
one place that turns a request into a journaled, polled, displayed job; the magic and
``defer()`` only parse their input and call :meth:`Runtime.defer`.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from . import credentials, views
from .completion import parse_completion_text
from .errors import GrokDeferError, MalformedResponse
from .job import PENDING_STATUSES, Job
from .journal import JobRecord, Journal, process_owner
from .loop import LoopThread
from .poller import RESULT_LIFETIME, Poller, PollSettings
from .request import Prompt, build_request, check_timeout
from .ticker import CardTicker


@dataclass
class Settings:
    """What ``%config GrokDefer.*`` controls (defaults here serve ``defer()`` without the magic)."""

    model: str = "grok-4"
    base_url: str | None = None
    timeout: float | None = None
    home: str | None = None
    resume_on_load: bool = True
    poll: PollSettings = field(default_factory=PollSettings)


class Runtime:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.loop = LoopThread()
        self.journal = Journal(self.settings.home, on_problem=_warn)
        self.poller = Poller(self.loop, self.journal, credentials.api_key, self.settings.poll)
        self.ticker = CardTicker()
        self.panels: list[Any] = []  # live %grok_jobs panels (panel.JobsPanel), ticked below
        self.here: weakref.WeakSet[Job] = weakref.WeakSet()  # submitted or resumed here
        self._jobs: dict[str, Job] = {}
        self._order: list[Job] = []
        self._lock = threading.Lock()
        self._ticking = self.loop.submit(self._tick_forever())

    # --- creating jobs ------------------------------------------------------------------------

    def defer(
        self,
        prompt: Prompt,
        *,
        model: str | None = None,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        reasoning_effort: str | None = None,
        timeout: float | None = None,
        display: bool = True,
        cell_id: str | None = None,
    ) -> tuple[Job, Any]:
        """Validate, show, submit, journal and start polling; return the job and its card."""
        model = self.settings.model if model is None else model  # '' is an error, not the default
        body = build_request(
            prompt, model=model, system=system, temperature=temperature,
            max_tokens=max_tokens, reasoning_effort=reasoning_effort,
        )
        timeout = check_timeout(timeout if timeout is not None else self.settings.timeout)
        base_url = credentials.base_url(self.settings.base_url)
        self.poller.client_check(base_url)  # a bad URL or no key: refuse before showing anything
        job = Job(model=model, request=body, base_url=base_url, timeout=timeout, cell_id=cell_id)
        self._remember(job)
        card = views.show_live(job, self.ticker) if display else None
        try:
            job.request_id = self.poller.submit(job, body)
        except GrokDeferError as exc:
            job.set_status("failed", error=exc)
            return job, card
        self.journal.add(self._record(job))
        with self._lock:
            self._jobs[job.request_id] = job
        job.poll_started = time.monotonic()
        job.set_status("pending")
        self.poller.track(job)
        return job, card

    def _remember(self, job: Job) -> None:
        with self._lock:
            self._order.append(job)
        self.here.add(job)

    @staticmethod
    def _record(job: Job) -> JobRecord:
        assert job.request_id
        return JobRecord(
            request_id=job.request_id, created_at=job.created_at, model=job.model,
            request=job.request, base_url=job.base_url, status="pending",
            owner=process_owner(), cell_id=job.cell_id,
        )

    # --- jobs from the journal -------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        """Every job of this kernel and of the journal, newest first."""
        for record in self.journal.all():
            self._adopt(record)
        with self._lock:
            known = list(self._order)
        return sorted(known, key=lambda j: j.created_at, reverse=True)

    def get(self, request_id: str) -> Job | None:
        """A job by full id or unique prefix, from this kernel or the journal."""
        with self._lock:
            job = self._jobs.get(request_id)
        if job is not None:
            return job
        record = self.journal.get(request_id)
        if record is not None:
            return self._adopt(record)
        matches = [j for j in self.jobs() if (j.request_id or "").startswith(request_id)]
        return matches[0] if len(matches) == 1 else None

    def resume_unfinished(self) -> list[Job]:
        """Pick up jobs a previous kernel left pending; expire the ones past 24 h.

        Only jobs of the server this kernel talks to are resumed: the key in the environment
        belongs to that server (an emulator's fake key would make xAI answer "bad key"), and an
        old emulator's port is long gone. The others wait, listed, for ``%grok_wait ID``.
        """
        current = credentials.base_url(self.settings.base_url)
        for record in self.journal.unparsed():  # crashed between storing the 200 and its status
            self._settle_stored(self._adopt(record))
        resumed = []
        for record in self.journal.unfinished():
            if record.status not in PENDING_STATUSES:
                continue
            job = self._adopt(record)
            if job.done or job.request_id is None:
                continue
            if time.time() - job.created_at > RESULT_LIFETIME:
                self.poller.expire(job)
                continue
            if job.base_url != current:
                job.note = f"submitted to {job.base_url}: %grok_wait {job.request_id} polls it"
                continue
            self.ensure_polling(job)
            resumed.append(job)
        return resumed

    def ensure_polling(self, job: Job) -> None:
        """Poll a pending job that nothing polls yet (a no-op for one already polled)."""
        if job.status in PENDING_STATUSES and job.request_id and not self.poller.tracks(job):
            job.poll_started = time.monotonic()
            job.note = None
            self.here.add(job)
            self.poller.track(job)

    def _settle_stored(self, job: Job) -> None:
        """Journal the status a stored 200 body gives (never GET it again: it was fetched)."""
        if job.done and job.request_id:
            self.journal.set_status(
                job.request_id, job.status, error=job.error, finished_at=job.finished_at
            )

    def _adopt(self, record: JobRecord) -> Job:
        with self._lock:
            known = self._jobs.get(record.request_id)
            if known is not None:
                return known
            job = job_from_record(record)
            self._jobs[record.request_id] = job
            self._order.append(job)
        job._controller = self.poller
        return job

    def forget(self, job: Job) -> None:
        """Drop the job here and from the journal; a pending one still runs (and costs) at xAI."""
        if not job.done:
            self.poller.cancel(job, f"Forgotten: {job.request_id} is no longer polled and its "
                               "journal row is gone; the job still runs, and costs, at xAI.")
            job._controller = None  # nothing to resume: the answer could not be journaled
        with self._lock:
            if job.request_id:
                self._jobs.pop(job.request_id, None)
            if job in self._order:
                self._order.remove(job)
        if job.request_id:
            self.journal.forget(job.request_id)

    # --- waiting --------------------------------------------------------------------------------

    def pending(self) -> list[Job]:
        """Jobs this kernel is polling (not those left to another server, see above)."""
        with self._lock:
            jobs = list(self._order)
        return [j for j in jobs if j.status in PENDING_STATUSES and self.poller.tracks(j)]

    # --- lifecycle ------------------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.ticker.tick()
            for panel in list(self.panels):
                panel.tick()  # JobsPanel.tick never raises

    def close(self) -> None:
        """Stop polling and the loop thread; the journal keeps every job for the next load."""
        self._ticking.cancel()
        self.poller.close()
        self.loop.stop()
        self.journal.close()


def job_from_record(record: JobRecord) -> Job:
    """Rebuild a handle from its journal row, parsing a stored answer if there is one."""
    job = Job(
        model=record.model, request=record.request, base_url=record.base_url,
        created_at=record.created_at, cell_id=record.cell_id,
    )
    job.request_id = record.request_id
    job.polls = record.polls
    job.last_poll_at = record.last_poll_at
    if record.response_text is not None:
        try:
            job.completion = parse_completion_text(record.response_text)
        except MalformedResponse as exc:
            job.finished_at = record.finished_at
            job.set_status("failed", error=exc)
            return job
        job.finished_at = record.finished_at
        job.set_status("done")
        return job
    job.finished_at = record.finished_at
    job.set_status(record.status, error=record.error)
    return job


def _warn(line: str) -> None:
    """One plain line on stderr: a RuntimeWarning would add a file path and a source line."""
    print(f"xai_defer_magic: {line}", file=sys.stderr)


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime(settings: Settings | None = None) -> Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime(settings)
        elif settings is not None:
            _runtime.settings = settings
            _runtime.poller.settings = settings.poll
        return _runtime


def close_runtime() -> None:
    global _runtime
    with _runtime_lock:
        if _runtime is not None:
            _runtime.close()
            _runtime = None
