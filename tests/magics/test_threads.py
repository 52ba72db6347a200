"""``%%grok_defer --thread NAME`` and ``%grok_thread`` on IPython's real test shell, against
the emulator: the cell's turn carries the history, ``--over``/``--batch`` prefix every item
with it, a bad name is one line, and the transcript shows what was asked and answered."""

from __future__ import annotations

from typing import Any

import pytest

import xai_defer_magic
from tests.support.shell import HANG, posts, run, usage_error
from xai_defer_magic.emulator import Emulator

pytestmark = [pytest.mark.emulator(latency=0.2), pytest.mark.grok_config(first_poll=0.1)]


def two_turns(shell: Any) -> tuple[Any, Any]:
    run(shell, '%%grok_defer --thread plan -s "Be brief." --wait -o a\nName a prime.')
    run(shell, "%%grok_defer --thread plan --wait -o b\nAnd the next one?")
    return shell.user_ns["a"], shell.user_ns["b"]


def test_a_thread_cell_sends_the_history_and_its_card_says_which_turn(
        shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_turns(shell)
    assert b.thread == ("plan", 2) and a.thread == ("plan", 1)
    assert posts(emulator)[-1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a prime."},
        {"role": "assistant", "content": a.content},
        {"role": "user", "content": "And the next one?"}]
    shown = capsys.readouterr().out
    assert "thread plan · turn 2" in shown and "Follow-up after 1 earlier turn" in shown
    assert "prompt" in shown and "cached" in shown  # the usage line: prompt tokens, cached
    assert [t.name for t in xai_defer_magic.threads()] == ["plan"]

    run(shell, "%grok_thread plan")
    transcript = capsys.readouterr().out
    assert "thread plan · 2 turns" in transcript
    assert transcript.index("Name a prime.") < transcript.index("And the next one?")
    assert a.content.splitlines()[2] in transcript and "--- turn 2 ---" in transcript
    run(shell, "%grok_thread")
    listing = capsys.readouterr().out
    assert "plan  2  " in listing and "$" in listing


def test_grok_wait_waits_for_a_queued_turn_too(
        shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    run(shell, "%%grok_defer --thread w -o a\nFirst [[latency=0.5]]")
    run(shell, "%%grok_defer --thread w -o b\nSecond")
    b = shell.user_ns["b"]
    assert b.status == "queued" and "waits for turn 1" in capsys.readouterr().out
    shell.user_ns["xs"] = ["cats"]
    for flags in ("--over xs", "--over xs --batch"):  # the fan-out needs the answered history
        line = usage_error(shell, f"%%grok_defer {flags} --thread w\nAbout {{item}}.")
        assert "turn 2 of thread 'w' is not answered yet (queued)" in line
        assert "run this again once it is done" in line
    run(shell, "%grok_wait")
    assert b.status == "done" and len(posts(emulator)) == 2
    assert "Follow-up after 1 earlier turn" in capsys.readouterr().out


def test_over_and_batch_with_a_thread_prefix_every_item_with_its_history(
        shell: Any, emulator: Emulator) -> None:
    a, b = two_turns(shell)
    history = [{"role": "system", "content": "Be brief."},
               {"role": "user", "content": "Name a prime."},
               {"role": "assistant", "content": a.content},
               {"role": "user", "content": "And the next one?"},
               {"role": "assistant", "content": b.content}]
    shell.user_ns["xs"] = ["cats", "dogs"]
    run(shell, "%%grok_defer --over xs --thread plan --wait -o g\nNow about {item}.")
    bodies = posts(emulator)[-2:]
    assert sorted(b["messages"][-1]["content"] for b in bodies) == ["Now about cats.",
                                                                    "Now about dogs."]
    assert all(b["messages"][:-1] == history for b in bodies)
    assert len(xai_defer_magic.thread("plan").turns) == 2, "items do not become turns"
    run(shell, "%%grok_defer --batch --thread plan -o h\nOne batched follow-up.")
    group = shell.user_ns["h"]
    group.results(timeout=HANG)
    batched = [r.body for r in emulator.requests() if r.method == "POST"
               and "batch_requests" in (r.body or {})]
    sent = batched[-1]["batch_requests"][0]["batch_request"]["chat_get_completion"]
    assert sent["messages"] == [*history, {"role": "user", "content": "One batched follow-up."}]


@pytest.mark.parametrize("name", ['""', "x/y", "naïve", "a" * 65, "'a b'", "semi;colon"])
def test_every_bad_thread_name_is_one_line_and_nothing_is_sent(
        shell: Any, emulator: Emulator, name: str) -> None:
    line = usage_error(shell, f"%%grok_defer --thread {name}\nHello")
    assert "--thread" in line
    assert usage_error(shell, f"%grok_thread {name}")
    assert posts(emulator) == []


def test_grok_thread_of_an_unknown_thread_is_one_line(shell: Any) -> None:
    assert "No thread named 'nope'" in usage_error(shell, "%grok_thread nope")
