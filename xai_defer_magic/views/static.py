"""A job as plain rich data: the card as inert HTML, plus Markdown and text fallbacks.

A saved notebook must not need widget state (DESIGN §3.10): JupyterLab and Notebook 7 do not save
it by default, and a widget output then reopens as "Error displaying widget: model not found".
So every finished job's output is this bundle, which reads the same with no kernel, in
nbconvert's HTML and on GitHub. The HTML carries one ``<style>`` block scoped to the card
(renderers that strip it, like GitHub's, still get readable, structured text); the live card
(``card.py``) is built from the same pieces, so the two look alike. Model text goes through
``render`` (sanitized, images as links); every other server string is escaped here.
"""

from __future__ import annotations

from typing import Any

from xai_defer_magic.core.job import Job
from xai_defer_magic.render.answer import CARD_CSS, FRAME_CSS, answer_section
from xai_defer_magic.render.markdown import (
    escape,
    escape_markdown,
    is_inert,
    literal_markdown,
    safe_markdown,
)
from xai_defer_magic.render.math import text_html
from xai_defer_magic.views import text
from xai_defer_magic.views.card_extras import extras_html
from xai_defer_magic.views.images import images_html, images_markdown

_PILL_COLOURS = {
    "pending": "#1a73e8", "submitting": "#1a73e8", "done": "#188038", "failed": "#c5221f",
    "queued": "#5f6368", "expired": "#c5221f", "timed_out": "#b06000", "cancelled": "#b06000",
}


# --- the pieces (the live card shows the same ones in its widgets) ---------------------------


def status_pill(status: str) -> str:
    colour = _PILL_COLOURS.get(status, "#888")
    return (
        f'<span class="xdm-pill xdm-status-{escape(status)}" style="background:{colour};'
        f'color:#fff;border-radius:9px;padding:1px 8px">{escape(status)}</span>'
    )


def header_html(job: Job, now: float | None = None) -> str:
    rid = job.request_id or ""
    short = text.short_id(rid) if rid else ("not sent" if job.done else "submitting…")
    polls = f'{job.polls} poll{"s" if job.polls != 1 else ""}'
    parts = [
        f"<b>{escape(text.model_label(job))}</b>",
        status_pill(job.status),
        f'<span class="xdm-elapsed">{escape(text.duration(job.elapsed(now)))}</span>',
        f'<span class="xdm-polls">{polls}</span>',
        f'<span class="xdm-muted" title="{escape(rid)}">{escape(short)}</span>',
    ]
    if job.note and not job.done:
        parts.append(f'<span class="xdm-muted">{escape(job.note)}</span>')
    return '<div class="xdm-head">' + " ".join(parts) + "</div>"


def error_html(job: Job) -> str:
    """The error once: the status is already in the header's pill."""
    if not job.error or job.status == "done":
        return ""
    error = text_html(job.error)
    return f'<div class="xdm-error" style="border-left:4px solid #c5221f">{error}</div>'


def reasoning_html(job: Job) -> str:
    """The model's reasoning in a ``<details>`` (closed), or one line saying it was hidden."""
    if job.completion is None:
        return ""
    reasoning = job.completion.reasoning_content
    if reasoning:
        return (
            '<details class="xdm-reasoning"><summary>Reasoning</summary>'
            f"{answer_section(reasoning)}</details>"
        )
    tokens = job.completion.usage.reasoning_tokens
    if tokens:
        note = escape(text.reasoning_hidden(tokens))
        return f'<div class="xdm-muted xdm-reasoning-note">{note}</div>'
    return ""


def footer_html(job: Job) -> str:
    """Usage and cost, who answered, where a reused answer came from, the template and
    ``--schema`` extras, and the request id."""
    rows = []
    if job.completion is not None:
        rows.append(f'<div class="xdm-usage">{text_html(text.usage_line(job))}</div>')
        for line, kind in ((text.redirect_line(job), "redirect"), (reuse_line(job), "reused")):
            if line:
                rows.append(f'<div class="xdm-muted xdm-{kind}">{text_html(line)}</div>')
    rows.append(extras_html(job))
    if job.request_id:
        rows.append(
            f'<div class="xdm-muted">request id <span class="xdm-id">{escape(job.request_id)}'
            "</span></div>"
        )
    return "".join(rows)


def reuse_line(job: Job) -> str | None:
    return job.reused_from.line() if job.reused_from is not None else None


# --- the whole job ------------------------------------------------------------------------


# Inline too, for renderers that drop <style>; the theme variable wins where it is kept.
_CARD_STYLE = (
    "border:1px solid #999;border:1px solid var(--jp-border-color1,#ccc);border-radius:6px;"
    "padding:6px 10px;max-width:960px"
)


def card_html(job: Job) -> str:
    """The finished card as one inert HTML fragment (no script, nothing that loads)."""
    parts = [header_html(job), error_html(job)]
    if job.status == "done" and job.completion is not None:
        parts += [answer_section(job.completion.content), reasoning_html(job)]
    parts.append(footer_html(job))
    body = "".join(parts)
    return f'{CARD_CSS}<div class="xdm-card xdm-static" style="{_CARD_STYLE}">{body}</div>'


def card_markdown(job: Job) -> str:
    """The same in Markdown: server strings escaped, model text through ``safe_markdown``."""
    head = " · ".join(
        [f"**{escape_markdown(text.model_label(job))}**", escape_markdown(job.status),
         escape_markdown(job.request_id or "not sent")]
    )
    if images_markdown(job):
        head += "\n\n" + images_markdown(job)
    if job.status != "done" or job.completion is None:
        return f"{head}\n\n{escape_markdown(job.error or text.status_line(job))}\n"
    usage = escape_markdown(text.usage_line(job))
    sections = [head, safe_markdown(job.completion.content)]
    if job.completion.reasoning_content:
        sections += ["---", "**Reasoning**", safe_markdown(job.completion.reasoning_content)]
    sections.append(f"*{usage}*")
    for line in (text.redirect_line(job), reuse_line(job)):
        if line:
            sections.append(f"*{escape_markdown(line)}*")
    joined = "\n\n".join(sections) + "\n"
    if is_inert(joined):
        return joined
    # Two inert halves can still combine (an unclosed code span across them): show it literal.
    literal = [head, literal_markdown(job.completion.content), f"*{usage}*"]
    return "\n\n".join(literal) + "\n"


def standin_html(job: Job) -> str:
    """A running job in brief, for a notebook saved before it ended (``standin``): what it
    is, since when, and how to get its answer. Nothing in it changes while it polls."""
    rid = job.request_id
    parts = [f"<b>{escape(job.model)}</b>", status_pill(job.status),
             f'<span class="xdm-muted">submitted {escape(text.clock(job.created_at))}</span>']
    if job.note:
        parts.append(f'<span class="xdm-muted">{escape(job.note)}</span>')
    head = '<div class="xdm-head">' + " ".join(parts) + "</div>"
    hint = images_html(job) + f'<div class="xdm-muted">{escape(text.standin_hint(job))}</div>'
    ident = (f'<div class="xdm-muted">request id <span class="xdm-id">{escape(rid)}</span></div>'
             if rid else "")
    return f'{FRAME_CSS}<div class="xdm-card" style="{_CARD_STYLE}">{head}{hint}{ident}</div>'


def job_bundle(job: Job) -> dict[str, Any]:
    """What a saved notebook keeps of a job: HTML, Markdown and text, no widget."""
    return {
        "text/html": card_html(job),
        "text/markdown": card_markdown(job),
        "text/plain": text.result_text(job),
    }
