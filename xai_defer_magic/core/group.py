"""The group handle a fan-out returns: one job per input item, in input order.

``len(g)``, ``for job in g``, ``g[i]``, ``g.results()``, ``await g``, ``g.to_pandas()``,
``g.cancel()``, ``g.retry_failed()``. Waiting uses a condition variable fed by the jobs'
listeners (no nested event loop; see the README's "Why no nest-asyncio").
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

from xai_defer_magic.core.failures import log_once
from xai_defer_magic.core.group_table import to_pandas
from xai_defer_magic.core.job import Job
from xai_defer_magic.errors import GrokDeferError, JobTimeout

FAILED_STATUSES = ("failed", "expired", "timed_out", "cancelled")


class Group:
    """A fan-out: ``jobs[i]`` answers input item ``i`` (its index label is ``labels[i]``)."""

    def __init__(
        self,
        group_id: str,
        jobs: list[Job],
        *,
        labels: list[Any],
        values: list[Any],
        columns: list[str],
        template: str,
        model: str,
        created_at: float | None = None,
    ) -> None:
        self.id = group_id
        self.jobs = jobs
        self.labels = labels
        self.values = values
        self.columns = columns  # the DataFrame's columns; [] for a list or Series of items
        self.template = template
        self.model = model
        self.created_at = time.time() if created_at is None else created_at
        self.ended_at: float | None = None
        self.source_index: Any = None  # the input's pandas index, kept as is for to_pandas()
        self.controller: Any = None  # group_submit.GroupSubmitter, while this kernel owns it
        self.card: Any = None  # group_card.GroupCard shown by the cell that made the group
        self.engine = "deferred"  # or "batch" (--batch: one xAI batch, batch_groups)
        self.batch_id: str | None = None  # the xAI batch of a --batch group, once created
        self._changed = threading.Condition()
        self._listeners: list[Callable[[Group], None]] = []
        self.version = 0  # bumped on every item change (the card re-renders when it moved)
        # Items that have ended, kept from their notifications: a group of 10,000 items must not
        # re-read every item each time one of them changes.
        self._ended = {id(job) for job in jobs if job.done}
        self._tally = threading.Lock()
        for job in jobs:
            job.add_listener(self._on_job)

    # --- what users read ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs)

    def __getitem__(self, index: int) -> Job:
        return self.jobs[index]

    def counts(self) -> dict[str, int]:
        """``done``, ``failed`` (any unsuccessful end), ``pending`` and ``submitted``."""
        done = failed = submitted = 0
        for job in self.jobs:
            if job.status == "done":
                done += 1
            elif job.status in FAILED_STATUSES:
                failed += 1
            if job.request_id:
                submitted += 1
        return {"done": done, "failed": failed, "pending": len(self.jobs) - done - failed,
                "submitted": submitted}

    @property
    def done(self) -> bool:
        return len(self._ended) == len(self.jobs)

    @property
    def status(self) -> str:
        c = self.counts()
        if c["pending"]:
            return "submitting" if c["submitted"] + c["failed"] < len(self.jobs) else "pending"
        return "done" if not c["failed"] else "finished with failures"

    def __repr__(self) -> str:
        c = self.counts()
        return (f"<Group {self.id} {self.model} {len(self)} items: {c['done']} done, "
                f"{c['failed']} failed, {c['pending']} pending, {c['submitted']} submitted>")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    # --- waiting -------------------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every item has finished; False if ``timeout`` came first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not self.done:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(0.5 if left is None else min(left, 0.5))
        return True

    def results(self, timeout: float | None = None, raise_errors: bool = False) -> list[Any]:
        """Answers in input order; None for an item that failed, unless ``raise_errors``."""
        if not self.wait(timeout):
            c = self.counts()
            raise JobTimeout(f"Group {self.id}: {c['pending']} of {len(self)} items still "
                             f"pending after {timeout:g} s; they keep running (wait again).")
        answers: list[Any] = []
        for job in self.jobs:
            if job.status == "done":
                answers.append(job.content)
            elif raise_errors:
                job.result(0)  # raises the job's own error
            else:
                answers.append(None)
        return answers

    def __await__(self) -> Generator[Any, None, list[Any]]:
        return self._wait_async().__await__()

    async def _wait_async(self) -> list[Any]:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.wait)
        return self.results(0)

    # --- control ----------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop submitting and stop polling. Items already sent keep running at xAI; for a
        ``--batch`` group the batch itself is cancelled (finished answers stay)."""
        if self.controller is not None:
            self.controller.cancel()
        for job in self.jobs:
            if not job.done and job.request_id:
                job.cancel()

    def retry_failed(self) -> int:
        """Send the failed items again (polling again where the answer may still be there);
        returns how many. Items marked unknown after a crash are among them: they may already
        have run once, and this is the one place that may send them a second time."""
        if self.controller is None:
            raise GrokDeferError(f"Group {self.id} is not owned by this kernel; %load_ext "
                                 "resumes it when its kernel is gone.")
        return int(self.controller.retry_failed())

    # --- data ---------------------------------------------------------------------------------

    def to_pandas(self) -> Any:
        """One row per input item, on the input's index: its columns (or ``item``), then
        ``answer``, ``status``, ``error``, tokens, ``cost_usd``, ``request_id`` and, with
        ``--schema``, one column per parsed field (and ``parse_error``)."""
        return to_pandas(self)

    # --- used by the runtime and the engines ----------------------------------------------------

    def driven_by(self, controller: Any) -> None:
        """What ``cancel()`` and ``retry_failed()`` go to (None: nothing in this kernel)."""
        self.controller = controller

    def shown_in(self, card: Any) -> None:
        """The card the cell that made the group shows (it moves with the group on reload)."""
        self.card = card

    def indexed_like(self, source_index: Any) -> None:
        """The input's pandas index, for ``to_pandas()``."""
        self.source_index = source_index

    def run_as_batch(self, batch_id: str | None = None) -> None:
        """The group runs as one xAI batch (``--batch``), known by ``batch_id`` once created."""
        self.engine = "batch"
        self.batch_known(batch_id)

    def batch_known(self, batch_id: str | None) -> None:
        """The xAI batch's id; a change moves ``version`` (the card shows the id)."""
        if batch_id != self.batch_id:
            self.batch_id = batch_id
            self.version += 1

    # --- listeners ---------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[Group], None]) -> None:
        self._listeners.append(listener)

    def is_listening(self, listener: Callable[[Group], None]) -> bool:
        return listener in self._listeners

    def remove_listener(self, listener: Callable[[Group], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _on_job(self, job: Job) -> None:
        with self._tally:  # the item's status now, not the event's: the last notification wins
            if job.done:
                self._ended.add(id(job))
            else:
                self._ended.discard(id(job))
        self.version += 1
        if self.ended_at is None and self.done:
            self.ended_at = time.time()
        elif not self.done:
            self.ended_at = None
        for listener in list(self._listeners):  # views first: a woken wait() finds them done
            try:
                listener(self)
            except Exception as exc:  # a broken view must never stop the submitter or the poller
                log_once("a group listener", exc)
        with self._changed:
            self._changed.notify_all()
