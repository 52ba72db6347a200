"""The one interface between the runtime and a way of running jobs at xAI.

Today's engine is the deferred-completion poller (:class:`poller.Poller`); xAI's Batch API
plugs in beside it as a second engine with the same five calls, instead of into the poller.
A job names its engine (``job.engine``); the runtime keeps its engines by that name and
routes every call through this interface.

Rules every engine keeps (the promises of the product, whatever the transport):

- ``submit`` journals the job *before* anything is sent, and journals the server's id from
  the send's own completion on the loop thread, so an interrupted cell cannot orphan a job.
- An answer is committed to the journal before it is parsed, shown, or its lease released.
- ``close`` stops starting new requests and lets those in flight land in the journal,
  within ``timeout`` seconds.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any, Protocol, runtime_checkable

from xai_defer_magic.core.job import Job


@runtime_checkable
class Engine(Protocol):
    """Submits, tracks and stops jobs; every method may be called from any thread."""

    name: str  # the value of ``job.engine`` for jobs this engine runs

    def submit(self, job: Job, body: dict[str, Any]) -> concurrent.futures.Future[None]:
        """Journal ``job`` (status ``submitting``), send ``body``, return at once.

        The future completes when the job has left ``submitting``: journaled under the
        server's id and tracked (``pending``), or ``failed``. Waiting on it may be interrupted
        (KeyboardInterrupt) without losing anything: the send finishes by itself.
        """
        ...

    def track(self, job: Job) -> None:
        """Follow a submitted job until it is finished (idempotent)."""
        ...

    def tracks(self, job: Job) -> bool:
        """True while the job is followed (or about to be)."""
        ...

    def cancel(self, job: Job, reason: str | None = None) -> None:
        """Stop following the job now (it keeps running at xAI); a request in flight still
        lands its answer in the journal."""
        ...

    def resume(self, job: Job) -> None:
        """Follow a job again after a cancel, a timeout or a transient failure."""
        ...

    def close(self, timeout: float | None = None) -> None:
        """Start nothing new; let requests in flight finish and journal, within ``timeout``."""
        ...
