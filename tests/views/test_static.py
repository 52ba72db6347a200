"""A finished job as plain rich data: what a saved notebook keeps when widget state is not saved.

The bundle must carry the whole card (status, model, rendered answer, reasoning, usage, request
id) as inert HTML, Markdown and text, with every server-provided string escaped; ``--wait``,
``%grok_wait`` and ``%grok_result`` must emit no widget at all, and a live card's output must be
replaced by that bundle, by display id, when its job ends (issue 8 item 2, issue 10 items 2, 5).
"""

from __future__ import annotations

import html
import re
from typing import Any

from tests.support.html import TRUSTING, image_sources, live_parts, visible_text
from xai_defer_magic.core.answer import Answer
from xai_defer_magic.core.completion import parse_completion
from xai_defer_magic.core.job import Job
from xai_defer_magic.views.static import card_markdown, job_bundle

WIDGET = "application/vnd.jupyter.widget-view+json"
HOSTILE_MODEL = "grok-<img src=x onerror=alert(1)>**bold**`tick`[l](javascript:1)"
ANSWER = (
    "## Primes\n\n- 2\n- 3\n\n![pixel](https://tracker.example/p.png)\n\n"
    "```python\nprint(1)\n```\n\n| a | b |\n|---|---|\n| x | y |\n"
)


def finished_job(model: str = "grok-4", reasoning: str | None = "Step one.",
                 reasoning_tokens: int = 12, served: str | None = None) -> Job:
    job = Job(model=model, request={"messages": []}, base_url="http://127.0.0.1:1/v1",
              created_at=1000.0)
    job.request_id = "0f1e2d3c-4b5a-4697-8877-665544332211"
    job.polls = 3
    message: dict[str, Any] = {"role": "assistant", "content": ANSWER}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    job.finish(parse_completion({
        "id": job.request_id, "object": "chat.completion", "created": 1, "model": served or model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 24,
                  "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
                  "cost_in_usd_ticks": 12_345_000},
    }))
    job.finished_at = 1003.2
    return job


def card_body(fragment: str) -> str:
    """The card without its <style> block (which the frontend applies, never shows)."""
    return re.sub(r"<style>.*?</style>", "", fragment, flags=re.S)


def test_done_bundle_is_the_whole_card_as_plain_data() -> None:
    bundle = job_bundle(finished_job())
    assert set(bundle) == {"text/html", "text/markdown", "text/plain"}
    page = card_body(bundle["text/html"])
    shown = visible_text(page)
    for part in ("grok-4", "done", "3 polls", "Primes", "Reasoning", "Step one.", "total 24",
                 "cost $0.0012", "0f1e2d3c-4b5a-4697-8877-665544332211"):
        assert part in shown, (part, shown)
    assert "Primes</h2>" in page and "<li>2</li>" in page and "<table>" in page
    assert '<td style="text-align:left">x</td>' in page
    assert '<details class="xdm-reasoning"><summary>Reasoning</summary>' in page
    assert '<span class="nb" style="color:' in page
    assert not live_parts(page.replace(' style="', ' data-s="')), live_parts(page)
    assert image_sources(bundle["text/html"]) == []
    assert "<script" not in bundle["text/html"] and "http" not in re.sub(
        r'href="[^"]*"|title="[^"]*"', "", bundle["text/html"]).replace("https://tracker", "")
    assert "Primes" in bundle["text/markdown"] and "Step one." in bundle["text/markdown"]
    assert bundle["text/plain"].startswith("[grok] 0f1e2d3c")
    assert "Step one." in bundle["text/plain"]


def test_server_strings_are_escaped_in_html_and_markdown() -> None:
    job = finished_job(model=HOSTILE_MODEL, served=HOSTILE_MODEL + "<b>served</b>")
    job.request_id = "`<b>id</b>`**x**"
    bundle = job_bundle(job)
    page = card_body(bundle["text/html"])
    assert "<img" not in page and "<b>served</b>" not in page and "<b>id</b>" not in page
    assert HOSTILE_MODEL in html.unescape(page)
    rendered = TRUSTING.render(bundle["text/markdown"])
    assert not live_parts(rendered) and image_sources(rendered) == [], rendered
    assert "<strong>bold</strong>" not in rendered and "<code>tick</code>" not in rendered
    assert not any(t.type.startswith("html") for t in TRUSTING.parse(bundle["text/markdown"]))
    head = TRUSTING.render(card_markdown(job).split("\n\n")[0])
    assert HOSTILE_MODEL in visible_text(head), head


def test_failed_card_says_failed_once_on_one_single_spaced_line() -> None:
    job = Job(model="grok-4", request={}, base_url="x", created_at=1.0)
    job.request_id = "abc"
    job.set_status("failed", error="Model not found (404): The model grok-x does not exist.")
    page = card_body(job_bundle(job)["text/html"])
    shown = visible_text(page)
    assert shown.count("failed") == 1, shown
    assert "Model not found (404)" in shown
    error = re.search(r'<div class="xdm-error"[^>]*>(.*?)</div>', page)
    assert error and "\n" not in error.group(1)
    assert "white-space:pre-wrap" not in job_bundle(job)["text/html"]


def test_hidden_reasoning_is_said_once() -> None:
    page = card_body(job_bundle(finished_job(reasoning=None, reasoning_tokens=1234))["text/html"])
    assert visible_text(page).count("reasoning hidden by the model") == 1
    assert "<details" not in page
    plain = card_body(job_bundle(finished_job(reasoning=None, reasoning_tokens=0))["text/html"])
    assert "reasoning" not in visible_text(plain).replace("reasoning 0", "")


def test_answer_is_a_str_that_renders_itself() -> None:
    from IPython.lib.pretty import pretty

    answer = Answer(ANSWER)
    assert answer == ANSWER and isinstance(answer, str) and answer.upper() == ANSWER.upper()
    data = {"text/plain": pretty(answer), "text/html": answer._repr_html_(),
            "text/markdown": answer._repr_markdown_()}
    assert data["text/plain"] == ANSWER  # the text as written, not an escaped repr
    assert "Primes</h2>" in data["text/html"] and image_sources(data["text/html"]) == []
    assert "<script" not in Answer("<script>alert(1)</script>")._repr_html_().replace(
        "&lt;script", "")
    assert data["text/markdown"].startswith("## Primes")


# --- in a real kernel: what the frontend receives --------------------------------------------


def test_a_pending_card_shows_only_its_header() -> None:
    """Empty widgets still take a line each: a pending card hides every part it has no text for."""
    from xai_defer_magic.views.card import JobCard

    job = Job(model="grok-4", request={}, base_url="x", created_at=1.0)
    job.request_id = "abc"
    job.set_status("pending")
    card = JobCard(job)
    try:
        shown = [c for c in card.children if "xdm-hidden" not in c._dom_classes]
        assert shown == [card._header, card._footer], [type(c).__name__ for c in shown]
        # Each widget is a message on the cell's time: a pending card opens no other part.
        assert list(card.children) == shown
        job.finish(finished_job().completion)  # type: ignore[arg-type]
        shown = [c for c in card.children if "xdm-hidden" not in c._dom_classes]
        assert card._answer in shown and card._reasoning in shown and card._error not in shown
    finally:
        card.close()


def test_math_bundle_keeps_tex_for_mathjax_dollars_in_markdown_and_text_as_written() -> None:
    """Issue 18: HTML keeps each formula's delimiters, Markdown uses $/$$, text is as written."""
    tex = "Sum \\(x_i^2\\) and $a_1*b_2$; it costs $5.\n\n\\[ \\frac{n(n+1)}{2} \\]\n"
    job = finished_job(reasoning="Check $n = 3$ gives \\(6\\).")
    job.finish(parse_completion({
        "id": job.request_id, "object": "chat.completion", "created": 1, "model": "grok-4",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": tex,
            "reasoning_content": "Check $n = 3$ gives \\(6\\)."}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }))
    bundle = job_bundle(job)
    page = html.unescape(card_body(bundle["text/html"]))
    for form in ("\\(x_i^2\\)", "$a_1*b_2$", "\\[ \\frac{n(n+1)}{2} \\]", "\\(6\\)", "$n = 3$"):
        assert form in page, form
    assert "<em>" not in page
    markdown = bundle["text/markdown"]
    for form in ("$x_i^2$", "$a_1*b_2$", "$$ \\frac{n(n+1)}{2} $$", "$6$", "costs \\$5"):
        assert form in markdown, form
    assert "\\(" not in markdown and "\\[" not in markdown
    assert tex.strip() in bundle["text/plain"]


def test_prices_on_the_card_are_not_read_as_math() -> None:
    """The usage line's "$0.0012" sits in the HTML that MathJax typesets: its $ is ignored."""
    page = job_bundle(finished_job())["text/html"]
    assert 'cost <span class="mathjax_ignore tex2jax_ignore">$</span>0.0012' in page
