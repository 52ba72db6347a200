"""Plain-text wording shared by the card, the jobs panel and terminal IPython."""

from __future__ import annotations

import time

from xai_defer_magic.core.catalogue import redirect_note
from xai_defer_magic.core.job import Job
from xai_defer_magic.render.plain import usd


def short_id(request_id: str) -> str:
    return request_id[:8] if len(request_id) > 8 else request_id


def model_label(job: Job) -> str:
    """The model asked for, and what the server resolved it to when that differs."""
    resolved = job.completion.model if job.completion else None
    if resolved and resolved != job.model:
        return f"{job.model} → {resolved}"
    return job.model


def redirect_line(job: Job) -> str | None:
    """One line when a retired slug was served by another model (wording: catalogue.py)."""
    if not job.served_model or job.served_model == job.model:
        return None
    return redirect_note(job.model, job.served_model, job.catalogue)


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def tokens(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def cost(value: float | None) -> str:
    return "–" if value is None else usd(value)


def job_cost(job: Job) -> str:
    """The job's cost, marked when it is computed from prices rather than billed."""
    value = job.cost_usd
    return f"{cost(value)} (estimated)" if job.cost_estimated and value is not None else cost(value)


def usage_line(job: Job) -> str:
    if job.completion is None:
        return ""
    u = job.completion.usage
    parts = [
        f"prompt {tokens(u.prompt_tokens)} (cached {tokens(u.cached_tokens)})",
        f"completion {tokens(u.completion_tokens)}",
        f"reasoning {tokens(u.reasoning_tokens)}",
        f"total {tokens(u.total_tokens)} tokens",
    ]
    if job.cost_usd is not None:
        parts.append(f"cost {job_cost(job)}")
    if job.estimated_cost_usd is not None:
        parts.append(f"estimated before sending {cost(job.estimated_cost_usd)}")
    if job.completion.finish_reason:
        parts.append(f"finish: {job.completion.finish_reason}")
    return " · ".join(parts)


def reasoning_hidden(reasoning_tokens: int | None) -> str:
    if reasoning_tokens:
        return f"reasoning hidden by the model: {reasoning_tokens:,} reasoning tokens"
    return "no reasoning returned"


def status_line(job: Job) -> str:
    """One line for terminals and ``text/plain`` fallbacks."""
    rid = job.request_id or "(not submitted)"
    line = f"[grok] {rid} {model_label(job)}: {job.status}, {duration(job.elapsed())}"
    line += f", {job.polls} polls"
    if job.status == "queued" and job.note:
        line += f" ({job.note})"
    if job.error and job.status != "done":
        line += f" — {job.error}"
    elif job.status == "done" and job.completion is not None:
        line += f" — {usage_line(job)}"
    return line


def result_text(job: Job) -> str:
    """The full plain-text rendering of a finished job (terminal IPython)."""
    lines = [status_line(job)]
    if job.thread is not None:
        lines.append(f"thread {job.thread[0]} · turn {job.thread[1]}"
                     + (f" · {job.thread_note}" if job.thread_note else ""))
    if job.images:
        lines.append("images: " + "; ".join(image.describe() for image in job.images))
    if job.reused_from is not None:
        lines.append(job.reused_from.line())
    note = redirect_line(job)
    if note:
        lines.append(note)
    if job.completion is not None:
        if job.completion.reasoning_content:
            lines += ["--- reasoning ---", job.completion.reasoning_content, "--- answer ---"]
        lines.append(job.completion.content)
    return "\n".join(lines)


def clock(timestamp: float) -> str:
    """A wall-clock time with its zone: a saved notebook is read elsewhere, later."""
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(timestamp))


def standin_hint(job: Job) -> str:
    """What a reader of a notebook saved before the job ended can do about it."""
    if job.request_id is None:
        return f"{job.status} when this output last changed (not sent to xAI yet)"
    return (f"{job.status} when this output last changed; with a kernel, "
            f"%grok_result {short_id(job.request_id)} shows the answer once it is done")


def live_card_text(job: Job) -> str:
    """A running job in one line: what a saved notebook shows where no widget can render."""
    rid = job.request_id or "(not sent yet)"
    return f"[grok] {rid} {job.model}: {standin_hint(job)}"
