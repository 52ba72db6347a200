"""Queued thread turns: sent the moment the answer they follow is journaled, once.

A turn written while its predecessor is pending is a ``queued`` job (no job row, one thread
row holding everything its cell asked for: the body's parameters, its images, and the
options outside the body such as ``--timeout`` and ``--fresh``). It listens to its
predecessor: when that job ends, :mod:`thread_dispatch` sends it (or reuses an identical
answer), or fails it with one line if the predecessor failed, was cancelled, expired or
timed out; a failed queued turn fails its own follower in turn. A queued turn cancelled (or
replaced by a re-run of its cell) is written ``cancelled`` at once, so no later kernel sends
it. ``resume_threads`` (on ``%load_ext``) picks up what a killed kernel left queued: a turn
whose body was written but whose job row never was is sent, one whose job row exists is not.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from xai_defer_magic.core.job import QUEUED, Job, is_local_id
from xai_defer_magic.core.thread import Turn, body_of, current_line
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.journal import STATUSES, canonical_request
from xai_defer_magic.journal.leases import owner_is_dead, process_owner
from xai_defer_magic.runtime.runtime import current_runtime
from xai_defer_magic.runtime.thread_dispatch import dispatch, fail, left_line
from xai_defer_magic.runtime.thread_registry import Registry, registry_for

if TYPE_CHECKING:
    from xai_defer_magic.runtime.runtime import Runtime


class Dispatcher:
    """Listens to a queued turn's predecessor (when it ends, the turn is dispatched) and to
    the turn itself (a cancel while it waits is written to the journal); acts once."""

    def __init__(self, registry: Registry, turn: Turn, job: Job, before: Job,
                 number: int) -> None:
        self.registry, self.turn, self.job, self.before = registry, turn, job, before
        self.number = number
        self._lock = threading.Lock()
        self._fired = False

    def _fire(self) -> bool:
        with self._lock:
            fired, self._fired = self._fired, True
        if not fired:
            self.before.remove_listener(self)
            self.job.remove_listener(self)
        return not fired

    def __call__(self, changed: Job) -> None:
        if changed is self.job:
            if self.job.status == "cancelled" and self._fire():  # cancelled while it waits
                self.registry.store.set_state(self.turn.turn_id, "cancelled",
                                              error=self.job.error)
            return
        if not self.before.done or not self._fire():
            return
        runtime = current_runtime()  # after %reload_ext: the runtime of now, not of then
        if runtime is not None:
            self.registry = registry_for(runtime)
        try:
            dispatch(self.registry, self.turn, self.job, self.before, self.number)
        except Exception as exc:  # a bug must not leave a turn queued forever
            fail(self.registry, self.turn, self.job,
                 f"Not sent: {exc}" if isinstance(exc, InvalidArgument) else
                 f"Internal error while sending turn {self.number}: {exc!r}")


def follow(registry: Registry, turn: Turn, job: Job, before: Job, number: int) -> None:
    """Send ``turn`` (its queued ``job``) once ``before`` has ended."""
    dispatcher = Dispatcher(registry, turn, job, before, number)
    job.add_listener(dispatcher)
    before.add_listener(dispatcher)
    dispatcher(before)  # it may have ended already


def shown_body(turn: Turn) -> dict[str, Any]:
    """What a queued turn's handle shows until its history is known: its system message and
    its own prompt (its images included), with its parameters."""
    return body_of(turn.params, ([{"role": "system", "content": turn.system}]
                                 if turn.system else []) + turn.said)


def queued_job(registry: Registry, turn: Turn, number: int) -> Job:
    """A handle for a turn that waits: status ``queued``, its card says for which turn."""
    runtime = registry.runtime
    job = Job(model=str(turn.params.get("model")), request=shown_body(turn),
              base_url=runtime.base_url(),
              timeout=turn.options.get("timeout"), cell_id=turn.cell_id)
    job.in_thread(turn.thread, number)
    job.queued_behind(f"waits for turn {number - 1}")
    registry.keep(turn, job)
    runtime.register(job)
    return job


def drop_left_behind(registry: Registry, left: list[Turn], head: str) -> None:
    """A re-run moved the line: its queued turns that are off it now end at once (cancelled,
    in the journal too), instead of waiting for their predecessor to say so."""
    for turn in left:
        job = registry.jobs.get(turn.turn_id)
        if turn.turn_id != head and job is not None and job.status == QUEUED:
            fail(registry, turn, job, left_line(turn), "cancelled")


def resume_threads(runtime: Runtime) -> list[Job]:
    """On load: send or re-queue the turns a stopped kernel left queued (after the jobs
    they follow are resumed), and note the request ids it never wrote."""
    registry = registry_for(runtime)
    resumed = []
    for turn in registry.store.unsettled():
        live = registry.job_of(turn) if registry.driven_here(turn) else None
        if live is not None:  # this process's: followed again if it is still queued (a
            if live.status == QUEUED and turn.state == "queued":  # closed runtime may have
                _requeue(registry, turn, live)  # stopped its send; it leaves queued once)
            continue
        if turn.owner and turn.owner != process_owner() and not owner_is_dead(turn.owner):
            continue  # another live kernel drives it
        if turn.state == "sent" and _settle_sent(registry, turn):
            continue
        resumed.append(_requeue(registry, turn))
    return resumed


def _settle_sent(registry: Registry, turn: Turn) -> bool:
    """A turn whose body was written: True if its job row exists (so it was sent, or reuse
    answered it; a ``--fresh`` turn counts only a row made after it)."""
    assert turn.body is not None
    record = registry.runtime.journal.find_by_request(
        canonical_request(turn.body), registry.runtime.base_url(), STATUSES)
    if record is None or (turn.options.get("fresh") and record.created_at < turn.created_at):
        return False  # the engine journals before it POSTs: this one was never sent
    if not is_local_id(record.request_id):  # an intent row: recovery settles its job
        registry.store.set_state(turn.turn_id, "sent", request_id=record.request_id)
    return True


def _requeue(registry: Registry, turn: Turn, live: Job | None = None) -> Job:
    """Follow ``turn``'s predecessor again with a new queued job (or this process's own)."""
    line = current_line(registry.store.turns(turn.thread), turn.turn_id)
    number = len(line)
    parent = line[-2] if number > 1 else None
    before = registry.job_of(parent) if parent is not None else None
    job = live or queued_job(registry, turn, number)
    if live is None:
        registry.store.set_state(turn.turn_id, "queued", owner=process_owner())
    if parent is not None and before is None:
        fail(registry, turn, job, f"Not sent: turn {number - 1} of thread {turn.thread!r} "
             "is not in the journal.")
    elif before is None:
        dispatch(registry, turn, job, None, number)
    else:
        follow(registry, turn, job, before, number)
    return job


__all__ = ["Dispatcher", "drop_left_behind", "follow", "queued_job", "registry_for",
           "resume_threads", "shown_body"]
