"""The group card and the job card's extras, built in-process: rows, selection, throttling,
the static summary, and template/schema details (all model text escaped)."""

from __future__ import annotations

import json
import time
from typing import Any

from xai_defer_magic.core.completion import parse_completion_text
from xai_defer_magic.core.group import Group
from xai_defer_magic.core.job import Job
from xai_defer_magic.core.structured import resolve_schema
from xai_defer_magic.loop import LoopThread
from xai_defer_magic.views.card import JobCard
from xai_defer_magic.views.group_card import MAX_RENDERS_PER_SECOND, GroupCard
from xai_defer_magic.views.group_summary import summary_bundle

SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}


def finished(content: str, request: dict[str, Any] | None = None) -> Job:
    job = Job(model="grok-3", request=request or {"messages": [
        {"role": "user", "content": "Say <b>hi</b> {x}"}]}, base_url="http://127.0.0.1:1/v1")
    job.request_id = f"id-{id(job)}"
    body = {"choices": [{"message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
                      "cost_in_usd_ticks": 10_000_000}}
    job.finish(parse_completion_text(json.dumps(body)))
    return job


def a_group(jobs: list[Job]) -> Group:
    return Group("g-test", jobs, labels=[f"r{i}" for i in range(len(jobs))],
                 values=list(range(len(jobs))), columns=[], template="{item}", model="grok-3")


def test_selecting_a_row_shows_its_answer_rendered_and_inert() -> None:
    loop = LoopThread()
    try:
        group = a_group([finished("first **bold**"), finished("<script>x()</script> second")])
        card = GroupCard(group, loop)
        assert "2 done" in card._head.value and "0 pending of 2" in card._head.value
        assert [label for label, _ in card._rows.options][1].strip().startswith("r1  done")
        card._rows.value = 0
        assert "<strong>bold</strong>" in card._answer.value
        card._rows.value = 1
        assert "<script>" not in card._answer.value and "&lt;script&gt;" in card._answer.value
    finally:
        loop.stop()


def test_updates_are_throttled_while_items_change_fast() -> None:
    loop = LoopThread()
    try:
        jobs = [Job(model="grok-3", request={}, base_url="http://127.0.0.1:1/v1")
                for _ in range(200)]
        group = a_group(jobs)
        card = GroupCard(group, loop)
        card.start()
        before = card.renders
        started = time.monotonic()
        while time.monotonic() - started < 1.0:
            for job in jobs[:50]:
                job.notify()  # hundreds of item changes a second
        per_second = (card.renders - before) / (time.monotonic() - started)
        assert 1 <= per_second <= MAX_RENDERS_PER_SECOND + 1
    finally:
        loop.stop()


def test_static_summary_has_every_format_and_escapes_answers() -> None:
    bundle = summary_bundle(a_group([finished("<img src=x onerror=alert(1)> ok")]))
    assert set(bundle) == {"text/html", "text/markdown", "text/plain"}
    assert "<img" not in bundle["text/html"] and "&lt;img" in bundle["text/html"]
    assert "<img" not in bundle["text/markdown"]
    assert "1 done" in bundle["text/plain"] and "r0" in bundle["text/plain"]


def test_job_card_shows_filled_names_the_prompt_sent_and_parsed_fields() -> None:
    request = {"messages": [{"role": "user", "content": "Rate <i>this</i>"}],
               "response_format": resolve_schema(SCHEMA, "S").response_format()}
    job = finished('{"label": "<b>good</b>"}', request)
    job.template_names = ("review",)
    footer = JobCard(job)._footer.value
    assert "<code>{review}</code>" in footer
    assert "<details" in footer and "Rate &lt;i&gt;this&lt;/i&gt;" in footer
    assert '<table class="xdm-parsed"><tr><th>label</th><td>&lt;b&gt;good&lt;/b&gt;' in footer
    assert job.parsed == {"label": "<b>good</b>"}
    bad = finished("not json", request)
    assert "parse error" in JobCard(bad)._footer.value and bad.status == "done"
