"""Sending a new job: journaled before the POST, finished by the POST's own completion.

The cell that submits journals the intent and returns (a real POST is a TLS round trip away);
the POST and everything after it (journaling the server's id, starting to poll) run on the
loop thread, shielded. So a ``KeyboardInterrupt``, or ``%unload_ext`` while the POST is on the
wire, cannot orphan a job the server created and bills: the intent row (status
``submitting``, keyed by the job's local id) is re-keyed to the real id the moment it arrives,
and the handle follows it. A job cancelled meanwhile keeps its id, journaled as cancelled.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import TYPE_CHECKING, Any

from xai_defer_magic.core.job import Job
from xai_defer_magic.engines.preflight import images_refused
from xai_defer_magic.engines.wire import wire_body
from xai_defer_magic.errors import GrokDeferError, InvalidRequest, NetworkError
from xai_defer_magic.journal import job_record

if TYPE_CHECKING:
    from xai_defer_magic.engines.deferred.poller import Poller

class Submitter:
    """The submit half of the deferred engine."""

    def __init__(self, poller: Poller) -> None:
        self._poller = poller
        self._sending: set[str] = set()  # local ids whose POST has not answered yet

    def sending(self, job: Job) -> bool:
        """True while ``job``'s POST is on the wire (no id, no failure yet)."""
        return job.local_id in self._sending

    def start(self, job: Job, body: dict[str, Any]) -> concurrent.futures.Future[None]:
        """Journal the intent (on the caller's thread, before anything is sent), then POST."""
        self._poller.journal.add_intent(job_record(job, "submitting"))
        self._sending.add(job.local_id)
        return self._poller.loop.submit(self._send(job, body))

    async def _send(self, job: Job, body: dict[str, Any]) -> None:
        post = asyncio.ensure_future(self._post_and_journal(job, body))
        post.add_done_callback(lambda _: self._sending.discard(job.local_id))
        self._poller.hold(post)
        await asyncio.shield(post)

    async def _post_and_journal(self, job: Job, body: dict[str, Any]) -> None:
        poller = self._poller
        refusal = await images_refused(poller.catalogues, body, job.base_url,
                                       poller.settings.request_timeout)
        if refusal is not None:  # nothing was sent
            self._failed(job, InvalidRequest(refusal))
            return
        try:
            async with poller.semaphore():
                wire = wire_body(body, poller.journal.blobs)  # images inlined, just in time
                request_id = await poller.client_for(job.base_url).submit(wire)
        except GrokDeferError as exc:
            self._failed(job, exc)
            return
        except Exception as exc:  # never leave a handle "submitting" forever
            self._failed(job, GrokDeferError(f"Internal error while submitting: {exc!r}"))
            return
        job.accepted(request_id)
        try:
            self._journal_and_track(job, request_id)
        except Exception as exc:  # the id is known: say it, so the job can be found again
            job.set_status("failed", error=GrokDeferError(
                f"Internal error after submitting {request_id}: {exc!r}"
            ))

    def _journal_and_track(self, job: Job, request_id: str) -> None:
        poller = self._poller
        journal = poller.journal
        if not journal.assign_request_id(job.local_id, request_id):
            journal.add(job_record(job, "pending"))  # the intent row is gone (e.g. forgotten)
        poller.on_submitted(job)
        if job.status == "cancelled":  # cancelled while the POST was on the wire: keep it so
            journal.set_status(request_id, "cancelled", error=job.error,
                               finished_at=job.finished_at)
            return
        poller.track(job)  # first: nobody may see it pending and not followed
        job.polling()

    def _failed(self, job: Job, error: GrokDeferError) -> None:
        """Keep the intent row (as failed) only if the server may have created the job.

        Journal first: whoever sees the handle fail finds the journal already settled."""
        journal = self._poller.journal
        finished_at = time.time()
        if isinstance(error, NetworkError) and not error.never_sent:
            journal.set_status(job.local_id, "failed", error=error.message,
                               finished_at=finished_at)
        else:  # refused, or never sent: no job exists at xAI, so nothing to remember
            journal.forget(job.local_id)
        job.set_status("failed", error=error, finished_at=finished_at)
