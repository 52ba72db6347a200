"""``%grok_thread`` output and a thread turn's card, as plain data: the prompt and the answer
of each turn (model text sanitized, prompts escaped), the list's totals, and a queued turn
counted as unfinished wherever jobs are listed."""

from __future__ import annotations

from typing import Any

from xai_defer_magic.core.completion import parse_completion
from xai_defer_magic.core.job import Job
from xai_defer_magic.core.thread import Thread
from xai_defer_magic.render.markdown import is_inert
from xai_defer_magic.views.jobs_table import filter_jobs, order_jobs, totals
from xai_defer_magic.views.static import job_bundle
from xai_defer_magic.views.thread import list_bundle, transcript_bundle

HOSTILE = "<script>window.__xss=1</script><img src=x onerror=alert(1)>"


def answered(prompt: str, answer: str, turn: int) -> Job:
    job = Job(model="grok-4.3", request={"messages": [{"role": "user", "content": prompt}]},
              base_url="http://127.0.0.1:1/v1", created_at=1000.0 + turn)
    job.accepted(f"rid-{turn}")
    job.in_thread("plan", turn)
    message: dict[str, Any] = {"role": "assistant", "content": answer}
    job.finish(parse_completion({
        "id": f"rid-{turn}", "object": "chat.completion", "created": 1, "model": "grok-4.3",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10 * turn, "completion_tokens": 5, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 4},
                  "cost_in_usd_ticks": 10_000_000}}))
    return job


def test_transcript_shows_each_prompt_and_answer_inert() -> None:
    turns = [answered(f"Question {HOSTILE}", f"**Answer one** {HOSTILE}", 1),
             answered("Second?", "Answer two", 2)]
    bundle = transcript_bundle(Thread("plan", turns, branches=1))
    page = bundle["text/html"]
    assert "<script" not in page and "<img" not in page and "&lt;img src=x" in page
    assert "<strong>Answer one</strong>" in page
    assert page.index("Question") < page.index("Answer one") < page.index("Second?")
    plain = bundle["text/plain"]
    assert plain.startswith("thread plan · 2 turns · 1 earlier-branch turns kept")
    assert ">>> Second?" in plain and "thread plan · turn 2" in plain
    assert "prompt 20 (cached 4)" in plain
    assert is_inert(bundle.get("text/markdown", ""))


def test_thread_list_totals_turns_tokens_and_cost() -> None:
    turns = [answered("a", "b", 1), answered("c", "d", 2)]
    listing = list_bundle([Thread("plan", turns)])
    assert "plan  2  30  $0.0020" in listing["text/plain"]
    assert "No threads yet" in list_bundle([])["text/plain"]


def test_a_queued_turn_is_unfinished_in_the_jobs_table_and_says_what_it_waits_for() -> None:
    done = answered("a", "b", 1)
    waiting = Job(model="grok-4.3", request={"messages": []}, base_url="http://127.0.0.1:1/v1",
                  created_at=900.0)
    waiting.in_thread("plan", 2)
    waiting.queued_behind("waits for turn 1")
    assert order_jobs([done, waiting])[0] is waiting
    assert filter_jobs([done, waiting], "pending") == [waiting]
    assert totals([done, waiting]).counts["pending"] == 1
    card = job_bundle(waiting)
    assert "queued" in card["text/plain"] and "waits for turn 1" in card["text/plain"]
    assert "thread plan · turn 2" in card["text/html"]
