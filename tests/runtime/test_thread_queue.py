"""Queued thread turns keep everything their cell asked for, against the emulator over
loopback: reuse when they are finally sent, their per-turn options across a restart, the
size rule (first turn and queued turns too), their images, a cancel or a re-run that ends
them for good, and fan-outs over a thread's history from Python."""

from __future__ import annotations

import time
from typing import Any

import pytest

import xai_defer_magic
from tests.support.images import png
from tests.support.shell import posts, wait_for
from tests.support.threads import fast, turn
from xai_defer_magic.core.thread import Turn
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.journal.threads import new_turn_id
from xai_defer_magic.runtime.image_sources import resolve
from xai_defer_magic.runtime.runtime import Runtime, close_runtime, get_runtime
from xai_defer_magic.runtime.thread_queue import registry_for, resume_threads

HANG = 30.0

pytestmark = pytest.mark.emulator(latency=0.05)


@pytest.fixture(autouse=True)
def fast_polls(runtime: Runtime) -> None:
    fast(runtime)


def state_of(runtime: Runtime, job: Any, name: str = "t") -> str:
    store = registry_for(runtime).store
    (row,) = [t for t in store.turns(name) if registry_for(runtime).jobs.get(t.turn_id) is job]
    return row.state


def test_a_queued_turn_identical_to_an_answered_one_is_reused_when_its_turn_comes(
        runtime: Runtime, emulator: Emulator) -> None:
    one = turn(runtime, "Question 1", cell="c1")
    two = turn(runtime, "Question 2", cell="c2")
    two.result(HANG)
    assert len(posts(emulator)) == 2
    again = turn(runtime, "Question 1", cell="c1", fresh=True)  # asked again, on purpose
    follow = turn(runtime, "Question 2", cell="c2")  # the same history once it is answered
    assert follow.status == "queued" and again is not one
    assert follow.result(HANG) == two.content
    assert len(posts(emulator)) == 3, "the queued turn was sent although reuse answers it"
    assert follow.reused_from is not None and follow.request_id == two.request_id
    assert xai_defer_magic.thread("t").turns == [again, follow]


def test_a_queued_turn_with_fresh_is_sent_even_if_reuse_could_answer_it(
        runtime: Runtime, emulator: Emulator) -> None:
    turn(runtime, "Question 1", cell="c1")
    turn(runtime, "Question 2", cell="c2").result(HANG)
    turn(runtime, "Question 1", cell="c1", fresh=True)
    follow = turn(runtime, "Question 2", cell="c2", fresh=True)
    assert follow.status == "queued"
    follow.result(HANG)
    assert len(posts(emulator)) == 4 and follow.reused_from is None


def test_a_queued_turn_resumed_from_the_journal_keeps_its_timeout_and_fresh(
        runtime: Runtime, emulator: Emulator) -> None:
    """A kernel killed while the turn waited: the next load sends it with what its cell
    asked (the body parameters and the options that are not in the body)."""
    first = turn(runtime, "The first question", name="k")
    first.result(HANG)
    registry = registry_for(runtime)
    (one,) = registry.store.turns("k")
    said = [{"role": "user", "content": "Second [[latency=30]]"}]
    params = {"model": "grok-4.3", "temperature": 0.3, "max_completion_tokens": 50}
    registry.store.add_turn(Turn(new_turn_id(), "k", one.turn_id, "c2", time.time(), None,
                                 said, params, "queued",
                                 options={"timeout": 0.3, "fresh": True}))
    (resumed,) = resume_threads(runtime)
    assert resumed.timeout == 0.3
    assert resumed.wait(HANG) and resumed.status == "timed_out"
    sent = posts(emulator)[-1]
    assert sent["temperature"] == 0.3 and sent["max_completion_tokens"] == 50


def test_every_turn_is_size_checked_the_first_and_a_queued_one_too(
        runtime: Runtime, emulator: Emulator) -> None:
    lengths = registry_for(runtime).limits.start(runtime.base_url())
    assert lengths is not None and lengths.result(HANG)["grok-3-mini"] == 131_072
    with pytest.raises(InvalidArgument, match=r"too long for grok-3-mini.*new thread") as no:
        turn(runtime, "x" * 600_000, model="grok-3-mini", name="first")  # ~150k of 131k
    assert "\n" not in str(no.value) and posts(emulator) == []
    near = turn(runtime, "y" * 480_000, model="grok-3-mini", name="near")  # ~120k: 92 %
    assert (near.thread_note or "").startswith("context 9")
    one = turn(runtime, "w " * 110_000, model="grok-3-mini")
    two = turn(runtime, "z" * 100_000, model="grok-3-mini")  # 25k more: past the context
    assert two.status == "queued"
    assert two.wait(HANG) and two.status == "failed"
    assert "too long for grok-3-mini" in (two.error or "") and "\n" not in (two.error or "")
    assert near.result(HANG) and one.status == "done" and len(posts(emulator)) == 2


def test_images_of_a_queued_turn_are_sent_and_stay_in_the_history(
        runtime: Runtime, emulator: Emulator) -> None:
    image = resolve(png(), "plot")
    one = turn(runtime, "Start")  # its POST is on the way: the next turn is queued
    two = turn(runtime, "What is in this image?", images=(image,))
    assert two.status == "queued" and [i.source for i in two.images] == ["plot"]
    three = turn(runtime, "And its colour?")
    three.result(HANG)
    assert one.status == "done"
    second, third = posts(emulator)[1:]
    parts = second["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "What is in this image?"}
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert third["messages"][-3] == second["messages"][-1], "turn 2 as it was sent"


def test_a_cancelled_queued_turn_is_cancelled_in_the_journal_and_never_resumed(
        runtime: Runtime, emulator: Emulator) -> None:
    turn(runtime, "Never answered [[latency=60]]")
    two = turn(runtime, "Queued")
    two.cancel()
    assert two.status == "cancelled" and "before it was sent" in (two.error or "")
    assert state_of(runtime, two) == "cancelled"
    assert all(t.state != "queued" for t in registry_for(runtime).store.unsettled())


def test_a_rerun_that_replaces_a_queued_turn_cancels_it_at_once(
        runtime: Runtime, emulator: Emulator) -> None:
    one = turn(runtime, "Slow start [[latency=60]]", cell="c1")
    two = turn(runtime, "Follow-up", cell="c2")
    better = turn(runtime, "Follow-up, put better", cell="c2")
    assert better.status == "queued" and one.status in ("submitting", "pending")
    assert two.status == "cancelled" and "left thread 't''s line" in (two.error or "")
    assert state_of(runtime, two) == "cancelled"
    assert xai_defer_magic.thread("t").turns == [one, better]


def test_defer_many_with_a_thread_prefixes_every_item_and_waits_for_nothing_pending(
        runtime: Runtime, emulator: Emulator) -> None:
    first = turn(runtime, "Name a prime.", system="Be brief.")
    first.result(HANG)
    group = xai_defer_magic.defer_many("Now about {item}.", ["cats", "dogs"], thread="t",
                                       display=False)
    group.results(timeout=HANG)
    history = [{"role": "system", "content": "Be brief."},
               {"role": "user", "content": "Name a prime."},
               {"role": "assistant", "content": first.content}]
    assert all(b["messages"][:-1] == history for b in posts(emulator)[1:])
    assert len(xai_defer_magic.thread("t").turns) == 1
    slow = turn(runtime, "Slow [[latency=60]]")
    wait_for(lambda: slow.request_id is not None, "turn 2 accepted")  # posted in background
    with pytest.raises(InvalidArgument, match="not answered yet") as refused:
        xai_defer_magic.defer_many("About {item}.", ["x"], thread="t", display=False)
    assert "\n" not in str(refused.value) and len(posts(emulator)) == 4


def test_a_queued_turn_whose_send_a_reload_interrupted_is_sent_by_the_next_runtime(
        runtime: Runtime, emulator: Emulator) -> None:
    """The predecessor answered and the turn was on its way out (waiting on the loop thread
    for the model's context length) when the runtime closed: the next load sends it, once."""
    emulator.faults.catalogue_delay = 5.0  # holds GET /models: the send waits for it
    one = turn(runtime, "Quick first")
    two = turn(runtime, "Queued follow-up")
    assert two.status == "queued"
    one.result(HANG)
    assert two.status == "queued"
    close_runtime(0.5)  # %reload_ext right then
    emulator.faults.catalogue_delay = 0.0
    resume_threads(fast(get_runtime()))
    assert two.result(HANG) and len(posts(emulator)) == 2
    assert posts(emulator)[1]["messages"][-2] == {"role": "assistant", "content": one.content}
