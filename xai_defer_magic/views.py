"""Showing jobs in the current cell: a live card in a kernel, status lines in a terminal.

``show_live`` and ``show_result`` run on the kernel thread while a cell executes, so
``display()`` lands in that cell. While a job runs its card is a widget; when it ends,
``LiveDisplay`` replaces the card's output with plain rich data (``static.job_bundle``) by
``update_display_data`` on the card's display id, so a notebook saved without widget state
(JupyterLab's default) still shows the answer. That one message is sent from whichever thread
ends the job, usually the poller's loop thread. ipykernel 7.4 stamps it with the parent header
of the most recent execute request (the loop thread never sets its own), and the frontend
routes it by display id, not by parent: JupyterLab and Notebook 7 update the original cell
while any other cell runs; nbclient, during a later cell such as ``%grok_wait``, updates the
card's cell in the saved notebook too.
"""

from __future__ import annotations

import threading
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
    LiveDisplay(card).follow()
    return card


class LiveDisplay:
    """Keeps a card's output right for a saved notebook: the widget while the job runs, plain
    data once it ends (and the widget again if it is resumed)."""

    def __init__(self, card: Any) -> None:
        self.card = card
        self._shown: str | None = None  # the status the cell's output was last sent for
        self._lock = threading.Lock()

    def follow(self) -> None:
        self.card.job.add_listener(self._on_change)
        self._on_change(self.card.job)

    def _on_change(self, job: Job) -> None:
        with self._lock:
            if job.status == self._shown:
                return
            previous, self._shown = self._shown, job.status
            if job.done:
                bundle = static_bundle(job)
            elif previous is None:
                return  # just displayed: the widget is already there
            else:  # pending again, or submitting -> pending: the widget, with today's text
                bundle = self.card._repr_mimebundle_() or {}
            update_display(bundle, raw=True, display_id=self.card.display_id)


def static_bundle(job: Job) -> dict[str, Any]:
    from .static import job_bundle  # markdown-it, nh3 and Pygments: on first use

    return job_bundle(job)


def show_result(job: Job, card: Any = None) -> None:
    """Show a finished job in the current cell as plain rich data (no widget state needed).

    Given the card already displayed in this cell, its output is replaced in place (one card);
    otherwise the finished card is displayed.
    """
    if not has_widgets():
        print(text.result_text(job))
        return
    bundle = static_bundle(job)
    if card is None:
        display(bundle, raw=True)
    else:
        update_display(bundle, raw=True, display_id=card.display_id)


def quiet(job: Job) -> bool:
    """Stop the terminal's "done" line (the caller prints the whole result); True if it was on."""
    was_on = _print_transitions in job._listeners
    job.remove_listener(_print_transitions)
    return was_on


def follow(job: Job) -> None:
    """Turn the terminal's "done" line back on for a job still running."""
    if _print_transitions not in job._listeners:
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
