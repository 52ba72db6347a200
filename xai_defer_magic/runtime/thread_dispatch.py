"""Sending a queued thread turn, once the answer it follows is journaled.

:func:`dispatch` runs where the predecessor ended (usually the loop thread) and settles what
needs no network: a turn cancelled while it waited, one a re-run left off the line, one whose
predecessor did not end ``done``. The rest runs on the loop thread (:func:`send`): the model's
context length is awaited there (the cell never waited for it), the history is read from the
journal, the size rule applies (past the context: the turn fails with one line, nothing
sent), an identical request already answered is reused (unless the cell said ``--fresh``),
and otherwise the body is written to the turn's row and handed to the engine, which journals
its intent row before the POST. The job leaves ``queued`` exactly once (``Job.dispatched``),
so two dispatchers of one turn never send it twice.
"""

from __future__ import annotations

from xai_defer_magic.core.job import Job
from xai_defer_magic.core.thread import Turn, body_of, history, size_note, turn_tokens
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.journal.leases import process_owner
from xai_defer_magic.runtime.reuse import answer_from, find_twin
from xai_defer_magic.runtime.thread_registry import Registry, counted_tokens, note_request_id


def fail(registry: Registry, turn: Turn, job: Job, line: str, state: str = "failed") -> None:
    """The turn ends without being sent, saying why in one line (row first, then the job)."""
    registry.store.set_state(turn.turn_id, state, error=line)
    job.set_status(state, error=line)


def dispatch(registry: Registry, turn: Turn, job: Job, before: Job | None, number: int) -> None:
    """``before`` (the turn's predecessor, None for a first turn) has ended: settle the turn
    here if that needs nothing from the network, else send it from the loop thread."""
    if job.done:  # cancelled while it waited (or ended by another dispatcher of it)
        if job.status == "cancelled":
            registry.store.set_state(turn.turn_id, "cancelled", error=job.error)
        return
    if not registry.on_line(turn):  # a re-run of an earlier cell replaced the line it was on
        fail(registry, turn, job, left_line(turn), "cancelled")
        return
    if before is not None and before.status != "done":
        fail(registry, turn, job, f"Not sent: turn {number - 1} of thread {turn.thread!r} "
             f"ended {before.status}; re-run that cell to continue the thread.")
        return
    if not registry.runtime.loop.loop.is_running():
        return  # the runtime is closing: still queued, the next load sends it
    registry.runtime.loop.submit(send(registry, turn, job, before, number))


def left_line(turn: Turn) -> str:
    return (f"Not sent: a re-run replaced an earlier turn, so this one left thread "
            f"{turn.thread!r}'s line; re-run its cell to ask it again.")


async def send(registry: Registry, turn: Turn, job: Job, before: Job | None,
               number: int) -> None:
    """On the loop thread: size, reuse, or the engine (see the module docstring)."""
    runtime = registry.runtime
    model = str(turn.params.get("model"))
    length = await registry.limits.waited(runtime.base_url(), model,
                                          runtime.settings.poll.request_timeout)
    try:
        _send_now(registry, turn, job, before, number, length)
    except InvalidArgument as exc:
        fail(registry, turn, job, f"Not sent: {exc}")
    except Exception as exc:  # a bug must not leave a turn queued forever
        fail(registry, turn, job, f"Internal error while sending turn {number}: {exc!r}")


def _send_now(registry: Registry, turn: Turn, job: Job, before: Job | None, number: int,
              length: int | None) -> None:
    runtime, store = registry.runtime, registry.store
    earlier = history(turn.system, registry.answered(registry.line_to(turn)))
    note = size_note(turn_tokens(counted_tokens(before), earlier, turn.said), length,
                     str(turn.params.get("model")), turn.thread)
    body = body_of(turn.params, earlier + turn.said)
    twin = None if turn.options.get("fresh") else find_twin(runtime, body, job.base_url)
    if not job.dispatched(body):  # cancelled meanwhile (or sent by another dispatcher)
        if job.status == "cancelled":
            store.set_state(turn.turn_id, "cancelled", error=job.error)
        return
    job.in_thread(turn.thread, number, note)
    if twin is not None:  # answered (or on its way) already: nothing is sent
        store.set_state(turn.turn_id, "sent", body=body, request_id=twin.request_id,
                        owner=process_owner())
        answer_from(job, twin)
        return
    store.set_state(turn.turn_id, "sent", body=body, owner=process_owner())
    runtime.engine_for(job).submit(job, body)  # journals the intent row, then POSTs
    note_request_id(registry, turn, job)
