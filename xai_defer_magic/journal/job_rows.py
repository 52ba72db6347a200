"""The one mapping between a job handle and its journal row, both ways.

Every engine and the runtime write a job's row through :func:`job_record` and read one back
through :func:`job_from_record`, so the columns a handle keeps across kernels are named once.
"""

from __future__ import annotations

from xai_defer_magic.core.completion import parse_completion_text
from xai_defer_magic.core.job import Job
from xai_defer_magic.errors import MalformedResponse

from .leases import process_owner
from .records import JobRecord


def job_record(job: Job, status: str, *, response_text: str | None = None,
               finished_at: float | None = None) -> JobRecord:
    """The journal row of ``job`` (under its request id, or its local id while submitting),
    owned by this process."""
    return JobRecord(
        request_id=job.request_id or job.local_id, created_at=job.created_at, model=job.model,
        request=job.request, base_url=job.base_url, status=status, owner=process_owner(),
        cell_id=job.cell_id, response_text=response_text, finished_at=finished_at,
    )


def job_from_record(record: JobRecord) -> Job:
    """Rebuild a handle from its journal row, parsing a stored answer if there is one."""
    job = Job(
        model=record.model, request=record.request, base_url=record.base_url,
        created_at=record.created_at, cell_id=record.cell_id, key=record.request_id,
        polls=record.polls, last_poll_at=record.last_poll_at,
    )
    if record.response_text is None:
        job.set_status(record.status, error=record.error, finished_at=record.finished_at)
        return job
    try:
        completion = parse_completion_text(record.response_text)
    except MalformedResponse as exc:
        job.set_status("failed", error=exc, finished_at=record.finished_at)
        return job
    job.finish(completion, finished_at=record.finished_at)
    return job
