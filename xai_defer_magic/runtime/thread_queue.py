"""Queued thread turns: sent the moment the answer they follow is journaled, once.

A turn written while its predecessor is pending is a ``queued`` job (no job row, one thread
row). It listens to its predecessor: when that job ends ``done`` (the poller journals the 200
body before it finishes the job, so the answer is on disk), the turn's full body is fixed,
written to its thread row (state ``sent``) and handed to the engine, which journals the
intent row before the POST. A predecessor that fails, is cancelled, expires or times out fails
the turn with one line and nothing is sent; a failed queued turn fails its own follower in
turn. ``resume_threads`` (on ``%load_ext``) picks up what a killed kernel left queued: a turn
whose body was written but whose job row never was is sent, one whose job row exists is not.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from xai_defer_magic.core.job import Job, is_local_id
from xai_defer_magic.core.thread import (
    CONTEXT_WARNING,
    Turn,
    body_of,
    context_share,
    current_line,
    estimate_tokens,
    history,
)
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.http import credentials
from xai_defer_magic.http.context_lengths import ContextLengths
from xai_defer_magic.journal import STATUSES, canonical_request
from xai_defer_magic.journal.leases import owner_is_dead, process_owner
from xai_defer_magic.journal.threads import ThreadStore
from xai_defer_magic.runtime.runtime import current_runtime

if TYPE_CHECKING:
    from xai_defer_magic.runtime.runtime import Runtime

# The turn jobs this process drives, by turn id, across runtimes (like registry.JOBS).
_LIVE: weakref.WeakValueDictionary[str, Job] = weakref.WeakValueDictionary()


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
        job = self.jobs.get(turn.turn_id) or _LIVE.get(turn.turn_id)
        if job is None and turn.request_id:
            job = self.runtime.get(turn.request_id)
        if job is None and turn.body is not None:
            record = self.runtime.journal.find_by_request(
                canonical_request(turn.body), self.runtime.base_url(), STATUSES)
            job = None if record is None else self.runtime.adopt(record)
        if job is not None:
            self.keep(turn, job)
        return job

    def keep(self, turn: Turn, job: Job) -> None:
        self.jobs[turn.turn_id] = _LIVE[turn.turn_id] = job

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


def size_note(registry: Registry, before: Job | None, said: list[dict[str, Any]],
              model: str, thread: str) -> str | None:
    """Refuse a turn past the model's context length (one line); past 90 %, a note for the
    card. The length is used only if it has already arrived (the check never waits)."""
    length = registry.limits.known(registry.runtime.base_url(), model)
    if before is None or before.completion is None or length is None:
        return None
    usage = before.completion.usage
    tokens = (usage.prompt_tokens or 0) + (usage.completion_tokens or 0) + estimate_tokens(said)
    share = context_share(tokens, length)
    if share is None or share < CONTEXT_WARNING:
        return None
    if share > 1:
        raise InvalidArgument(
            f"Thread {thread!r} is too long for {model}: about {tokens:,} tokens of a "
            f"{length:,}-token context; start a new thread (--thread OTHER_NAME), perhaps "
            "with a summary.")
    return f"context {share:.0%} full: start a new thread soon"


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


class Dispatcher:
    """Listens to a queued turn's predecessor (and to the turn itself: a cancel while it
    waits); fires once, when the predecessor has ended."""

    def __init__(self, registry: Registry, turn: Turn, job: Job, number: int) -> None:
        self.registry, self.turn, self.job, self.number = registry, turn, job, number
        self._lock = threading.Lock()
        self._fired = False

    def __call__(self, before: Job) -> None:
        if not before.done:
            return
        with self._lock:
            if self._fired:
                return
            self._fired = True
        before.remove_listener(self)
        runtime = current_runtime()  # after %reload_ext: the runtime of now, not of then
        if runtime is not None:
            self.registry = registry_for(runtime)
        try:
            dispatch(self.registry, self.turn, self.job, before, self.number)
        except Exception as exc:  # a bug must not leave a turn queued forever
            self.fail(f"Not sent: {exc}" if isinstance(exc, InvalidArgument) else
                       f"Internal error while sending turn {self.number}: {exc!r}")

    def fail(self, line: str) -> None:
        """The turn ends without being sent, saying why in one line."""
        self.job.set_status("failed", error=line)
        self.registry.store.set_state(self.turn.turn_id, "failed", error=line)


def follow(registry: Registry, turn: Turn, job: Job, before: Job, number: int) -> None:
    """Send ``turn`` (its queued ``job``) once ``before`` has ended."""
    dispatcher = Dispatcher(registry, turn, job, number)
    before.add_listener(dispatcher)
    dispatcher(before)  # it may have ended already


def dispatch(registry: Registry, turn: Turn, job: Job, before: Job | None, number: int) -> None:
    """Fix the queued turn's body, write it to the thread row, hand it to the engine."""
    store = registry.store
    if job.done:  # cancelled while it waited
        store.set_state(turn.turn_id, "cancelled", error=job.error)
        return
    if not registry.on_line(turn):  # a re-run of an earlier cell replaced the line it was on
        line = (f"Not sent: a re-run replaced an earlier turn, so this one left thread "
                f"{turn.thread!r}'s line; re-run its cell to ask it again.")
        job.set_status("cancelled", error=line)
        store.set_state(turn.turn_id, "cancelled", error=line)
        return
    if before is not None and before.status != "done":
        line = (f"Not sent: turn {number - 1} of thread {turn.thread!r} ended "
                f"{before.status}; re-run that cell to continue the thread.")
        job.set_status("failed", error=line)
        store.set_state(turn.turn_id, "failed", error=line)
        return
    runtime = registry.runtime
    note = size_note(registry, before, turn.said, str(turn.params.get("model")), turn.thread)
    messages = history(turn.system, registry.answered(registry.line_to(turn))) + turn.said
    body = body_of(turn.params, messages)
    store.set_state(turn.turn_id, "sent", body=body, owner=process_owner())
    job.in_thread(turn.thread, number, note)
    job.dispatched(body)
    runtime.engine_for(job).submit(job, body)  # journals the intent row, then POSTs
    note_request_id(registry, turn, job)


def queued_job(registry: Registry, turn: Turn, number: int, shown: dict[str, Any],
               timeout: float | None) -> Job:
    """A handle for a turn that waits: status ``queued``, its card says for which turn."""
    runtime = registry.runtime
    job = Job(model=str(turn.params.get("model")), request=shown, base_url=runtime.base_url(),
              timeout=timeout, cell_id=turn.cell_id)
    job.in_thread(turn.thread, number)
    job.queued_behind(f"waits for turn {number - 1}")
    registry.keep(turn, job)
    runtime.register(job)
    return job


def resume_threads(runtime: Runtime) -> list[Job]:
    """On load: send or re-queue the turns a stopped kernel left queued (after the jobs
    they follow are resumed), and note the request ids it never wrote."""
    registry = registry_for(runtime)
    resumed = []
    for turn in registry.store.unsettled():
        if turn.turn_id in registry.jobs or turn.turn_id in _LIVE:
            continue  # driven by this process already
        if turn.owner and turn.owner != process_owner() and not owner_is_dead(turn.owner):
            continue  # another live kernel drives it
        if turn.state == "sent" and _settle_sent(registry, turn):
            continue
        job = _requeue(registry, turn)
        if job is not None:
            resumed.append(job)
    return resumed


def _settle_sent(registry: Registry, turn: Turn) -> bool:
    """A turn whose body was written: True if its job row exists (so it was sent)."""
    assert turn.body is not None
    record = registry.runtime.journal.find_by_request(
        canonical_request(turn.body), registry.runtime.base_url(), STATUSES)
    if record is None:
        return False  # the engine journals before it POSTs: this one was never sent
    if not is_local_id(record.request_id):  # an intent row: recovery settles its job
        registry.store.set_state(turn.turn_id, "sent", request_id=record.request_id)
    return True


def _requeue(registry: Registry, turn: Turn) -> Job | None:
    turns = registry.store.turns(turn.thread)
    line = current_line(turns, turn.turn_id)
    number = len(line)
    parent = line[-2] if number > 1 else None
    before = registry.job_of(parent) if parent is not None else None
    shown = body_of(turn.params, ([{"role": "system", "content": turn.system}]
                                  if turn.system else []) + turn.said)
    job = queued_job(registry, turn, number, shown, None)
    registry.store.set_state(turn.turn_id, "queued", owner=process_owner())
    if parent is not None and before is None:
        Dispatcher(registry, turn, job, number).fail(
            f"Not sent: turn {number - 1} of thread {turn.thread!r} is not in the journal.")
        return job
    if before is None:
        dispatch(registry, turn, job, None, number)
    else:
        follow(registry, turn, job, before, number)
    return job
