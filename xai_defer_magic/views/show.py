"""Showing jobs in the current cell: a live card in a kernel, status lines in a terminal.

``show_live`` and ``show_result`` run on the kernel thread while a cell executes, so
``display()`` lands in that cell. While a job runs its card is a widget, with a plain-data
stand-in just after it (``standin``: what a notebook saved now shows in its place); when it
ends, ``LiveDisplay`` retires the stand-in and replaces the card's output with plain rich data
(``static.job_bundle``) by ``update_display_data`` on the card's display id, so a notebook saved
without widget state (JupyterLab's default) still shows the answer. That message is sent from
whichever thread ends the job, usually the poller's loop thread, while other cells run. Which
cell's header it carries matters only headless: JupyterLab and Notebook 7 route an update by
display id to every cell that showed that id (``@jupyterlab/services`` ``_handleDisplayId``),
whatever its parent, and nbclient reads only the running cell's messages. ipykernel 7.4 takes
a display's parent from a context variable, which a loop task inherits from the cell that
scheduled it; ``update_from_any_thread`` clears it so the latest cell's header is used, and
``%grok_wait`` sends the update again from its own cell before it returns, so papermill saves
the card's plain data too.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from IPython.display import display

from xai_defer_magic.core.job import QUEUED, Job
from xai_defer_magic.views import text
from xai_defer_magic.views.standin import Standin
from xai_defer_magic.views.standin import update_from_any_thread as _update


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
        if job.status == QUEUED:  # a thread turn: it says which turn it waits for
            print(text.status_line(job))
        job.add_listener(_print_transitions)
        return None
    from xai_defer_magic.views.card import JobCard
    from xai_defer_magic.views.static import standin_html

    standin = Standin()
    card = JobCard(job, classes=(standin.live_class,))  # opened with its twin's class
    standin.attach(card)
    if ticker is not None:
        ticker.add(card)
    # Its own bundle, raw: IPython's formatters would only rebuild it (a cell's milliseconds).
    display(card._repr_mimebundle_(), raw=True, display_id=card.display_id)
    standin.show(standin_html(job))
    LiveDisplay(card).follow(standin_shown=True)
    return card


def show_reused(job: Job, ticker: Any = None) -> Any:
    """Show a reused answer as a finished result, or a pending twin's live card."""
    if job.done:
        show_result(job)
        return None
    return show_live(job, ticker)


class LiveDisplay:
    """Keeps a card's output right for a saved notebook: the widget and its stand-in while the
    job runs, plain data once it ends (and the widget again if it is resumed)."""

    def __init__(self, card: Any) -> None:
        self.card = card
        self.standin: Standin | None = card.standin
        # What the cell's output was last sent for: the status, and for a finished job whether
        # the catalogue had arrived (a redirect line and a price come with it, maybe later).
        self._shown: tuple[str, bool] | None = None
        self._told: tuple[Any, ...] | None = None  # what the stand-in last said
        self._lock = threading.Lock()

    def follow(self, standin_shown: bool = False) -> None:
        """Keep the output right from now on; ``standin_shown``: the stand-in says what the
        job is now (just displayed), so nothing is sent again."""
        job = self.card.job
        if standin_shown:
            self._told = _standin_says(job)
        with _live_lock:
            _live.setdefault(job, weakref.WeakSet()).add(self)
        job.add_listener(self._on_change)
        self._on_change(job)

    def _on_change(self, job: Job) -> None:
        with self._lock:
            if job.done:
                self._retire_standin()
                self._told = None  # a resumed job gets its stand-in back
            elif self.standin is not None and self._told != (told := _standin_says(job)):
                self._told = told
                self.standin.update(lambda: _standin_html(job))
            shown = (job.status, job.done and job.catalogue is not None)
            if shown == self._shown:
                return
            previous, self._shown = self._shown, shown
            if job.done:
                bundle = static_bundle(job)
            elif previous is None:
                return  # just displayed: the widget is already there
            else:  # pending again, or submitting -> pending: the widget, with today's text
                bundle = self.card._repr_mimebundle_() or {}
            _update(bundle, self.card.display_id)

    def show_final(self, bundle: dict[str, Any]) -> None:
        """Send the finished card again, from the running cell (see ``show_result``)."""
        self._retire_standin()
        _update(bundle, self.card.display_id)

    def _retire_standin(self) -> None:
        if self.standin is not None:
            self.standin.retire()


def _standin_says(job: Job) -> tuple[Any, ...]:
    """What the stand-in shows (``static.standin_html``): it changes with these only."""
    return job.status, job.note, job.request_id


def _standin_html(job: Job) -> str:
    from xai_defer_magic.views.static import standin_html

    return standin_html(job)


# Job -> its displayed cards; weak both ways (a LiveDisplay lives as the job's listener).
_live: weakref.WeakKeyDictionary[Job, weakref.WeakSet[LiveDisplay]] = weakref.WeakKeyDictionary()
_live_lock = threading.Lock()


def static_bundle(job: Job) -> dict[str, Any]:
    from xai_defer_magic.views.static import (
        job_bundle,  # markdown-it, nh3 and Pygments: on first use
    )

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
    with _live_lock:
        live = list(_live.get(job, ()))
    if card is None:
        display(bundle, raw=True)
    elif all(shown.card is not card for shown in live):
        _update(bundle, card.display_id)
    for shown in live:  # from this cell, so a headless run saves the card's plain data too
        shown.show_final(bundle)


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
