"""Conversations across cells (``--thread NAME``): a turn's history, its place on the line,
and the thread handles users read.

:func:`start_turn` is :meth:`Runtime.defer` for a thread: it finds where the turn goes (after
the head, or in place of the turn the same cell made before), builds the message list from
the journal (system, each earlier turn as sent plus its answer, then this prompt) and sends it
through the runtime, so reuse, budget and the card work as for any cell. A turn whose
predecessor is still pending is queued instead (:mod:`thread_queue`). A "Run All" of a
finished thread therefore re-asks nothing: each turn's body is identical and reuse answers it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from xai_defer_magic.core.images import attach
from xai_defer_magic.core.job import UNFINISHED_STATUSES, Job
from xai_defer_magic.core.options import DEFAULT_OPTIONS, RequestOptions
from xai_defer_magic.core.request import Prompt, build_request
from xai_defer_magic.core.thread import (
    TURN_OPTIONS,
    Thread,
    Turn,
    check_thread_name,
    current_line,
    history,
    replaced_position,
    said_messages,
    size_note,
    turn_tokens,
)
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.journal.threads import new_turn_id
from xai_defer_magic.runtime import images
from xai_defer_magic.runtime.budget import check_spend
from xai_defer_magic.runtime.thread_queue import (
    drop_left_behind,
    follow,
    queued_job,
    shown_body,
)
from xai_defer_magic.runtime.thread_registry import (
    Registry,
    counted_tokens,
    note_request_id,
    registry_for,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from xai_defer_magic.runtime.runtime import Runtime


def start_turn(
    runtime: Runtime,
    name: str,
    prompt: Prompt,
    options: RequestOptions = DEFAULT_OPTIONS,
    *,
    display: bool = True,
    cell_id: str | None = None,
    on_created: Callable[[Job], None] | None = None,
) -> tuple[Job, Any]:
    """One turn of thread ``name``: sent now, reused, or queued behind a pending turn.

    ``-s`` sets the thread's system message from this turn on; every other option is this
    turn's. Bad input (a bad name, a lost or failed predecessor, a history past the model's
    context) is one ``InvalidArgument`` line, and nothing is sent.
    """
    name = check_thread_name(name)
    registry = registry_for(runtime)
    line = _line(registry, name)
    at = replaced_position(line, cell_id)
    left = line[at:] if at is not None else []  # a re-run: its turn goes where its old one
    line = line[:at] if at is not None else line  # was; the turns after it leave the line
    parent = line[-1] if line else None
    number = len(line) + 1
    resolved = options.resolved(runtime.settings)
    kept = images.keep(runtime.journal, resolved.images or ())  # stored before any row
    per_turn = replace(resolved, system=None, images=kept or None)
    system = options.system if options.system is not None else (parent.system if parent else None)
    plain = said_messages(prompt)
    params = {k: v for k, v in build_request(plain, replace(per_turn, images=None)).items()
              if k != "messages"}
    turn = Turn(turn_id=new_turn_id(), thread=name, parent=parent.turn_id if parent else None,
                cell_id=cell_id, created_at=time.time(), system=system,
                said=attach(plain, kept),  # as sent: a later turn's history carries its images
                params=params, options=_turn_options(resolved))
    waiting = None if resolved.fresh else _unfinished_repeat(registry, turn)
    if waiting is not None:  # "Run All" before the answers: the same turn, not a new one
        repeated, job = waiting
        registry.store.set_head(name, repeated.turn_id)
        return job, runtime.presenter.show_reused(job) if display else None
    before = registry.job_of(parent) if parent is not None else None
    if before is not None and not before.done:
        queued = _queue(registry, turn, number, before, resolved, display, on_created)
        drop_left_behind(registry, left, turn.turn_id)
        return queued
    earlier = history(system, registry.answered(line))  # a lost or failed turn: one line
    model = str(params["model"])
    note = size_note(turn_tokens(counted_tokens(before), earlier, turn.said),
                     registry.limits.known(runtime.base_url(), model), model, name)
    made: list[Job] = []
    cards: list[Any] = []

    def created(job: Job) -> None:  # before the POST: the turn row and the card go first
        _record(registry, turn, job, number, note)
        made.append(job)
        if display:
            cards.append(runtime.presenter.show_job(job))
        if on_created is not None:
            on_created(job)

    # Shown here, not by defer: a reused answer is shown whole at once, so it must know its
    # turn first (its card says "thread NAME · turn k" too).
    job, _none = runtime.defer(earlier + plain, per_turn, display=False, cell_id=cell_id,
                               on_created=created)
    if made:
        drop_left_behind(registry, left, turn.turn_id)
        return job, cards[0] if cards else None
    same = _same_turn(registry, turn, job)  # reused: an identical request was answered
    if same is None:  # (or is pending) already
        _record(registry, turn, job, number, note)
    else:  # "Run All": the turn it repeats becomes the head again, no new row
        job.in_thread(name, number, note)
        registry.store.set_head(name, same.turn_id)
    drop_left_behind(registry, left, turn.turn_id if same is None else same.turn_id)
    return job, runtime.presenter.show_reused(job) if display else None


def _turn_options(resolved: RequestOptions) -> dict[str, Any]:
    """The cell's options that are not in the body (``TURN_OPTIONS``), as a queued turn sent
    by the next kernel must still apply them."""
    return {k: getattr(resolved, k) for k in TURN_OPTIONS if getattr(resolved, k)}


def _repeats(registry: Registry, turn: Turn) -> list[Turn]:
    """Earlier turns that ``turn`` repeats exactly: same place, same cell, same request."""
    key = (turn.parent, turn.cell_id, turn.system, turn.said, turn.params)
    return [old for old in registry.store.turns(turn.thread)
            if (old.parent, old.cell_id, old.system, old.said, old.params) == key]


def _same_turn(registry: Registry, turn: Turn, job: Job) -> Turn | None:
    """The turn repeated by ``turn`` whose answer reuse found: re-running it moves the head
    back instead of adding a row."""
    for old in _repeats(registry, turn):
        if old.request_id is not None and old.request_id == job.request_id:
            return old
    return None


def _unfinished_repeat(registry: Registry, turn: Turn) -> tuple[Turn, Job] | None:
    """A repeated turn still queued or on its way (its job is followed, not sent again)."""
    for old in reversed(_repeats(registry, turn)):
        job = registry.job_of(old)
        if job is not None and job.status in UNFINISHED_STATUSES:
            return old, job
    return None


def _record(registry: Registry, turn: Turn, job: Job, number: int, note: str | None) -> None:
    job.in_thread(turn.thread, number, note)
    registry.store.add_turn(replace(turn, state="sent", body=job.request,
                                    request_id=job.request_id))
    registry.keep(turn, job)
    note_request_id(registry, turn, job)


def _queue(registry: Registry, turn: Turn, number: int, before: Job,
           resolved: RequestOptions, display: bool,
           on_created: Callable[[Job], None] | None) -> tuple[Job, Any]:
    """The predecessor is pending: journal the turn as queued, show it, send it later. What
    can be checked now is (its own prompt against the context, the spend of what is known);
    the whole history is checked when it is sent (``thread_dispatch``)."""
    runtime = registry.runtime
    base_url, model = runtime.base_url(), str(turn.params.get("model"))
    runtime.poller.client_check(base_url)  # no key, bad URL: refused now
    images.refuse_unsupported(runtime, model, bool(resolved.images), base_url)
    shown = shown_body(turn)
    size_note(turn_tokens(None, [], shown["messages"]), registry.limits.known(base_url, model),
              model, turn.thread)
    check_spend(runtime, [shown], resolved.max_cost, "this request")
    registry.store.add_turn(turn)
    job = queued_job(registry, turn, number)
    if resolved.images:
        job.sent_images(tuple(image.without_data() for image in resolved.images))
    card = runtime.presenter.show_job(job) if display else None
    if on_created is not None:
        on_created(job)
    follow(registry, turn, job, before, number)
    return job, card


def _line(registry: Registry, name: str) -> list[Turn]:
    row = registry.store.thread(name)
    return current_line(registry.store.turns(name), row.head if row else None)


# --- handles --------------------------------------------------------------------------------


def thread(runtime: Runtime, name: str) -> Thread:
    """``xai_defer_magic.thread(NAME)``: the current line's jobs and what it would send next."""
    name = check_thread_name(name)
    registry = registry_for(runtime)
    row = registry.store.thread(name)
    if row is None:
        raise InvalidArgument(f"No thread named {name!r} in this kernel or the journal.")
    turns = registry.store.turns(name)
    line = current_line(turns, row.head)
    jobs = [j for j in (registry.job_of(t) for t in line) if j is not None]
    system = line[-1].system if line else None
    messages = history(system, registry.answered(line, strict=False))
    return Thread(name, jobs, messages, branches=len(turns) - len(line),
                  updated_at=row.updated_at)


def threads(runtime: Runtime) -> list[Thread]:
    """Every thread of the journal, the one with the newest turn first."""
    return [thread(runtime, row.name) for row in registry_for(runtime).store.threads()]


def prefix(runtime: Runtime, name: str, system: str | None = None) -> list[dict[str, Any]]:
    """``--over ITEMS --thread NAME``: the history every item is sent after (the items do not
    become turns), with ``system`` instead of the thread's when given. The thread's last turn
    must be answered: one line otherwise."""
    name = check_thread_name(name)
    registry = registry_for(runtime)
    line = _line(registry, name)
    if not line:
        raise InvalidArgument(f"No thread named {name!r}: --over with --thread sends an "
                              "existing thread's history before each item.")
    last = registry.job_of(line[-1])
    if last is not None and last.status in UNFINISHED_STATUSES:
        raise InvalidArgument(
            f"Not sent: turn {len(line)} of thread {name!r} is not answered yet "
            f"({last.status}), and every item is sent after the thread's answered history; "
            "run this again once it is done (%grok_wait waits for it).")
    return history(system if system is not None else line[-1].system, registry.answered(line))
