"""Conversations in real kernels (the emulator over loopback, cell ids as JupyterLab sends them).

One session per scenario, combining the issue's checks: a follow-up written while its
predecessor is pending is queued and POSTed once, only after the answer it follows is
journaled, also across a ``kill -9``; turn 3 sends exactly system, user 1, assistant 1,
user 2, assistant 2, user 3; a re-run with the same cell id replaces its turn and drops the
later ones; "Run All" of the finished notebook sends nothing; a cancelled predecessor fails
the queued turn with one line and nothing sent; a bad name is one line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.kernels import Kernel
from xai_defer_magic.emulator import Emulator

LOAD = "%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.1\nimport xai_defer_magic"
SLOW = "[[latency=4]]"


@pytest.fixture
def kernels(env: dict[str, str], tmp_path: Path) -> Iterator[list[Kernel]]:
    started: list[Kernel] = []
    yield started
    for kernel in started:
        kernel.stop()


def start(kernels: list[Kernel], env: dict[str, str], tmp_path: Path) -> Kernel:
    kernel = Kernel(env, cwd=str(tmp_path))
    kernels.append(kernel)
    kernel.run(LOAD)
    return kernel


def value(kernel: Kernel, expression: str, timeout: float = 60) -> Any:
    return json.loads(kernel.run(f"print(json.dumps({expression}))", timeout).text().strip())


def chat_posts(emulator: Emulator) -> list[dict[str, Any]]:
    return [r.body for r in emulator.requests() if r.method == "POST"]


def test_queued_turn_survives_kill_9_then_rerun_replaces_and_run_all_sends_nothing(
        kernels: list[Kernel], env: dict[str, str], tmp_path: Path, emulator: Emulator) -> None:
    first = start(kernels, env, tmp_path)
    first.run(f'%%grok_defer --thread k -s "Be brief."\nFirst question {SLOW}', cell_id="c1")
    queued = first.run("%%grok_defer --thread k -o two --timeout 120 -t 0.3 --max-tokens 900"
                       "\nSecond question", cell_id="c2")
    assert "waits for turn 1" in str(queued.outputs)
    first.run("import json")
    assert value(first, "two.status") == "queued"
    first.pump_until(lambda: len(chat_posts(emulator)) == 1, 30, "turn 1's POST")
    first.pump_until(lambda: value(first, "xai_defer_magic.thread('k').turns[0].request_id"),
                     30, "turn 1's id journaled")
    assert len(chat_posts(emulator)) == 1
    first.kill()  # turn 1 pending at xAI, turn 2 only in the journal

    second = start(kernels, env, tmp_path)  # %load_ext resumes turn 1, then sends turn 2
    second.run("import json")
    assert value(second, "xai_defer_magic.thread('k').turns[-1].result(60)[:0]") == ""
    posts = chat_posts(emulator)
    assert len(posts) == 2, "the queued turn was sent once"
    assert (posts[1]["temperature"], posts[1]["max_completion_tokens"]) == (0.3, 900)
    assert value(second, "xai_defer_magic.thread('k').turns[1].timeout") == 120, (
        "the cell's --timeout was lost across the kill")
    one = value(second, "xai_defer_magic.thread('k').turns[0].content")
    assert posts[1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": f"First question {SLOW}"},
        {"role": "assistant", "content": one},
        {"role": "user", "content": "Second question"}]
    records = emulator.requests()
    answered = next(i for i, r in enumerate(records) if r.method == "GET" and r.status == 200)
    assert answered < [i for i, r in enumerate(records) if r.method == "POST"][1]

    third = second.run("%%grok_defer --thread k --wait\nThird question", 60, cell_id="c3")
    assert "thread k · turn 3" in third.text() and "Follow-up after 2 earlier turns" in (
        third.text())
    two = value(second, "xai_defer_magic.thread('k').turns[1].content")
    assert chat_posts(emulator)[2]["messages"] == [
        *posts[1]["messages"], {"role": "assistant", "content": two},
        {"role": "user", "content": "Third question"}]

    second.run("%%grok_defer --thread k --wait\nSecond question, rephrased", 60, cell_id="c2")
    assert value(second, "len(xai_defer_magic.thread('k').turns)") == 2
    assert chat_posts(emulator)[-1]["messages"][-1]["content"] == "Second question, rephrased"
    second.run("%%grok_defer --thread k --wait\nThird question", 60, cell_id="c3")
    sent = len(chat_posts(emulator))
    assert sent == 5

    for cell, body in (("c1", f'-s "Be brief."\nFirst question {SLOW}'),
                       ("c2", "\nSecond question, rephrased"), ("c3", "\nThird question")):
        flags, _, prompt = body.partition("\n")
        second.run(f"%%grok_defer --thread k --wait {flags}\n{prompt}", 60, cell_id=cell)
    assert len(chat_posts(emulator)) == sent, "Run All re-asked a finished turn"
    assert value(second, "len(xai_defer_magic.thread('k').turns)") == 3
    transcript = second.run("%grok_thread k").text()
    assert transcript.index("Second question, rephrased") < transcript.index("Third question")


def test_cancelled_predecessor_fails_the_queued_turn_and_bad_names_are_one_line(
        kernels: list[Kernel], env: dict[str, str], tmp_path: Path, emulator: Emulator) -> None:
    kernel = start(kernels, env, tmp_path)
    kernel.run("import json")
    kernel.run("%%grok_defer --thread f -o one\nNever mind [[latency=60]]")
    kernel.run("%%grok_defer --thread f -o two\nFollow-up")
    kernel.pump_until(lambda: value(kernel, "one.request_id"), 30, "turn 1 accepted")
    kernel.run("one.cancel()")
    assert value(kernel, "two.wait(30) and [two.status, two.error]") == [
        "failed", "Not sent: turn 1 of thread 'f' ended cancelled; re-run that cell to "
        "continue the thread."]
    assert len(chat_posts(emulator)) == 1
    for name in ('""', "a/b", "x" * 65):
        bad = kernel.wait(kernel.submit(f"%%grok_defer --thread {name}\nHi"))
        assert bad.reply is not None and bad.reply["content"]["ename"] == "UsageError"
        assert "\n" not in bad.reply["content"]["evalue"]
    assert len(chat_posts(emulator)) == 1
