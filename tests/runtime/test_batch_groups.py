"""``--batch`` groups in IPython's real shell against the emulator's Batch API: one batch per
cell, chunked adds, answers in input order at the batch price, cancel, per-item errors, a model
that is not batch-enabled, the threshold hint, and --batch past 10,000 items."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import xai_defer_magic
from tests.support.shell import run, usage_error, wait_for
from xai_defer_magic.core.group import Group
from xai_defer_magic.core.items import MAX_ITEMS, collect
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.engines.batch import groups as batch_groups
from xai_defer_magic.views.group_summary import summary_bundle, title

HANG = 30.0


pytestmark = [pytest.mark.emulator(latency=0.2), pytest.mark.grok_config(first_poll=0.1)]


@pytest.fixture(autouse=True)
def chunk_items() -> Iterator[None]:
    """Tests shrink the chunk size to see chunking without 1000 items; put it back."""
    saved = batch_groups.CHUNK_ITEMS
    yield
    batch_groups.CHUNK_ITEMS = saved


def batch_posts(emulator: Emulator, suffix: str) -> list[Any]:
    return [r for r in emulator.requests()
            if r.method == "POST" and r.path.startswith("/v1/batches") and r.path.endswith(suffix)]


def ticks(job: Any) -> int:
    return int(job.usage["cost_in_usd_ticks"])


def test_one_batch_chunked_adds_answers_in_order_at_the_batch_price(
    shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    batch_groups.CHUNK_ITEMS = 10
    shell.user_ns["xs"] = [f"item {i}" for i in range(25)]
    run(shell, "%%grok_defer --batch --over xs -m grok-4.3 -o g\nName {item}")
    g: Group = shell.user_ns["g"]
    assert g.results(HANG) and g.counts()["done"] == 25
    assert [job.content.split("Re: “")[1].split("”")[0] for job in g] == [
        f"Name item {i}" for i in range(25)]
    (batch_id,) = emulator.batches.batch_ids()
    assert g.batch_id == batch_id and batch_id in title(g)
    (create,) = batch_posts(emulator, "/v1/batches")
    name = create.body["name"]  # which cell, when, and the group (to find it after a crash)
    assert name.startswith("xai_defer_magic cell In [") and name.endswith(f"[{g.id}]"), name
    adds = batch_posts(emulator, "/requests")
    assert [len(r.body["batch_requests"]) for r in adds] == [10, 10, 5]
    assert sorted(emulator.batches.items(batch_id)) == [f"{g.id}-{i:06d}" for i in range(25)]
    assert not [r for r in emulator.requests() if r.path == "/v1/chat/completions"]
    assert [job.request_id for job in g] == [f"{g.id}-{i:06d}" for i in range(25)]
    # The same requests through the deferred path: the batch bills 0.8x each (grok-4.3).
    run(shell, "%%grok_defer --over xs -m grok-4.3 --fresh -o d\nName {item}")
    d: Group = shell.user_ns["d"]
    assert d.results(HANG) and d.counts()["done"] == 25
    assert [ticks(b) for b in g] == [round(ticks(x) * 0.8) for x in d]
    assert abs(sum(j.cost_usd for j in g) - 0.8 * sum(j.cost_usd for j in d)) < 1e-9
    # %grok_wait / %grok_result / %grok_jobs show a batch group like any other, with its batch.
    capsys.readouterr()
    run(shell, f"%grok_wait {g.id}")
    waited = capsys.readouterr().out
    assert f"batch {batch_id}" in waited and "25 done" in waited
    run(shell, f"%grok_result {g.id}")
    assert f"batch {batch_id}" in capsys.readouterr().out
    run(shell, "%grok_jobs")
    assert f"group {g.id}" in (jobs := capsys.readouterr().out) and f"(batch {batch_id})" in jobs
    assert batch_id in summary_bundle(g)["text/html"]


def test_a_single_prompt_and_defer_many_batch_are_groups_of_the_batch_api(
    shell: Any, emulator: Emulator
) -> None:
    run(shell, "topic = 'owls'")
    run(shell, "%%grok_defer --batch -o g\nOne line about {topic}.")
    g: Group = shell.user_ns["g"]
    assert len(g) == 1 and "One line about owls." in g.results(HANG)[0]
    many = xai_defer_magic.defer_many("Say {item}", ["a", "b"], batch=True, display=False)
    assert [a.split("Re: “")[1].split("”")[0] for a in many.results(HANG)] == ["Say a", "Say b"]
    assert len(emulator.batches.batch_ids()) == 2
    assert not [r for r in emulator.requests() if r.path == "/v1/chat/completions"]
    shell.user_ns.pop("topic", None)


def test_cancel_keeps_finished_answers_and_shows_the_rest_cancelled(
    shell: Any, emulator: Emulator
) -> None:
    shell.user_ns["xs"] = ["[[latency=0]] a", "[[latency=0]] b", "[[latency=600]] c",
                           "[[latency=600]] d"]
    run(shell, "%%grok_defer --batch --over xs -o g\n{item}")
    g: Group = shell.user_ns["g"]
    wait_for(lambda: g.counts()["done"] == 2, "the two quick items")
    g.cancel()
    assert g.wait(HANG)
    assert [job.status for job in g] == ["done", "done", "cancelled", "cancelled"]
    assert "Cancelled with batch" in (g[2].error or "")
    assert len(batch_posts(emulator, ":cancel")) == 1
    states = {rid: item.state for rid, item in emulator.batches.items(g.batch_id or "").items()}
    assert sorted(states.values()) == ["cancelled", "cancelled", "succeeded", "succeeded"]


def test_per_item_errors_are_that_items_one_line(shell: Any, emulator: Emulator) -> None:
    shell.user_ns["xs"] = ["fine", "[[fail=500]] broken", "also fine"]
    run(shell, "%%grok_defer --batch --over xs -o g\n{item}")
    g: Group = shell.user_ns["g"]
    assert g.wait(HANG)
    assert [job.status for job in g] == ["done", "failed", "done"]
    assert g[1].error == "Emulated failure requested by [[fail=500]]."
    assert g.results(0)[1] is None and g.to_pandas()["error"].iloc[1] == g[1].error


def test_a_model_that_is_not_batch_enabled_is_one_line_and_nothing_else_is_sent(
    shell: Any, emulator: Emulator
) -> None:
    shell.user_ns["xs"] = ["a", "b", "c"]
    run(shell, "%%grok_defer --batch --over xs -m grok-3-mini -o g\n{item}")  # returns at once
    g: Group = shell.user_ns["g"]
    wait_for(lambda: g.done, "xAI's refusal of the first add")
    errors = {job.error for job in g}
    assert len(errors) == 1 and "grok-3-mini is not supported for batch processing" in (
        errors.pop() or ""), [job.error for job in g]
    assert "not admitted" in title(g) and xai_defer_magic.groups() == []  # nothing to resume
    (batch_id,) = emulator.batches.batch_ids()  # the create cannot tell: it stays empty
    assert emulator.batches.items(batch_id) == {}
    sent = [(r.method, r.path, r.status) for r in emulator.requests()]
    assert sent == [("POST", "/v1/batches", 200),
                    ("POST", f"/v1/batches/{batch_id}/requests", 400)]


def test_over_past_the_threshold_without_batch_suggests_it_once_and_proceeds(
    shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    run(shell, "%config GrokDefer.batch_threshold = 3")
    run(shell, "%config GrokDefer.model = 'grok-3'")
    shell.user_ns["xs"] = ["a", "b", "c"]
    run(shell, "%%grok_defer --over xs -o g\n{item}")
    assert "--batch" not in capsys.readouterr().out  # at the threshold: no hint
    shell.user_ns["xs"] = ["a", "b", "c", "d"]
    run(shell, "%%grok_defer --over xs -o g\n{item}")
    hints = [line for line in capsys.readouterr().out.splitlines() if "--batch" in line]
    assert hints == ["4 items: --batch would be cheaper (xAI's Batch API, 20 % off on grok-4.3) "
                     "and not rate-limited; its answers can take up to 24 h."]
    assert len(shell.user_ns["g"].results(HANG)) == 4


def test_batch_takes_more_than_10000_items_which_the_deferred_path_refuses(
    shell: Any, emulator: Emulator
) -> None:
    big = [f"row {i}" for i in range(MAX_ITEMS + 1)]
    shell.user_ns["big"] = big
    line = usage_error(shell, "%%grok_defer --over big -m grok-3-mini\n{item}")
    assert "need --batch" in line and not emulator.requests()
    assert len(collect(big, "big", batch=True).values) == MAX_ITEMS + 1
    # Through the magic: past the count check, to xAI's own answer (a cheap refusal).
    run(shell, "%%grok_defer --batch --over big -m grok-3-mini -o g\n{item}")
    wait_for(lambda: shell.user_ns["g"].done, "xAI's refusal of the first add")
    assert "not supported for batch processing" in (shell.user_ns["g"].jobs[0].error or "")
    adds = batch_posts(emulator, "/requests")
    assert len(adds) == 1 and len(adds[0].body["batch_requests"]) == 1000


def test_reload_ext_resumes_the_same_batch_into_the_handle_already_held(
    shell: Any, emulator: Emulator
) -> None:
    shell.user_ns["xs"] = ["[[latency=1.5]] a", "[[latency=1.5]] b"]
    run(shell, "%%grok_defer --batch --over xs -o g\n{item}")
    g: Group = shell.user_ns["g"]
    assert not g.done
    run(shell, "%reload_ext xai_defer_magic")
    run(shell, "%config GrokDefer.first_poll = 0.1")
    answers = g.results(HANG)
    assert [a is not None for a in answers] == [True, True], [(j.status, j.error) for j in g]
    assert xai_defer_magic.groups()[0] is g and g.controller is not None
    assert len(emulator.batches.batch_ids()) == 1
    assert len(batch_posts(emulator, "/v1/batches")) == 1


def test_re_running_a_finished_batch_cell_sends_nothing(shell: Any, emulator: Emulator) -> None:
    shell.user_ns["xs"] = ["ant", "bee", "cat"]
    run(shell, "%%grok_defer --batch --over xs -m grok-4.3 -o g\nName {item}")
    first: Group = shell.user_ns["g"]
    answers = first.results(HANG)
    assert first.counts()["done"] == 3
    sent = len(emulator.requests())
    run(shell, "%%grok_defer --batch --over xs -m grok-4.3 -o g\nName {item}")
    again: Group = shell.user_ns["g"]
    assert again.results(HANG) == answers
    assert len(emulator.requests()) == sent, [(r.method, r.path) for r in emulator.requests()]
    assert all(job.reused_from is not None for job in again)
    assert len(emulator.batches.batch_ids()) == 1
    shell.user_ns["xs"] = ["ant", "bee", "dog"]  # one edited item: the batch is sent whole
    run(shell, "%%grok_defer --batch --over xs -m grok-4.3 -o g\nName {item}")
    assert shell.user_ns["g"].results(HANG)[2] != answers[2]
    assert len(emulator.batches.batch_ids()) == 2
