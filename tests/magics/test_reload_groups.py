"""Fan-out group handles taken before ``%reload_ext`` (or ``%unload_ext`` + ``%load_ext``) keep
working: the same group object in the new runtime, its unsent items sent exactly once, its
controls acting through the new runtime, and its card still following it in a kernel."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

import xai_defer_magic
from tests.support.polling import WITNESS_PROMPT, post_rounds
from tests.support.shell import run, wait_for
from xai_defer_magic.core.group import Group
from xai_defer_magic.emulator import Emulator

HANG = 30.0
RELOADS = {
    "reload_ext": ["%reload_ext xai_defer_magic"],
    "unload_then_load": ["%unload_ext xai_defer_magic", "%load_ext xai_defer_magic"],
}


pytestmark = [pytest.mark.emulator(latency=1.0),
              pytest.mark.grok_config(first_poll=0.1, model="grok-3")]


def posted(emulator: Emulator) -> Counter[str]:
    """POSTs the emulator received, by prompt (every one, whatever its answer)."""
    prompts = (r.body["messages"][-1]["content"] for r in emulator.requests()
               if r.method == "POST" and isinstance(r.body, dict))
    return Counter(p for p in prompts if p != WITNESS_PROMPT)


def slow_posts(emulator: Emulator, seconds: float = 0.3) -> None:
    emulator.faults.slow_rate = 1.0
    emulator.faults.slow_seconds = seconds
    emulator.faults.faults_apply_to = "post"


def reload(shell: Any, how: str) -> None:
    for line in RELOADS[how]:
        run(shell, line)
    run(shell, "%config GrokDefer.first_poll = 0.1")


def same_group_everywhere(shell: Any, g: Group, capsys: pytest.CaptureFixture[str]) -> None:
    """``groups()``, ``%grok_wait ID`` and ``%grok_jobs`` of the new runtime see ``g`` itself."""
    mine = [found for found in xai_defer_magic.groups() if found.id == g.id]
    assert len(mine) == 1 and mine[0] is g, "a second copy of the group"
    capsys.readouterr()
    run(shell, f"%grok_wait {g.id}")
    waited = capsys.readouterr().out
    assert f"{len(g)} done" in waited, waited
    run(shell, "%grok_jobs")
    assert capsys.readouterr().out.count(f"group {g.id}") == 1


def test_a_group_polled_across_reload_ext_is_the_same_handle(
    shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.latency = 1.5
    shell.user_ns["xs"] = ["ant", "bee", "cat"]
    run(shell, "%%grok_defer --over xs -o g\nName {item}")
    g: Group = shell.user_ns["g"]
    wait_for(lambda: g.counts()["submitted"] == 3, "every item submitted")
    assert not g.done
    reload(shell, "reload_ext")
    run(shell, "awaited = await g")
    answers = shell.user_ns["awaited"]
    assert [f"Name {x}" in (a or "") for x, a in zip(shell.user_ns["xs"], answers,
                                                      strict=True)] == [True] * 3
    assert g.wait(0) and g.results(0) == answers
    assert list(g.to_pandas()["answer"]) == answers
    same_group_everywhere(shell, g, capsys)
    for job in g:
        rid = job.request_id or ""
        assert (emulator.delivered_count(rid), emulator.gets_after_delivery(rid)) == (1, 0)


@pytest.mark.parametrize("how", list(RELOADS))
def test_a_group_still_submitting_sends_each_item_exactly_once(
    shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    n = 18  # three rounds of the submitter's 6 workers at 0.3 s a POST
    slow_posts(emulator)
    shell.user_ns["xs"] = [f"item {i}" for i in range(n)]
    run(shell, "%%grok_defer --over xs -o g\n{item}")
    g: Group = shell.user_ns["g"]
    wait_for(lambda: sum(posted(emulator).values()) >= 6, "the first round of POSTs")
    assert sum(posted(emulator).values()) < n, "still submitting at reload time"
    if how == "unload_then_load":
        run(shell, "%unload_ext xai_defer_magic")
        loops = [t for t in threading.enumerate() if t.name == "xai-defer-poller"]
        assert loops == [], "unload left the old runtime's loop thread running"
        post_rounds(emulator, 1)  # POSTs the drain let finish have landed
        stopped = sum(posted(emulator).values())
        post_rounds(emulator, 3)  # three more rounds' time, had the workers kept going
        assert sum(posted(emulator).values()) == stopped < n, "unloaded, yet still POSTing"
        run(shell, "%load_ext xai_defer_magic")
        run(shell, "%config GrokDefer.first_poll = 0.1")
    else:
        reload(shell, how)
    answers = g.results(timeout=HANG)
    assert all(f"“{x}”" in (a or "") for x, a in zip(shell.user_ns["xs"], answers, strict=True)), [
        j.error for j in g]
    assert posted(emulator) == Counter(shell.user_ns["xs"]), "each item POSTed exactly once"
    same_group_everywhere(shell, g, capsys)


def test_cancel_and_retry_failed_act_through_the_new_runtime(
    shell: Any, emulator: Emulator
) -> None:
    n = 30  # at cancel time, after the reload, at least 12 are still queued
    slow_posts(emulator)
    shell.user_ns["xs"] = [f"item {i}" for i in range(n)]
    run(shell, "%%grok_defer --over xs -o g\n{item}")
    g: Group = shell.user_ns["g"]
    wait_for(lambda: sum(posted(emulator).values()) >= 6, "the first round of POSTs")
    reload(shell, "unload_then_load")
    g.cancel()
    assert g.wait(HANG)
    unsent = [x for job, x in zip(g, shell.user_ns["xs"], strict=True) if job.request_id is None]
    assert unsent and {job.status for job in g if job.request_id is None} == {"cancelled"}
    assert not set(unsent) & set(posted(emulator)), "a cancelled item was sent"
    emulator.faults.slow_rate = 0.0
    cancelled = sum(job.status == "cancelled" for job in g)
    assert g.retry_failed() == cancelled
    answers = g.results(timeout=HANG)
    assert None not in answers, [j.error for j in g]
    assert posted(emulator) == Counter(shell.user_ns["xs"]), "each item POSTed exactly once"

    emulator.faults.error_5xx_rate = 1.0  # a group that ended (all failed) before a reload
    failed = xai_defer_magic.defer_many("{item}", ["p", "q"], model="grok-3")
    assert failed.wait(HANG) and failed.counts()["failed"] == 2
    reload(shell, "reload_ext")
    emulator.faults.error_5xx_rate = 0.0
    assert failed.retry_failed() == 2
    assert None not in failed.results(timeout=HANG)


# --- in a real kernel: the card ---------------------------------------------------------------
