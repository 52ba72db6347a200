"""Showing jobs in the current cell: a live card in a kernel, status lines in a terminal.

Everything here runs on the kernel thread while a cell executes, so ``display()`` lands in that
cell. Later changes reach the frontend only through widget traits (cards) or, in a terminal,
as printed lines.
"""

from __future__ import annotations

from typing import Any

from IPython.display import display, update_display

from . import text
from .job import Job


def has_widgets() -> bool:
    """True inside a Jupyter kernel (widgets have a frontend), False in terminal IPython."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def show_live(job: Job, ticker: Any = None) -> Any:
    """Show the job's live card (kernel) or its status line (terminal); return the card."""
    if not has_widgets():
        job.add_listener(_print_transitions)
        return None
    from .card import JobCard

    card = JobCard(job)
    if ticker is not None:
        ticker.add(card)
    display(card, display_id=card.display_id)
    return card


def show_reused(job: Job, ticker: Any = None) -> Any:
    """Show a reused answer as a finished result, or a pending twin's live card."""
    if job.done:
        show_result(job)
        return None
    return show_live(job, ticker)


def show_result(job: Job, card: Any = None) -> None:
    """Show a finished job in the current cell, in a form saved notebooks keep.

    Given the card already displayed in this cell, its output is replaced in place (one card,
    now with text fallbacks); otherwise a new finished card is displayed.
    """
    if not has_widgets():
        print(text.result_text(job))
        return
    from .card import JobCard

    fresh = card is None
    card = card or JobCard(job)
    bundle = result_bundle(job)
    view = (card._repr_mimebundle_() or {}).get("application/vnd.jupyter.widget-view+json")
    if view is not None:
        bundle["application/vnd.jupyter.widget-view+json"] = view
    if fresh:
        display(bundle, raw=True)
    else:
        update_display(bundle, raw=True, display_id=card.display_id)


def result_bundle(job: Job) -> dict[str, Any]:
    """Inert HTML, Markdown and text of a finished job, for saved notebooks and nbconvert."""
    from .render import answer_html, escape, safe_markdown  # markdown-it and nh3: on first use

    label = text.model_label(job)
    head = f"**{safe_markdown(label)}** · `{job.request_id}` · {job.status}"
    if job.status == "done" and job.completion is not None:
        body = job.completion.content
        usage = text.usage_line(job)
        reused = job.reused_from.line() if job.reused_from else ""
        reused_html = f"<p><small><i>{escape(reused)}</i></small></p>" if reused else ""
        reused_md = f"*{reused}*\n\n" if reused else ""
        note = text.redirect_line(job) or ""
        note_md = safe_markdown(note).replace("$", r"\$")  # "$1.25 … $2.50" is not LaTeX
        return {
            "text/html": (
                f"<p><b>{escape(label)}</b> · <code>{escape(job.request_id)}</code> · done"
                f"</p>{reused_html}{answer_html(body)}<p><small>{escape(usage)}</small></p>"
                + (f"<p><small>{escape(note)}</small></p>" if note else "")
            ),
            "text/markdown": f"{head}\n\n{reused_md}{safe_markdown(body)}\n\n*{usage}*\n"
            + (f"\n*{note_md}*\n" if note else ""),
            "text/plain": text.result_text(job),
        }
    line = text.status_line(job)
    return {
        "text/html": f'<div style="color:#c5221f">{escape(line)}</div>',
        "text/markdown": f"{head}: {safe_markdown(job.error or '')}",
        "text/plain": line,
    }


def quiet(job: Job) -> bool:
    """Stop the terminal's "done" line (the caller prints the whole result); True if it was on."""
    was_on = job.is_listening(_print_transitions)
    job.remove_listener(_print_transitions)
    return was_on


def follow(job: Job) -> None:
    """Turn the terminal's "done" line back on for a job still running."""
    if not job.is_listening(_print_transitions):
        job.add_listener(_print_transitions)


def _print_transitions(job: Job) -> None:
    """Terminal IPython: one line when the job is submitted, one when it ends."""
    if job.status == "pending" and job.polls == 0 and job.note is None:
        print(f"{text.status_line(job)} (%grok_wait blocks until done)")
    elif job.done:
        job.remove_listener(_print_transitions)
        hint = f"  (%grok_result {text.short_id(job.request_id or '')} shows it)"
        line = f"\n{text.status_line(job)}" + (hint if job.status == "done" else "")
        print(line + "\n", end="", flush=True)  # one write: it races the kernel thread's output
