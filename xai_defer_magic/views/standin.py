"""A live widget's plain-data stand-in, for a notebook saved while the widget still runs.

JupyterLab and Notebook 7 save no widget state by default, and their widget renderer has no
text fallback: a widget output whose model is gone reopens as "Error displaying widget: model
not found" (jupyterlab#15361), even though the output also holds ``text/plain``. So each live
widget (a job's card, a group's card, the jobs panel) is followed by an output of sanitized
HTML that says in brief what the widget shows, kept current by ``update_display`` on its own
display id.

That HTML is hidden by an inline ``display:none``, so wherever nothing else is known (VS Code,
a frontend of other class names) the live widget is all a person sees. Three CSS rules in it,
for JupyterLab's output area (Notebook 7 and nbconvert's HTML use the same classes), handle
the rest: while the widget renders (its root carries ``live_class``) the stand-in's row is
hidden; where it cannot render (a notebook reopened without its kernel), the widget's output is
hidden and the stand-in shown. Where ``<style>`` is dropped (an untrusted notebook, GitHub) the
widget renderer is not used either, and the widget output's own ``text/plain`` line shows; the
stand-in's ``text/plain`` is empty so plain-text views say it once. When the widget's own output
turns into plain data (a finished job or group), the stand-in is retired: an empty output that
hides itself.
"""

from __future__ import annotations

import contextvars
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from IPython.display import display, update_display

Bundle = dict[str, Any]
Make = Callable[[], str]  # the stand-in's HTML as of now


def update_from_any_thread(bundle: Bundle, display_id: str) -> None:
    """``update_display`` stamped with the latest cell's header, from any thread.

    Run in an empty context, ipykernel's display publisher finds no parent of this thread's
    own and uses the latest execute request's: the cell running now, if any. JupyterLab
    ignores that header for updates (it routes them by display id) and nbclient needs it (it
    reads only the running cell's messages, then updates by display id in every cell).
    """
    contextvars.Context().run(update_display, bundle, raw=True, display_id=display_id)


class Standin:
    """The plain-data twin of one live widget output. ``show`` it just after the widget (on
    the kernel thread, while the cell runs); then ``update`` and ``retire`` from any thread."""

    def __init__(self, min_interval: float = 0.0) -> None:
        token = uuid.uuid4().hex
        self.display_id = f"xdm-standin-{token}"
        self.live_class = f"xdm-live-{token}"
        self._own_class = f"xdm-standin-{token}"
        self.min_interval = min_interval  # a stand-in that changes every second is sent less
        self._rules = _rules(token)
        self._retired_bundle = _retired(token)
        self._lock = threading.Lock()
        self._sent: Bundle | None = None
        self._sent_at = 0.0
        self._waiting: Make | None = None  # the newest content not yet sent
        self._timer: threading.Timer | None = None
        self._sends = 0  # a late timer sends only if nothing was sent since it was set

    def attach(self, widget: Any) -> None:
        """Mark ``widget`` as this stand-in's live twin (its root gets ``live_class``)."""
        widget.add_class(self.live_class)
        widget.standin = self

    def show(self, html: str) -> None:
        with self._lock:
            self._sent, self._sent_at = self._wrap(html), time.monotonic()
            display(self._sent, raw=True, display_id=self.display_id)

    def update(self, make: Make) -> None:
        """Send what ``make()`` returns if it changed; at most once per ``min_interval``,
        the newest content last (``make`` runs only when it is due)."""
        with self._lock:
            wait = self._sent_at + self.min_interval - time.monotonic()
            if wait <= 0:
                self._waiting = None
                self._send(self._wrap(make()))
                return
            self._waiting = make
            if self._timer is None:
                self._timer = threading.Timer(wait, self._flush)
                self._timer.daemon = True
                self._timer.start()

    def retire(self) -> None:
        """The widget's output is plain data now: this output becomes empty and hidden."""
        with self._lock:
            self._waiting = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._send(self._retired_bundle)

    def _flush(self) -> None:
        """The timer's send. ``make`` runs outside this lock: it may take its widget's lock,
        which ``update``'s callers hold while they take this one."""
        with self._lock:
            self._timer = None
            make, self._waiting, sends = self._waiting, None, self._sends
        if make is None:
            return
        data = self._wrap(make())
        with self._lock:
            if self._sends == sends:
                self._send(data)

    def _send(self, data: Bundle) -> None:
        self._sends += 1
        if data == self._sent:
            return
        self._sent, self._sent_at = data, time.monotonic()
        try:
            update_from_any_thread(data, self.display_id)
        except Exception:  # a closed kernel channel: nothing more to show
            pass

    def _wrap(self, html: str) -> Bundle:
        opening = f'{self._rules}<div class="xdm-standin {self._own_class}" style="display:none">'
        return {"text/html": f"{opening}{html}</div>", "text/plain": ""}


def _rules(token: str) -> str:
    """Hide the stand-in while its widget renders; where it cannot, hide the widget's output
    and show the stand-in."""
    child, live, mine = ".jp-OutputArea-child", f".xdm-live-{token}", f".xdm-standin-{token}"
    return (
        "<style>"
        f"{child}:has({live}) + {child}:has({mine}){{display:none}}"
        f"{child}:not(:has({live})):has(+ {child} {mine}){{display:none}}"
        f"{child}:not(:has({live})) + {child} {mine}{{display:block!important}}"
        "</style>"
    )


def _retired(token: str) -> Bundle:
    return {
        "text/html": (f"<style>.jp-OutputArea-child:has(.xdm-retired-{token}){{display:none}}"
                      f'</style><div class="xdm-retired xdm-retired-{token}"></div>'),
        "text/plain": "",
    }
