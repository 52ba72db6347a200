"""Conversations across cells, against the emulator over loopback: the history each turn
sends, queued follow-ups (sent once, after the answer they follow is journaled), failed
predecessors, re-runs that replace their turn, "Run All" sending nothing, and a reload
picking up a queued turn."""

from __future__ import annotations

import time

import pytest

import xai_defer_magic
from tests.support.shell import posts, wait_for
from tests.support.threads import fast, turn
from xai_defer_magic.core.thread import Turn
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.emulator.followups import history_fingerprint
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.journal import JobRecord
from xai_defer_magic.journal.threads import new_turn_id
from xai_defer_magic.runtime.runtime import Runtime, close_runtime, get_runtime
from xai_defer_magic.runtime.thread_queue import registry_for, resume_threads
from xai_defer_magic.views.text import result_text

HANG = 30.0

pytestmark = pytest.mark.emulator(latency=0.05)


@pytest.fixture(autouse=True)
def fast_polls(runtime: Runtime) -> None:
    fast(runtime)


def test_turn_three_sends_system_then_every_turn_as_sent_then_its_prompt(
        runtime: Runtime, emulator: Emulator) -> None:
    one = turn(runtime, "First question?", system="Be brief.")
    one.result(HANG)
    two = turn(runtime, "Second question?", temperature=0.5)
    two.result(HANG)
    three = turn(runtime, "Third question?")
    answer = three.result(HANG)
    expected = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First question?"},
        {"role": "assistant", "content": one.content},
        {"role": "user", "content": "Second question?"},
        {"role": "assistant", "content": two.content},
        {"role": "user", "content": "Third question?"},
    ]
    assert posts(emulator)[-1]["messages"] == expected
    assert "temperature" not in posts(emulator)[-1], "options are per turn"
    assert f"history fingerprint `{history_fingerprint(expected)}`" in answer
    assert "Follow-up after 2 earlier turns" in answer
    handle = xai_defer_magic.thread("t")
    assert handle.name == "t" and handle.turns == [one, two, three]
    assert handle.messages == [*expected, {"role": "assistant", "content": three.content}]
    assert three.thread == ("t", 3)


def test_queued_turn_is_posted_once_only_after_the_answer_it_follows(
        runtime: Runtime, emulator: Emulator) -> None:
    one = turn(runtime, "Slow first [[latency=0.3]]")
    two = turn(runtime, "Then this.")
    three = turn(runtime, "And this.")
    assert (two.status, three.status) == ("queued", "queued")
    assert two.note == "waits for turn 1" and three.note == "waits for turn 2"
    assert len(posts(emulator)) <= 1
    three.result(HANG)
    bodies = posts(emulator)
    assert len(bodies) == 3, "each turn is POSTed exactly once"
    assert bodies[1]["messages"][-2] == {"role": "assistant", "content": one.content}
    assert bodies[2]["messages"][-2] == {"role": "assistant", "content": two.content}
    records = emulator.requests()
    delivered = next(i for i, r in enumerate(records)
                     if r.method == "GET" and r.status == 200 and r.request_id == one.request_id)
    second_post = [i for i, r in enumerate(records) if r.method == "POST"][1]
    assert delivered < second_post, "turn 2 was sent before turn 1's answer arrived"
    stored = runtime.journal.get(one.request_id)
    assert stored is not None and stored.response_text is not None


def test_a_cancelled_predecessor_fails_every_queued_turn_and_nothing_is_sent(
        runtime: Runtime, emulator: Emulator) -> None:
    one = turn(runtime, "Never answered [[latency=60]]")
    two = turn(runtime, "Follow-up.")
    three = turn(runtime, "And another.")
    wait_for(lambda: one.request_id is not None, "turn 1 accepted")  # issue 17: in background
    one.cancel()
    assert two.wait(HANG) and three.wait(HANG)
    assert two.status == three.status == "failed"
    assert two.error == ("Not sent: turn 1 of thread 't' ended cancelled; re-run that cell "
                         "to continue the thread.")
    assert "turn 2 of thread 't' ended failed" in (three.error or "")
    assert len(posts(emulator)) == 1
    with pytest.raises(InvalidArgument, match="Turn 1 of thread 't' ended cancelled"):
        turn(runtime, "A third try")  # a lost answer is one line, nothing sent
    assert len(posts(emulator)) == 1


def test_rerun_replaces_its_turn_and_run_all_sends_nothing(
        runtime: Runtime, emulator: Emulator) -> None:
    first = [turn(runtime, f"Question {i}", cell=f"c{i}") for i in (1, 2, 3)]
    first[-1].result(HANG)
    assert len(posts(emulator)) == 3
    again = turn(runtime, "Question 2, put better", cell="c2")
    again.result(HANG)
    assert posts(emulator)[-1]["messages"][-3:] == [
        {"role": "user", "content": "Question 1"},
        {"role": "assistant", "content": first[0].content},
        {"role": "user", "content": "Question 2, put better"}]
    handle = xai_defer_magic.thread("t")
    assert handle.turns == [first[0], again] and handle.branches == 2
    third = turn(runtime, "Question 3", cell="c3")
    third.result(HANG)
    assert posts(emulator)[-1]["messages"][-2] == {"role": "assistant", "content": again.content}
    sent = len(posts(emulator))
    for cell, prompt in (("c1", "Question 1"), ("c2", "Question 2, put better"),
                         ("c3", "Question 3")):  # "Run All" of the finished notebook
        assert turn(runtime, prompt, cell=cell).result(HANG)
    assert len(posts(emulator)) == sent, "Run All re-asked a finished turn"
    after = xai_defer_magic.thread("t")
    assert after.turns == [first[0], again, third] and after.branches == 2, "no new rows"


def test_without_cell_ids_each_run_appends(runtime: Runtime, emulator: Emulator) -> None:
    turn(runtime, "Same words").result(HANG)
    turn(runtime, "Same words").result(HANG)
    assert len(xai_defer_magic.thread("t").turns) == 2 and len(posts(emulator)) == 2


@pytest.mark.parametrize("name", ["", "a b", "x/y", "naïve", "a" * 65, "semi;colon"])
def test_every_bad_name_is_one_line_and_nothing_is_sent(
        runtime: Runtime, emulator: Emulator, name: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        xai_defer_magic.defer("Hi", thread=name, display=False)
    assert "\n" not in str(refused.value) and "--thread" in str(refused.value)
    assert posts(emulator) == []


def test_a_queued_turn_left_by_a_closed_runtime_is_sent_once_by_the_next(
        runtime: Runtime, emulator: Emulator) -> None:
    one = turn(runtime, "Slow [[latency=0.3]]")
    two = turn(runtime, "Queued behind it")
    assert two.status == "queued"
    close_runtime()
    fresh = get_runtime()
    fast(fresh)
    fresh.resume_unfinished()
    resume_threads(fresh)
    assert two.result(HANG)
    assert one.status == "done" and len(posts(emulator)) == 2
    assert posts(emulator)[1]["messages"][-2]["content"] == one.content


def test_a_turn_past_the_context_is_refused_and_past_90_percent_says_so(
        runtime: Runtime, emulator: Emulator) -> None:
    lengths = registry_for(runtime).limits.start(runtime.base_url())
    assert lengths is not None and lengths.result(HANG)["grok-3-mini"] == 131_072
    big = turn(runtime, "w " * 120_000, model="grok-3-mini")  # of a 131,072-token context
    big.result(HANG)
    with pytest.raises(InvalidArgument, match=r"too long for grok-3-mini.*new thread") as refused:
        turn(runtime, "x" * 50_000, model="grok-3-mini")
    assert "\n" not in str(refused.value) and len(posts(emulator)) == 1
    near = turn(runtime, "Short follow-up", model="grok-3-mini")
    assert near.thread_note is not None and near.thread_note.startswith("context 9")
    assert near.result(HANG)
    assert "thread t · turn 2 · context 9" in result_text(near)


def test_run_all_again_while_the_thread_is_pending_sends_each_turn_once(
        runtime: Runtime, emulator: Emulator) -> None:
    one = turn(runtime, "Slow start [[latency=0.4]]", cell="c1")
    two = turn(runtime, "Queued follow-up", cell="c2")
    assert two.status == "queued"
    again = [turn(runtime, "Slow start [[latency=0.4]]", cell="c1"),
             turn(runtime, "Queued follow-up", cell="c2")]  # "Run All" before any answer
    assert again == [one, two], "the same turns, not new ones"
    two.result(HANG)
    assert len(posts(emulator)) == 2
    assert xai_defer_magic.thread("t").turns == [one, two]


def test_a_queued_turn_a_rerun_left_behind_is_never_sent(
        runtime: Runtime, emulator: Emulator) -> None:
    one = turn(runtime, "Slow start [[latency=0.3]]", cell="c1")
    two = turn(runtime, "Queued follow-up", cell="c2")
    edited = turn(runtime, "A better start", cell="c1")  # c1 re-run with other words
    assert one.result(HANG) and edited.result(HANG) and two.wait(HANG)
    assert two.status == "cancelled" and "left thread 't''s line" in (two.error or "")
    assert len(posts(emulator)) == 2
    redo = turn(runtime, "Queued follow-up", cell="c2")
    redo.result(HANG)
    assert posts(emulator)[-1]["messages"][-2] == {"role": "assistant",
                                                   "content": edited.content}
    assert xai_defer_magic.thread("t").turns == [edited, redo]



@pytest.mark.parametrize("row", [False, True])
def test_on_load_a_turn_whose_body_was_written_is_sent_only_if_no_job_row_has_it(
        runtime: Runtime, emulator: Emulator, row: bool) -> None:
    """Killed between writing a turn's body and the engine's intent row: never sent, so the
    next load sends it, once; killed after the intent row: nothing is sent again."""
    first = turn(runtime, "The first question", name="k")
    first.result(HANG)
    registry = registry_for(runtime)
    (one,) = registry.store.turns("k")
    said = [{"role": "user", "content": "Second"}]
    body = {"model": "grok-4.3", "messages": [*one.said, {"role": "assistant",
                                                          "content": first.content}, *said]}
    registry.store.add_turn(Turn(new_turn_id(), "k", one.turn_id, None, time.time(), None, said,
                                 {"model": "grok-4.3"}, "sent", body=body))
    if row:
        runtime.journal.add(JobRecord("rid-earlier", time.time(), "grok-4.3", body,
                                      runtime.base_url(), status="failed"))
    resumed = resume_threads(runtime)
    assert len(resumed) == (0 if row else 1)
    if not row:
        assert resumed[0].result(HANG) and resumed[0].thread == ("k", 2)
        assert posts(emulator)[-1]["messages"] == body["messages"]
    assert len(posts(emulator)) == (1 if row else 2)
    wait_for(lambda: registry.store.turns("k")[1].request_id is not None, "the id noted")
    assert registry.store.unsettled() == []
