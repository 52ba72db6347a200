"""Fan-out groups run through xAI's Batch API (``--batch``): one batch per cell, resumable.

A :class:`BatchGroupRunner` drives one :class:`engine.BatchEngine` for one group: request
ids are the group id plus the item index (``g-…-000007``), so re-adding after a crash is
idempotent; the engine journals them and the batch id before the first add
(:class:`journal.batches.SQLiteBatchStore`, the jobs journal's file) and each result as it
arrives, and every result finishes its item's job the way the poller finishes a deferred one
(the ``chat_get_completion`` body through :func:`core.completion.parse_completion`). A group's
runner is its ``controller`` (``g.cancel()`` cancels the batch at xAI).

:class:`BatchGroups` is the runtime's ``"batch"`` engine (:mod:`engines.base`): it knows which
runner follows which item, so ``%grok_wait``, ``job.cancel()`` and ``job.resume()`` reach it.
Its unit of submission is a group, not a job: groups start through ``runtime.batch_fanout``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xai_defer_magic.core.completion import parse_completion
from xai_defer_magic.core.group import Group
from xai_defer_magic.core.job import PENDING_STATUSES, Job
from xai_defer_magic.core.schedule import PollSchedule
from xai_defer_magic.engines.batch.engine import (
    BatchEngine,
    EngineSettings,
    batch_name,
    parse_result_text,
)
from xai_defer_magic.engines.host import EngineHost
from xai_defer_magic.engines.preflight import images_refused
from xai_defer_magic.engines.wire import wire_body
from xai_defer_magic.errors import GrokDeferError, InvalidRequest, JobCancelled, MalformedResponse
from xai_defer_magic.http import credentials
from xai_defer_magic.http.batch import BatchClient, BatchInfo, BatchResult
from xai_defer_magic.http.transport import Transport
from xai_defer_magic.journal import job_record
from xai_defer_magic.journal.batches import SQLiteBatchStore
from xai_defer_magic.journal.blobs import BlobStore
from xai_defer_magic.journal.groups import GroupStore

ENGINE_NAME = "batch"
CHUNK_ITEMS = 1000  # items per add call (and <= 20 MiB: http.batch.chunk); tests make it smaller
BATCH_CAP = 10.0  # at most one GET of a batch per 10 s once it is older than 100 s


def batch_request_id(group_id: str, position: int) -> str:
    """Deterministic, so a re-add after a crash is the same request (and sorts in input order)."""
    return f"{group_id}-{position:06d}"


def journal_home(store: GroupStore) -> Path | None:
    """The journal's directory (the batch tables live in its file), or None when it has none."""
    return store.path.parent if store.path is not None else None


class _WatchedClient(BatchClient):
    """A :class:`BatchClient` that says when the first add call was answered (or refused)."""

    def __init__(self, *args: Any, on_first_add: Callable[[BaseException | None], None],
                 blobs: BlobStore, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_first_add = on_first_add
        self._blobs = blobs

    async def add_requests(self, batch_id: str, items: Any, should_stop: Any = None,
                           on_chunk_added: Any = None) -> int:
        def added() -> None:
            self._on_first_add(None)  # a later call's failure cannot undo this
            if on_chunk_added is not None:
                on_chunk_added()

        try:
            sent = 0
            for start in range(0, len(items), self.max_items):  # images inlined a chunk at a time
                window = [(rid, wire_body(body, self._blobs))
                          for rid, body in items[start:start + self.max_items]]
                sent += await super().add_requests(batch_id, window, should_stop, added)
        except GrokDeferError as exc:
            self._on_first_add(exc)
            raise
        self._on_first_add(None)
        return sent


class BatchGroupRunner:
    """Runs (or resumes) one group's batch on the loop thread; the group's ``controller``."""

    def __init__(self, runtime: EngineHost, store: GroupStore, group: Group, *,
                 cell: str | None = None) -> None:
        self.runtime = runtime
        self.store = store
        self.group = group
        self.name = batch_name(group.id, cell)  # a resumed run keeps the journaled name
        self.batch_store = SQLiteBatchStore(store.journal, group.id,
                                            base_url=group.jobs[0].base_url)
        self.admitted: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.cancelling = False
        self.engine: BatchEngine | None = None
        self._future: concurrent.futures.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._halted = False
        group.driven_by(self)
        saved = self.batch_store.saved_batch()
        if saved is not None:
            group.batch_known(saved.batch_id)

    @property
    def running(self) -> bool:
        return self._future is not None and not self._future.done()

    def start(self) -> None:
        if not self.running:
            self._halted = False
            self._future = self.runtime.loop.submit(self._run())

    async def halt(self) -> None:
        """Stop following the batch here (its runtime closes) and return once the run has let
        go, so its connection pool can close under no request. The batch keeps running at xAI
        and everything so far is journaled: the next load resumes it. On the loop thread."""
        self._halted = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    def cancel(self) -> None:
        """Cancel the batch at xAI: finished results stay, the rest come back cancelled."""
        self.cancelling = True
        self.store.set_cancelled(self.group.id, True)
        engine = self.engine
        if engine is not None and self.running:
            self.runtime.loop.submit(engine.cancel())
        else:
            self._settle_unfinished()

    def retry_failed(self) -> int:
        """Follow the same batch again after the run stopped (network, a crash): nothing is
        re-sent that xAI admitted; items with a result (answers or errors) stay as they are."""
        if self.running:
            return 0
        saved = self.batch_store.saved_results()
        again = [job for i, job in enumerate(self.group.jobs)
                 if batch_request_id(self.group.id, i) not in saved and job.status != "done"]
        for job in again:
            job.set_status("pending" if job.request_id else "submitting")
        self.cancelling = False
        self.store.set_cancelled(self.group.id, False)
        if again:
            self.start()
        return len(again)

    # --- on the loop thread ------------------------------------------------------------------

    async def _run(self) -> None:
        self._task = asyncio.current_task()
        group = self.group
        refusal = await self._images_refused()
        if refusal is not None:  # nothing created, nothing sent: the items fail with the line
            self._first_add(refusal)
            self._fail_unfinished(refusal)
            return
        items = [(batch_request_id(group.id, i), job.request) for i, job in enumerate(group.jobs)]
        http = engine_for(self.runtime).http()
        client = _WatchedClient(http, group.jobs[0].base_url, credentials.api_key(),
                                max_items=CHUNK_ITEMS, on_first_add=self._first_add,
                                blobs=self.runtime.journal.blobs)
        poll = self.runtime.settings.poll.schedule
        settings = EngineSettings(
            schedule=PollSchedule(first=poll.first, growth=0.1, cap=BATCH_CAP, jitter=0.1),
            results_schedule=PollSchedule(first=poll.first, growth=0.25, cap=30.0, jitter=0.0))
        self.engine = engine = BatchEngine(
            client, self.batch_store, items, name=self.name, settings=settings,
            on_result=self._on_result, on_state=self._on_state, on_added=self._on_added)
        if self.cancelling:
            await engine.cancel()
        try:
            await engine.run()
        except asyncio.CancelledError:
            raise  # the runtime is closing: everything so far is journaled; a restart resumes
        except Exception as exc:
            if self._halted:  # whatever a halted run met (a closed pool): its items go on in
                return        # the next runtime, which resumes them from the journal
            error = exc if isinstance(exc, GrokDeferError) else GrokDeferError(
                f"Internal error in batch {engine.batch_id}: {exc!r}")  # never pending forever
            self._first_add(error)
            self._fail_unfinished(error)
            return
        self._first_add(None)
        self._settle_unfinished()

    async def _images_refused(self) -> InvalidRequest | None:
        """Before a new batch is created: does its model read the images it would carry?"""
        with_images = next((j.request for j in self.group.jobs if j.images), None)
        if with_images is None or self.batch_store.saved_batch() is not None:
            return None
        poller = self.runtime.poller
        line = await images_refused(poller.catalogues, with_images, self.group.jobs[0].base_url,
                                    poller.settings.request_timeout)
        return None if line is None else InvalidRequest(line)

    def _first_add(self, error: BaseException | None) -> None:
        if self.admitted.done():
            return
        self._note_batch_id()  # refused or not, the batch exists (the card names it)
        if error is None:
            self.admitted.set_result(None)
        else:
            self.admitted.set_exception(error)

    def _on_result(self, index: int, result: BatchResult) -> None:
        job = self.group.jobs[index]
        if result.completion is not None and job.request_id and _parses(result.completion):
            # First a job row (journal first): a re-run of the same requests reuses it
            # (reuse.find_twin), even one that starts the moment this item shows done.
            self.runtime.journal.add(job_record(
                job, "done", response_text=json.dumps(result.completion, ensure_ascii=False),
                finished_at=time.time()))
        finish_from_result(job, result, self.group.batch_id)

    def _on_state(self, info: BatchInfo) -> None:
        self.group.batch_known(info.batch_id)

    def _on_added(self, batch_id: str) -> None:
        self._note_batch_id()
        for position, job in enumerate(self.group.jobs):
            if job.request_id is None:
                job.accepted(batch_request_id(self.group.id, position))
                if job.status == "submitting":
                    job.set_status("pending")

    def _note_batch_id(self) -> None:
        if self.engine is not None and self.engine.batch_id and not self.group.batch_id:
            self.group.batch_known(self.engine.batch_id)

    def _fail_unfinished(self, exc: GrokDeferError) -> None:
        for job in self.group.jobs:
            if not job.done:
                job.set_status("failed", error=exc)

    def _settle_unfinished(self) -> None:
        """After a cancel, items that never reached the batch (or never got a result)."""
        if not self.cancelling:
            return
        for job in self.group.jobs:
            if not job.done:
                job.set_status("cancelled", error=JobCancelled(
                    f"Not run: group {self.group.id} was cancelled before xAI ran this item."))


def _parses(completion: Any) -> bool:
    try:
        parse_completion(completion)
    except MalformedResponse:
        return False
    return True


def finish_from_result(job: Job, result: BatchResult, batch_id: str | None) -> None:
    """One result row ends its item: the answer, its one-line error, or cancelled."""
    if result.completion is not None:
        try:
            completion = parse_completion(result.completion)
        except MalformedResponse as exc:
            job.set_status("failed", error=MalformedResponse(
                f"{exc.message} The raw result is kept in the journal."))
            return
        job.finish(completion)
    elif result.cancelled:
        job.set_status("cancelled", error=JobCancelled(
            f"Cancelled with batch {batch_id or ''} before xAI ran it.".replace("  ", " ")))
    else:
        job.set_status("failed", error=GrokDeferError(result.error or "failed in the batch"))


def saved_result(store: SQLiteBatchStore, group_id: str, position: int,
                 saved: dict[str, str]) -> BatchResult | None:
    text = saved.get(batch_request_id(group_id, position))
    return None if text is None else parse_result_text(text)


class BatchGroups:
    """The ``"batch"`` engine of a runtime: routes item-level calls to their group's runner."""

    name = ENGINE_NAME

    def __init__(self, runtime: EngineHost) -> None:
        self.runtime = runtime
        self._transport = Transport()
        self._runners: dict[int, BatchGroupRunner] = {}  # id(job) -> the runner of its group

    def http(self) -> Any:
        """The batch path's own connection pool (on the loop thread)."""
        return self._transport.http(self.runtime.settings.poll.max_in_flight)

    def adopt(self, runner: BatchGroupRunner) -> None:
        for job in runner.group.jobs:
            job.run_by(ENGINE_NAME)
            self._runners[id(job)] = runner

    # --- engine.Engine ---------------------------------------------------------------------

    def submit(self, job: Job, body: dict[str, Any]) -> concurrent.futures.Future[None]:
        """A batch is filled per group: one job alone goes through a group of one."""
        raise GrokDeferError("A batch job is submitted with its group: %%grok_defer --batch "
                             "or defer_many(..., batch=True).")

    def track(self, job: Job) -> None:
        runner = self._runners.get(id(job))
        if runner is not None and not runner.cancelling:
            runner.start()

    def tracks(self, job: Job) -> bool:
        runner = self._runners.get(id(job))
        return runner is not None and runner.running

    def cancel(self, job: Job, reason: str | None = None) -> None:
        """One item cannot leave a batch: stop following it locally (the group's cancel, which
        cancels the batch, leaves its items to xAI's results)."""
        runner = self._runners.get(id(job))
        if job.done or (runner is not None and runner.cancelling):
            return
        job.set_status("cancelled", error=JobCancelled(
            reason or "Stopped following this item; it still runs in its batch (job.resume())."))

    def resume(self, job: Job) -> None:
        if job.status in PENDING_STATUSES or job.status == "done":
            return
        runner = self._runners.get(id(job))
        if runner is None:
            return
        result = saved_result(runner.batch_store, runner.group.id,
                              runner.group.jobs.index(job), runner.batch_store.saved_results())
        if result is not None:
            finish_from_result(job, result, runner.group.batch_id)
            return
        job.set_status("pending" if job.request_id else "submitting")
        runner.start()

    def close(self, timeout: float | None = None) -> None:
        """Stop following batches (they keep running at xAI; the next load resumes them)."""
        loop = self.runtime.loop
        if not loop.loop.is_running():
            return
        runners = list({id(r): r for r in self._runners.values()}.values())
        try:
            loop.run(self._close(runners), timeout=5.0 if timeout is None else timeout)
        except Exception:
            pass

    async def _close(self, runners: list[BatchGroupRunner]) -> None:
        await asyncio.gather(*(runner.halt() for runner in runners))
        await self._transport.aclose()


def engine_for(runtime: EngineHost) -> BatchGroups:
    """The runtime's batch engine, registered on first use."""
    engine = runtime.engines.get(ENGINE_NAME)
    if engine is None:
        engine = runtime.engines[ENGINE_NAME] = BatchGroups(runtime)
    assert isinstance(engine, BatchGroups)
    return engine
