"""The live status card of one job, built from ipywidgets and updated only through traits.

Background code never prints or displays (which cell such output lands in has changed across
ipykernel releases); it assigns widget traits, which the frontend routes by comm id.
The answer sits in an ``Output`` widget as a display bundle (sanitized HTML, inert Markdown,
plain text), so a notebook saved with widget state keeps a readable copy of it.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import ipywidgets as widgets

from . import text
from .card_extras import extras_html
from .job import Job
from .render import answer_html, escape, safe_markdown

CARD_CSS = """
<style>
.xdm-card{border:1px solid var(--jp-border-color1,#ccc);border-radius:6px;padding:6px 10px;
  margin:2px 0;max-width:960px;font-family:var(--jp-ui-font-family,sans-serif)}
.xdm-head{display:flex;flex-wrap:wrap;gap:10px;align-items:center;font-size:13px}
.xdm-pill{border-radius:9px;padding:1px 8px;font-weight:600;color:#fff;background:#888}
.xdm-status-pending,.xdm-status-submitting{background:#1a73e8}
.xdm-status-done{background:#188038}
.xdm-status-failed,.xdm-status-expired{background:#c5221f}
.xdm-status-timed_out,.xdm-status-cancelled{background:#b06000}
.xdm-muted{color:var(--jp-ui-font-color2,#666);font-size:12px}
.xdm-id{user-select:all;font-family:var(--jp-code-font-family,monospace)}
.xdm-error{border-left:4px solid #c5221f;background:rgba(197,34,31,.08);padding:6px 10px;
  color:var(--jp-ui-font-color0,#000);white-space:pre-wrap}
.xdm-usage{font-size:12px;color:var(--jp-ui-font-color1,#333)}
.xdm-usage b{font-weight:600}
</style>
"""


def status_pill(status: str) -> str:
    return f'<span class="xdm-pill xdm-status-{escape(status)}">{escape(status)}</span>'


def header_html(job: Job, now: float | None = None) -> str:
    rid = job.request_id or ""
    short = text.short_id(rid) if rid else ("not sent" if job.done else "submitting…")
    parts = [
        f"<b>{escape(text.model_label(job))}</b>",
        status_pill(job.status),
        f'<span class="xdm-elapsed">{escape(text.duration(job.elapsed(now)))}</span>',
        f'<span class="xdm-polls">{job.polls} poll{"s" if job.polls != 1 else ""}</span>',
        f'<span class="xdm-muted" title="{escape(rid)}">{escape(short)}</span>',
    ]
    if job.note and not job.done:
        parts.append(f'<span class="xdm-muted">{escape(job.note)}</span>')
    return '<div class="xdm-head">' + " ".join(parts) + "</div>"


def footer_html(job: Job) -> str:
    rows = []
    if job.completion is not None:
        rows.append(f'<div class="xdm-usage">{escape_usage(job)}</div>')
        note = text.redirect_line(job)
        if note:
            rows.append(f'<div class="xdm-muted xdm-redirect">{escape(note)}</div>')
    if job.request_id:
        rows.append(
            f'<div class="xdm-muted">request id <span class="xdm-id">{escape(job.request_id)}'
            "</span></div>"
        )
    return "".join(rows)


def escape_usage(job: Job) -> str:
    return escape(text.usage_line(job))


def answer_bundle(content: str) -> dict[str, Any]:
    """The three representations of an answer, every one of them inert."""
    return {
        "text/html": answer_html(content),
        "text/markdown": safe_markdown(content),
        "text/plain": content,
    }


def error_html(job: Job) -> str:
    return f'<div class="xdm-error"><b>{escape(job.status)}</b>: {escape(job.error or "")}</div>'


class JobCard(widgets.VBox):
    """One job's card. Build it on the kernel thread; it then follows the job by itself."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.display_id = f"xdm-{uuid.uuid4().hex}"
        self._header = widgets.HTML()
        self._answer = widgets.Output()
        self._error = widgets.HTML()
        self._reasoning_body = widgets.HTML()
        self._reasoning = widgets.Accordion(children=[self._reasoning_body])
        self._reasoning.selected_index = None
        self._reasoning.layout.display = "none"
        self._footer = widgets.HTML()
        self._rendered_status: str | None = None
        self._lock = threading.RLock()
        super().__init__(
            children=[
                widgets.HTML(CARD_CSS), self._header, self._error, self._answer,
                self._reasoning, self._footer,
            ]
        )
        self.add_class("xdm-card")
        self.refresh()
        job.add_listener(self._on_change)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        job = self.job
        if job.done:
            bundle["text/plain"] = text.status_line(job)
        else:  # frozen at display time: say what it is rather than a stale status
            bundle["text/plain"] = (
                f"[grok] live card for a {job.model} job (%grok_wait or %grok_result "
                "puts the answer in a cell's saved output)"
            )
        return bundle

    def _on_change(self, job: Job) -> None:
        self.refresh()

    def tick(self, now: float | None = None) -> None:
        """Update only the header (elapsed time, polls): the once-a-second path."""
        with self._lock:
            if self.job.status != self._rendered_status:
                return  # refresh() is on its way and will render the header last
            value = header_html(self.job, now)
            if value != self._header.value:
                self._header.value = value

    def refresh(self) -> None:
        """Bring every part of the card in line with the job."""
        with self._lock:
            job = self.job
            if job.status != self._rendered_status:
                self._rendered_status = job.status
                self._error.value = error_html(job) if job.error and job.status != "done" else ""
                if job.status == "done" and job.completion is not None:
                    self._show_answer(job)
                else:
                    self._answer.outputs = ()
                    self._reasoning.layout.display = "none"
            self._footer.value = footer_html(job) + extras_html(job)  # templates, --schema
            self.tick()  # last: a header saying "done" means the answer is already there

    def _show_answer(self, job: Job) -> None:
        assert job.completion is not None
        self._answer.outputs = (
            {"output_type": "display_data", "data": answer_bundle(job.completion.content),
             "metadata": {}},
        )
        reasoning = job.completion.reasoning_content
        tokens = job.completion.usage.reasoning_tokens
        if reasoning:
            body, title = answer_html(reasoning), "Reasoning"
        else:
            hidden = text.reasoning_hidden(tokens)
            body, title = f'<span class="xdm-muted">{escape(hidden)}</span>', hidden
        self._reasoning_body.value = body
        self._reasoning.set_title(0, title)
        self._reasoning.selected_index = None
        self._reasoning.layout.display = "" if (reasoning or tokens) else "none"

    def close(self) -> None:
        self.job.remove_listener(self._on_change)
        super().close()
