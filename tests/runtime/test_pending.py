"""What ``%grok_wait`` (no ids) waits for: ``Runtime.pending()``. A job whose POST has just
answered is pending here before its poll task is tracked (its listeners run in between); it
must be waited for all the same (the quickstart's ``%grok_wait`` once said "No pending jobs"
while that job's card was pending)."""

from __future__ import annotations

from xai_defer_magic.core.job import Job
from xai_defer_magic.runtime.runtime import Runtime


def test_a_pending_job_sent_here_is_waited_for_before_its_poll_task_starts(
    runtime: Runtime,
) -> None:
    job = Job(model="grok-4.3", request={"model": "grok-4.3", "messages": []},
              base_url=runtime.base_url())
    runtime.register(job)  # what Runtime.defer does before the POST
    assert job in runtime.pending(), "a submitting job is waited for"
    job.accepted("3f2c1a9e-0000-4000-8000-000000000001")
    job.polling()  # pending, and the poller has not tracked it yet
    assert not runtime.poller.tracks(job)
    assert job in runtime.pending()
