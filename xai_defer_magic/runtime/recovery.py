"""Picking up what the journal holds when a runtime starts: handles rebuilt from rows, pending
jobs polled again, and rows a dead kernel left half done settled.

Kept apart from ``runtime`` because it is the one part that reasons about what *another*
kernel (or this one before a crash) was doing: a 200 stored but never parsed, an intent row
whose POST nobody is still sending, a job past its 24 h.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from xai_defer_magic.core.job import PENDING_STATUSES, Job
from xai_defer_magic.engines.deferred.poller import RESULT_LIFETIME
from xai_defer_magic.http.deferred import CONSOLE
from xai_defer_magic.journal import JobRecord
from xai_defer_magic.runtime.registry import JOBS

if TYPE_CHECKING:
    from xai_defer_magic.runtime.runtime import Runtime

SUBMIT_GRACE = 300.0  # an intent row older than this is no POST still on its way
LOST_SUBMIT = (
    "The kernel stopped while this job was being submitted: it may have been created; "
    f"check the xAI console ({CONSOLE})."
)


def resume_unfinished(runtime: Runtime) -> list[Job]:
    """``Runtime.resume_unfinished``: settle what a crash left half done, then poll (or
    expire) every pending job of this kernel's server."""
    for record in runtime.journal.unparsed():  # crashed between storing the 200 and its status
        _settle_stored(runtime, runtime.adopt(record))
    resumed = []
    for record in runtime.journal.unfinished():
        if record.status == "submitting":
            _settle_intent(runtime, record)
            continue
        if record.status not in PENDING_STATUSES:
            continue
        job = runtime.adopt(record)
        if job.done or job.request_id is None:
            continue
        if time.time() - job.created_at > RESULT_LIFETIME:
            runtime.poller.expire(job)
            continue
        if runtime.ensure_polling(job):
            resumed.append(job)
    return resumed


def _settle_stored(runtime: Runtime, job: Job) -> None:
    """Journal the status a stored 200 body gives (never GET it again: it was fetched)."""
    if job.done and job.request_id:
        runtime.journal.set_status(
            job.request_id, job.status, error=job.error, finished_at=job.finished_at
        )


def _settle_intent(runtime: Runtime, record: JobRecord) -> None:
    """An intent row whose POST no process is still sending: say the job may exist."""
    mine = JOBS.find(record.request_id)
    if mine is not None and mine.status == "submitting":
        return  # this process's POST is still on its way
    if time.time() - record.created_at < SUBMIT_GRACE:
        return  # another kernel may be sending it right now
    job = runtime.adopt(record)
    job.set_status("failed", error=LOST_SUBMIT)
    runtime.journal.set_status(
        record.request_id, "failed", error=LOST_SUBMIT, finished_at=job.finished_at
    )

