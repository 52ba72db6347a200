"""Re-runs that do not pay twice.

"Run All" re-submits every cell, and a deferred answer costs as much the second time. A request
identical to a journaled one (model, messages after templating, every parameter, the same
server) is answered from the journal when that job finished ``done``, and attached to the job
while it is still pending, so nothing is sent. ``--fresh`` (or ``GrokDefer.reuse = False``)
asks again. Identity is the canonical JSON text the journal stores, so "identical" means
identical on the wire, not "similar".
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from xai_defer_magic.core.job import PENDING_STATUSES, Job
from xai_defer_magic.journal import JobRecord, canonical_request, job_from_record

if TYPE_CHECKING:
    from xai_defer_magic.runtime.runtime import Runtime

TWIN_STATUSES = ("done", *PENDING_STATUSES)


@dataclass(frozen=True)
class ReusedFrom:
    """Where a reused answer came from: shown on the card and kept on the handle."""

    request_id: str
    created_at: float
    finished_at: float | None

    def line(self) -> str:
        """``reused answer from <time>, request <id>; --fresh asks again``."""
        when = self.finished_at or self.created_at
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(when))
        return f"reused answer from {stamp}, request {self.request_id}; --fresh asks again"


def find_twin(runtime: Runtime, body: dict[str, Any], base_url: str) -> Job | None:
    """The job that already answers ``body`` on ``base_url``: a reused copy or a pending twin.

    A done twin gives a new handle carrying the stored answer (so the original cell's handle
    is untouched); a pending twin is returned itself, polled if nothing polls it yet.
    """
    record = runtime.journal.find_by_request(canonical_request(body), base_url, TWIN_STATUSES)
    if record is None:
        return None
    twin = None if record.status == "done" else runtime.get(record.request_id)
    if twin is not None and twin.status == "done" and twin.response is not None:
        # Answered in this process, while the row's answer and status may still be queued
        # behind a lock (the journal replays them): the handle holds the same body.
        record = replace(record, status="done", response_text=json.dumps(twin.response),
                         finished_at=twin.finished_at)
    if record.status == "done":
        copy = _reused_copy(record) if record.response_text is not None else None
        if copy is not None:
            runtime.price(copy)
        return copy
    if twin is None or twin.done:
        return None
    runtime.ensure_polling(twin)
    return twin


def _reused_copy(record: JobRecord) -> Job | None:
    job = job_from_record(record)
    if job.status != "done":  # a stored body that does not parse is not an answer to reuse
        return None
    job.reused(ReusedFrom(record.request_id, record.created_at, record.finished_at))
    return job


def answer_from(job: Job, twin: Job) -> None:
    """A queued thread turn whose body ``twin`` (from :func:`find_twin`) answers: it takes
    the twin's answer now if it is done, else when it ends; a twin that ends otherwise fails
    the turn with one line (nothing was sent for it)."""
    claimed = threading.Lock()  # taken once, by the first call that sees the twin ended

    def settle(ended: Job) -> None:
        if not ended.done or not claimed.acquire(blocking=False):
            return
        ended.remove_listener(settle)
        if ended.status == "done":
            job.answered_like(ended, ended.reused_from or ReusedFrom(
                ended.request_id or "", ended.created_at, ended.finished_at))
        else:
            job.set_status("failed", error=(
                f"Not sent: the identical request {ended.request_id} it was to reuse ended "
                f"{ended.status}; re-run the cell (with --fresh to ask anew)."))

    twin.add_listener(settle)
    settle(twin)
