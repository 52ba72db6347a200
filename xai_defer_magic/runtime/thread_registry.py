"""The thread side of one runtime: its thread store and the job of every turn it has met.

Shared by the parts that start turns (:mod:`threads`), wait with queued ones
(:mod:`thread_queue`) and send them (:mod:`thread_dispatch`).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from xai_defer_magic.core.job import Job
from xai_defer_magic.core.thread import Turn, current_line
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.http import credentials
from xai_defer_magic.http.context_lengths import ContextLengths
from xai_defer_magic.journal import STATUSES, canonical_request
from xai_defer_magic.journal.threads import ThreadStore

if TYPE_CHECKING:
    from xai_defer_magic.runtime.runtime import Runtime

# The turn jobs this process drives, by turn id, across runtimes (like registry.JOBS).
LIVE: weakref.WeakValueDictionary[str, Job] = weakref.WeakValueDictionary()


class Registry:
    """This runtime's thread store and the job of each turn it has met."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = ThreadStore(runtime.journal)
        self.jobs: dict[str, Job] = {}
        self.limits = ContextLengths(runtime.loop, credentials.api_key,
                                     lambda: runtime.settings.poll.request_timeout)

    def job_of(self, turn: Turn) -> Job | None:
        """The handle of ``turn``'s job: made here, followed here, or read from the journal."""
        job = self.jobs.get(turn.turn_id) or LIVE.get(turn.turn_id)
        if job is None and turn.request_id:
            job = self.runtime.get(turn.request_id)
        if job is None and turn.body is not None:
            record = self.runtime.journal.find_by_request(
                canonical_request(turn.body), self.runtime.base_url(), STATUSES)
            job = None if record is None else self.runtime.adopt(record)
        if job is not None:
            self.keep(turn, job)
        return job

    def driven_here(self, turn: Turn) -> bool:
        """True if this process already has ``turn``'s job."""
        return turn.turn_id in self.jobs or turn.turn_id in LIVE

    def keep(self, turn: Turn, job: Job) -> None:
        self.jobs[turn.turn_id] = LIVE[turn.turn_id] = job

    def on_line(self, turn: Turn) -> bool:
        """True while ``turn`` is on its thread's current line."""
        row = self.store.thread(turn.thread)
        line = current_line(self.store.turns(turn.thread), row.head if row else None)
        return any(t.turn_id == turn.turn_id for t in line)

    def line_to(self, turn: Turn) -> list[Turn]:
        """The turns ``turn`` follows, first to last (its own line, wherever the head is)."""
        return current_line(self.store.turns(turn.thread), turn.parent)

    def answered(self, line: list[Turn], *, strict: bool = True) -> list[tuple[Turn, str]]:
        """Each turn of ``line`` with its answer; ``strict``: one line if one has none,
        else stop at the first turn without one."""
        exchanges = []
        for number, turn in enumerate(line, 1):
            job = self.job_of(turn)
            if job is None or job.status != "done":
                if not strict:
                    break
                status = (f"ended {job.status}" if job is not None else
                          f"ended {turn.state}" if turn.state in ("failed", "cancelled") else
                          "is lost")
                raise InvalidArgument(
                    f"Turn {number} of thread {turn.thread!r} {status}: re-run its cell, or "
                    "start a new thread.")
            exchanges.append((turn, job.content or ""))
        return exchanges


_registries: weakref.WeakKeyDictionary[Any, Registry] = weakref.WeakKeyDictionary()


def registry_for(runtime: Runtime) -> Registry:
    registry = _registries.get(runtime)
    if registry is None:
        registry = _registries[runtime] = Registry(runtime)
    return registry


def counted_tokens(before: Job | None) -> int | None:
    """The prompt + completion tokens of the turn a new one follows, as the server counted
    them (None for a first turn, or an answer without usage)."""
    if before is None or before.completion is None:
        return None
    usage = before.completion.usage
    if usage.prompt_tokens is None and usage.completion_tokens is None:
        return None
    return (usage.prompt_tokens or 0) + (usage.completion_tokens or 0)


class IdNote:
    """A turn job's listener: writes its request id to the turn's row once the server gives
    it (or the turn's failure, when the POST never made a job)."""

    def __init__(self, store: ThreadStore, turn_id: str) -> None:
        self.store, self.turn_id, self.noted = store, turn_id, False

    def __call__(self, job: Job) -> None:
        if self.noted:
            return
        if job.request_id:
            self.noted = True
            self.store.set_state(self.turn_id, "sent", request_id=job.request_id)
        elif job.done:
            self.noted = True
            self.store.set_state(self.turn_id, "failed", error=job.error)


def note_request_id(registry: Registry, turn: Turn, job: Job) -> None:
    if job.request_id is None:
        note = IdNote(registry.store, turn.turn_id)
        job.add_listener(note)
        note(job)
