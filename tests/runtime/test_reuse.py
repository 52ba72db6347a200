"""Re-runs that do not pay twice: identical requests are answered from the journal.

Counted at the emulator: a reused answer sends no POST and no GET; a pending twin is attached
to, not sent again; ``--fresh`` and ``GrokDefer.reuse = False`` send; any difference sends.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import xai_defer_magic
from tests.support.shell import run, submitted, wait_for
from xai_defer_magic.emulator import Emulator

HANG = 30.0


pytestmark = [pytest.mark.emulator(latency=0.2), pytest.mark.grok_config(first_poll=0.1)]


def posts(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests() if r.method == "POST")


def gets(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests() if r.method == "GET")


def test_identical_finished_cell_sends_nothing(
    shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "%%grok_defer --wait -o a\nName a prime.")
    first = shell.user_ns["a"]
    assert first.status == "done" and posts(emulator) == 1
    sent_gets = gets(emulator)
    capsys.readouterr()

    run(shell, "%%grok_defer --wait -o b\nName a prime.")
    again = shell.user_ns["b"]
    assert posts(emulator) == 1 and gets(emulator) == sent_gets, "the re-run was sent"
    assert again is not first and again.status == "done"
    assert again.content == first.content and again.request_id == first.request_id
    assert again.reused_from is not None and again.reused_from.request_id == first.request_id
    assert first.reused_from is None, "the original handle must not change"
    shown = capsys.readouterr().out
    assert "reused answer from" in shown and first.request_id in shown
    assert "--fresh asks again" in shown and first.content in shown
    assert shown.count(first.content) == 1, "the reused answer was shown twice"


def test_pending_twin_is_attached_not_sent(shell: Any, emulator: Emulator) -> None:
    run(shell, "%%grok_defer -o a\nSlow one [[latency=60]]")
    run(shell, "%%grok_defer -o b\nSlow one [[latency=60]]")
    a, b = shell.user_ns["a"], shell.user_ns["b"]
    assert a is b, "the re-run, made while the first POST was on the wire, was not attached"
    submitted(a)
    assert posts(emulator) == 1 and a.status == "pending"
    emulator.complete(a.request_id)
    assert b.result(HANG) == a.content
    assert emulator.delivered_count(a.request_id) == 1


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ("%%grok_defer --wait --fresh\nName a prime.", "--fresh"),
        ("%%grok_defer --wait -t 0.5\nName a prime.", "another temperature"),
        ("%%grok_defer --wait -m grok-3-mini\nName a prime.", "another model"),
        ("%%grok_defer --wait -s 'Be brief.'\nName a prime.", "a system prompt"),
        ("%%grok_defer --wait\nName a prime!", "another prompt"),
    ],
)
def test_a_different_or_fresh_request_is_sent(
    shell: Any, emulator: Emulator, second: str, why: str
) -> None:
    run(shell, "%%grok_defer --wait\nName a prime.")
    run(shell, second)
    assert posts(emulator) == 2, f"{why} must send a new request"


def test_reuse_off_sends_again(shell: Any, emulator: Emulator) -> None:
    run(shell, "%%grok_defer --wait\nName a prime.")
    run(shell, "%config GrokDefer.reuse = False")
    run(shell, "%%grok_defer --wait\nName a prime.")
    assert posts(emulator) == 2


def test_reuse_survives_a_reload_from_the_journal(shell: Any, emulator: Emulator) -> None:
    run(shell, "%%grok_defer --wait -o a\nName a prime.")
    first_id = shell.user_ns["a"].request_id
    run(shell, "%unload_ext xai_defer_magic")
    run(shell, "%load_ext xai_defer_magic")
    run(shell, "%%grok_defer -o b\nName a prime.")
    again = shell.user_ns["b"]
    assert posts(emulator) == 1
    assert again.status == "done" and again.reused_from.request_id == first_id


def test_defer_fresh_from_python(env: dict[str, str], emulator: Emulator) -> None:
    from xai_defer_magic.runtime.runtime import close_runtime

    try:
        first = xai_defer_magic.defer("Same words.", display=False)
        first.result(HANG)
        assert xai_defer_magic.defer("Same words.", display=False).reused_from is not None
        fresh = xai_defer_magic.defer("Same words.", display=False, fresh=True)
        assert fresh.reused_from is None and fresh.request_id != first.request_id
        fresh.result(HANG)
        assert posts(emulator) == 2
    finally:
        close_runtime()


def test_an_answer_whose_final_status_is_not_yet_journaled_is_reused(
    shell: Any, emulator: Emulator
) -> None:
    """``--wait`` wakes when the job is done; the row's final status is written right after,
    on the loop thread. A re-run in that window (or after a reload that read the row first) found
    the row "pending", the handle done, and sent the request again."""
    from xai_defer_magic.runtime.runtime import get_runtime

    run(shell, "%%grok_defer --wait -o a\nName a prime.")
    first = shell.user_ns["a"]
    journal = get_runtime().journal
    wait_for(lambda: journal.get(first.request_id).status == "done", "the row's final status")
    # Now the row as another connection may read it while the answer and the status are still
    # queued behind a lock, not yet on disk.
    with sqlite3.connect(Path(journal.path)) as db:
        db.execute("UPDATE jobs SET status = 'pending', response_text = NULL, finished_at = NULL"
                   " WHERE request_id = ?", (first.request_id,))
    run(shell, "%%grok_defer -o b\nName a prime.")
    again = shell.user_ns["b"]
    assert posts(emulator) == 1
    assert again.status == "done" and again.reused_from.request_id == first.request_id
    assert again.content == first.content
