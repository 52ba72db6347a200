"""The per-process state: loop thread, engines, journal, and the jobs this kernel knows.

Created lazily (by ``%load_ext`` or the first ``defer()``), closed by ``%unload_ext`` and at
interpreter exit. It is the one place that turns a request into a journaled, polled, displayed
job; the magic and ``defer()`` only parse their input and call :meth:`Runtime.defer`. Handles
outlive a runtime: they are bound to :data:`CONTROLLER`, which finds the current one, and the
process's one :data:`registry.JOBS` maps journal rows back to the handles users hold.
What a starting runtime picks up from the journal (resume, crash leftovers) is :mod:`recovery`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

from xai_defer_magic.core.catalogue import Catalogue
from xai_defer_magic.core.job import PENDING_STATUSES, QUEUED, Job
from xai_defer_magic.core.options import DEFAULT_OPTIONS, RequestOptions
from xai_defer_magic.core.request import Prompt, build_request
from xai_defer_magic.engines.base import Engine
from xai_defer_magic.engines.deferred.poller import Poller
from xai_defer_magic.errors import JobCancelled
from xai_defer_magic.http import credentials
from xai_defer_magic.http.catalogue import VIEW_WAIT, CatalogueCache
from xai_defer_magic.journal import JobRecord, Journal, job_from_record, job_record
from xai_defer_magic.loop import LoopThread
from xai_defer_magic.runtime import images
from xai_defer_magic.runtime.budget import check_spend
from xai_defer_magic.runtime.exit import close_at_exit
from xai_defer_magic.runtime.presenter import Presenter, ShowNothing
from xai_defer_magic.runtime.recovery import resume_unfinished
from xai_defer_magic.runtime.registry import JOBS
from xai_defer_magic.runtime.reuse import find_twin
from xai_defer_magic.runtime.settings import Settings
from xai_defer_magic.runtime.thumbnails import Thumbnails


class Runtime:
    def __init__(self, settings: Settings | None = None,
                 presenter: Presenter | None = None) -> None:
        self.settings = settings or Settings()
        self.loop = LoopThread()
        self.journal = Journal(self.settings.home, on_problem=_warn)
        # Thumbnails from the journal's stored images, for the views (made when first shown).
        self.thumbnails = Thumbnails(lambda: self.journal.blobs)
        self.presenter: Presenter = ShowNothing()
        self.use_presenter(presenter or self.presenter)
        self.catalogues = CatalogueCache(
            self.loop, credentials.api_key, self.base_url,
            lambda: self.settings.poll.request_timeout,
        )
        self.poller = Poller(
            self.loop, self.journal, credentials.api_key, self.settings.poll,
            current_base_url=self.base_url, on_submitted=self._submitted,
            catalogues=self.catalogues,
        )
        self.engines: dict[str, Engine] = {self.poller.name: self.poller}
        self.panels: list[Any] = []  # live %grok_jobs panels (panel.JobsPanel), ticked below
        # Fan-out submitters sending on this loop (group_submit); halted first at close.
        self._group_submitters: weakref.WeakSet[Any] = weakref.WeakSet()
        self._known: list[Job] = []  # jobs of this runtime: created here or read from its journal
        self.here: weakref.WeakSet[Job] = weakref.WeakSet()  # submitted or resumed here
        self._lock = threading.Lock()
        self._ticking = self.loop.submit(self._tick_forever())
        close_at_exit(lambda: _runtime is not None, lambda grace: close_runtime(grace))

    def base_url(self) -> str:
        """The server this kernel talks to, and the only one its key is sent to."""
        return credentials.base_url(self.settings.base_url)

    def use_presenter(self, presenter: Presenter) -> None:
        """Show jobs and groups with ``presenter`` from now on (the magics and ``defer()`` hand
        in the views' one; the runtime never imports a view)."""
        self.presenter = presenter
        presenter.use_thumbnails(self.thumbnails)

    def engine_for(self, job: Job) -> Engine:
        return self.engines[job.engine]

    def apply(self, settings: Settings) -> None:
        """``%config`` reaches the live runtime: poll settings at once, a new journal_dir by
        reopening the journal there (with this kernel's unfinished jobs copied over)."""
        home_changed = settings.home != self.settings.home
        self.settings = settings
        self.poller.settings = settings.poll
        if home_changed:
            journal = Journal(settings.home, on_problem=_warn)
            for job in self._jobs():
                if job.request_id and not job.done:
                    journal.add(job_record(job, job.status))
            old, self.journal = self.journal, journal
            self.poller.journal = journal
            old.close()

    # --- creating jobs ------------------------------------------------------------------------

    def defer(
        self,
        prompt: Prompt,
        options: RequestOptions = DEFAULT_OPTIONS,
        *,
        display: bool = True,
        cell_id: str | None = None,
        on_created: Callable[[Job], None] | None = None,
    ) -> tuple[Job, Any]:
        """Validate, show, journal the intent and return; the POST runs on the loop thread.

        The job comes back ``submitting``: its request id reaches the handle, the card and the
        journal when the server answers (a real POST is a TLS round trip away; the cell never
        waits for it). ``on_created`` gets the handle before anything is sent (``-o`` stores
        it there). An identical request already answered (or still pending) is reused instead
        of sent again unless ``options.fresh`` or ``Settings.reuse`` is off (see :mod:`reuse`).
        """
        options = options.resolved(self.settings)
        body = build_request(prompt, options)
        base_url = self.base_url()
        self.poller.client_check(base_url)  # a bad URL or no key: refuse before showing anything
        images.refuse_unsupported(self, body["model"], bool(options.images), base_url)
        if not options.fresh:
            twin = find_twin(self, body, base_url)
            if twin is not None:
                twin.sent_images(images.keep(self.journal, options.images or ()) or twin.images)
                return twin, self.presenter.show_reused(twin) if display else None
        estimate = check_spend(self, [body], options.max_cost, "this request")  # before it shows
        job = Job(model=body["model"], request=body, base_url=base_url, timeout=options.timeout,
                  cell_id=cell_id, estimated_cost_usd=estimate)
        job.sent_images(images.keep(self.journal, options.images or ()))  # stored before the row
        self.register(job)
        card = self.presenter.show_job(job) if display else None
        if on_created is not None:
            on_created(job)
        self.engine_for(job).submit(job, body)  # journals the intent; POSTs on the loop
        return job, card

    def register(self, job: Job) -> None:
        """The one way a job this kernel sends (or reuses) becomes the runtime's: in the
        process's registry, in ``jobs()``, ``%grok_wait`` and the panel, followed here."""
        JOBS.add(job)
        self._know(job)
        self.here.add(job)

    def _know(self, job: Job) -> None:
        """Bind the handle to the controller that outlives ``%reload_ext``; list it; price it
        when it finishes (in the background: reading a cost never waits)."""
        job.bind(CONTROLLER)
        if not job.is_listening(_price_when_finished):
            job.add_listener(_price_when_finished)
        with self._lock:
            if job not in self._known:
                self._known.append(job)
        self.price(job)

    def halt_at_close(self, submitter: Any) -> None:
        """A fan-out submitter sending on this loop: ``close()`` halts it before the engines."""
        self._group_submitters.add(submitter)

    def _submitted(self, job: Job) -> None:
        JOBS.index(job)

    def _jobs(self) -> list[Job]:
        with self._lock:
            return list(self._known)

    # --- jobs from the journal -------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        """Every job of this kernel and of the journal, newest first."""
        for record in self.journal.all():
            self.adopt(record)
        return sorted(self._jobs(), key=lambda j: j.created_at, reverse=True)

    def get(self, request_id: str) -> Job | None:
        """A job by full id or unique prefix, from this kernel or the journal."""
        job = JOBS.find(request_id)
        if job is not None:
            return job
        record = self.journal.get(request_id)
        if record is not None:
            return self.adopt(record)
        matches = [j for j in self.jobs() if (j.request_id or "").startswith(request_id)]
        return matches[0] if len(matches) == 1 else None

    def resume_unfinished(self) -> list[Job]:
        """Pick up jobs a previous kernel (or runtime) left pending; expire those past 24 h.

        Only jobs of the server this kernel talks to are polled: its key belongs to that
        server alone. The others are listed with a note saying how to poll them.
        """
        return resume_unfinished(self)

    def foreign_note(self, job: Job) -> str | None:
        """One line for a job of another server (never polled with this key), else None."""
        if job.base_url == self.base_url():
            return None
        return (
            f"{job.request_id}: submitted to {job.base_url}, which is not this kernel's server; "
            f"its key is sent only there. To poll it, restart with XAI_BASE_URL={job.base_url}"
        )

    def ensure_polling(self, job: Job) -> bool:
        """Poll a pending job that nothing polls yet; False for a job of another server."""
        note = self.foreign_note(job)
        if note is not None:
            job.noted(note)
            return False
        engine = self.engine_for(job)
        if job.status in PENDING_STATUSES and job.request_id and not engine.tracks(job):
            job.polling()
            self.here.add(job)
            engine.track(job)
        return True

    def adopt(self, record: JobRecord) -> Job:
        """The handle of a journal row: the process's own if it has one, else rebuilt here."""
        job = JOBS.find_or_add(record.request_id,
                               lambda: images.restored(self.journal, job_from_record(record)))
        self._know(job)
        return job

    def price(self, job: Job, *, wait: bool = False) -> None:
        """Hand a finished job the catalogue it wants (its price when the body has no ticks,
        the model that served a retired name), fetched in the background on the loop thread.
        ``wait``: a command about to show the job waits for it, at most VIEW_WAIT seconds."""
        if not job.wants_catalogue():
            return
        future = self.catalogues.fetch_for(job.base_url)
        if future is None:
            return
        future.add_done_callback(lambda done: _hand_prices(job, done))
        if wait and not self.loop.in_loop_thread():
            concurrent.futures.wait([future], min(self.settings.poll.request_timeout, VIEW_WAIT))
            _hand_prices(job, future)  # its callback may run a moment after the waiter wakes

    def forget(self, job: Job) -> None:
        """Drop the job here and from the journal, and the stored images no row refers to any
        more; a pending one still runs (and costs) at xAI."""
        if not job.done:
            self.engine_for(job).cancel(job, f"Forgotten: {job.request_id} is no longer "
                                        "polled and its journal row is gone; the job still runs, "
                                        "and costs, at xAI.")
            job.bind(None)  # nothing to resume: the answer could not be journaled
        JOBS.remove(job)
        with self._lock:
            if job in self._known:
                self._known.remove(job)
        self.journal.forget(job.request_id or job.local_id)
        self.journal.sweep_images()  # its images, unless another row still sends them

    def models(self, refresh: bool = False) -> Catalogue:
        """The models this key may use at the current base URL (cached; ``refresh`` re-asks)."""
        return self.catalogues.get(refresh)

    # --- waiting --------------------------------------------------------------------------------

    def pending(self) -> list[Job]:
        """Jobs this kernel is submitting or polling (not those left to another server), and
        thread turns queued here behind one of them."""
        return [
            j for j in self._jobs()
            if j.status in (QUEUED, *PENDING_STATUSES)
            and (j in self.here or self.engine_for(j).tracks(j))
        ]

    # --- lifecycle ------------------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.presenter.tick()
            for panel in list(self.panels):
                panel.tick()  # JobsPanel.tick never raises

    def close(self, timeout: float | None = None) -> None:
        """Stop polling (requests in flight journal their answers, within ``timeout``) and the
        loop thread; the journal keeps every job for the next load."""
        self._ticking.cancel()
        for submitter in list(self._group_submitters):
            submitter.halt()  # no new POST; the poller lets those in flight journal their ids
        for engine in self.engines.values():
            engine.close(timeout)
        self.loop.stop(5.0 if timeout is None else 1.0)
        self.journal.close()


def _price_when_finished(job: Job) -> None:
    """A job's listener: once it is finished, the current runtime prices it."""
    runtime = current_runtime()
    if runtime is not None and job.done:
        runtime.price(job)


def _hand_prices(job: Job, fetched: concurrent.futures.Future[Catalogue]) -> None:
    if fetched.done() and not fetched.cancelled() and fetched.exception() is None:
        job.prices_arrived(fetched.result())


def _warn(line: str) -> None:
    """One plain line on stderr: a RuntimeWarning would add a file path and a source line."""
    print(f"xai_defer_magic: {line}", file=sys.stderr)


class _Dispatch:
    """What every handle's cancel()/resume() go to: the engine of the runtime that is current
    now, so a handle taken before ``%reload_ext`` keeps working after it."""

    def cancel(self, job: Job) -> None:
        runtime = current_runtime()
        if job.status == QUEUED:  # a thread turn not sent yet: it never will be
            job.set_status("cancelled", error=JobCancelled(
                "Cancelled before it was sent (it waited for the turn before it); re-run its "
                "cell to ask it again."))
            return
        if runtime is None:  # nothing polls it: cancelling is only a local mark
            job.set_status("cancelled", error=JobCancelled(
                f"Polling of {job.request_id} was cancelled; job.resume() picks it up again."
            ))
            return
        runtime.engine_for(job).cancel(job)

    def resume(self, job: Job) -> None:
        runtime = get_runtime()
        # No id yet: the engine knows whether its POST is still on the way.
        if job.request_id is None or runtime.ensure_polling(job):
            runtime.engine_for(job).resume(job)


CONTROLLER = _Dispatch()

_runtime: Runtime | None = None
_runtime_lock = threading.Lock()
# The presenter last handed to get_runtime: live cards outlive a runtime (%reload_ext, or a
# handle's resume() after %unload_ext), so the next runtime of the process keeps showing them.
_presenter: Presenter | None = None


def get_runtime(settings: Settings | None = None,
                presenter: Presenter | None = None) -> Runtime:
    """The process's runtime, made on first use; ``settings`` and ``presenter`` given here
    apply to it whether it is new or not."""
    global _runtime, _presenter
    with _runtime_lock:
        _presenter = presenter or _presenter
        if _runtime is None:
            _runtime = Runtime(settings, _presenter)
        else:
            if settings is not None:
                _runtime.apply(settings)
            if presenter is not None:
                _runtime.use_presenter(presenter)
        return _runtime


def current_runtime() -> Runtime | None:
    return _runtime


def close_runtime(timeout: float | None = None) -> None:
    global _runtime
    with _runtime_lock:
        if _runtime is not None:
            _runtime.close(timeout)
            _runtime = None
