"""The live status card of one job, built from ipywidgets and updated only through traits.

Background code never prints or displays into a cell's output area directly (which cell such
output lands in has changed across ipykernel releases); it assigns widget traits, which the
frontend routes by comm id. The pieces are ``static``'s, so the live card and the plain-data
card that replaces it when the job ends (``show.LiveDisplay``) look the same. Empty parts are
hidden: an empty ``HTML`` widget still takes a line's height.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import HTMLMathStyle, HTMLStyle

from xai_defer_magic.core.job import Job
from xai_defer_magic.render.answer import CARD_CSS, answer_bundle
from xai_defer_magic.views import text
from xai_defer_magic.views.static import (
    error_html,
    footer_html,
    header_html,
    reasoning_html,
    status_pill,
)
from xai_defer_magic.views.traits import assign

__all__ = ["CARD_CSS", "JobCard", "answer_bundle", "status_pill"]


HIDDEN = "xdm-hidden"  # CARD_CSS hides it: an empty HTML widget still takes a line's height


def _show(widget: Any, value: str, prefix: str = "") -> None:
    """Set an HTML widget's value (after ``prefix``) and hide it while it says nothing."""
    assign(widget, "value", prefix + value)
    _visible(widget, bool(value))


def _visible(widget: Any, shown: bool) -> None:
    """By a class, not the widget's own Layout: the parts share one (fewer comms to open)."""
    if shown:
        widget.remove_class(HIDDEN)
    else:
        widget.add_class(HIDDEN)


def _classes(shown: bool) -> tuple[str, ...]:
    return () if shown else (HIDDEN,)


class _Shared:
    """The Layout and styles every card's parts use: each widget opens a comm (a message on
    the cell's time), so they are opened once per kernel, not per card; made again if closed."""

    def __init__(self) -> None:
        self._models: tuple[widgets.Layout, HTMLStyle, HTMLMathStyle] | None = None

    def models(self) -> tuple[widgets.Layout, HTMLStyle, HTMLMathStyle]:
        if self._models is None or any(m.comm is None for m in self._models):
            self._models = (widgets.Layout(), HTMLStyle(), HTMLMathStyle())
        return self._models


_SHARED = _Shared()


class JobCard(widgets.VBox):
    """One job's card. Build it on the kernel thread; it then follows the job by itself."""

    standin: Any = None  # its standin.Standin when shown in a cell

    def __init__(self, job: Job, classes: tuple[str, ...] = ()) -> None:
        """``classes``: more classes for the card's root, given now rather than sent later."""
        self.job = job
        self.display_id = f"xdm-{uuid.uuid4().hex}"
        # Every widget opens a comm, a message on the cell's time: a pending card opens three
        # (header, footer, the box), each with its final state so no update follows the open;
        # the error, answer and reasoning parts are made when there is something to show.
        self._layout, self._html_style, self._math_style = _SHARED.models()
        self._header = self._html(header_html(job))
        # The card's <style> rides in the footer: a hidden element's <style> still applies.
        self._footer = self._html(footer_html(job), prefix=CARD_CSS)
        self._error: widgets.HTML | None = None
        self._answer: widgets.Output | None = None
        self._reasoning: widgets.HTMLMath | None = None
        self._rendered_status: str | None = None
        self._lock = threading.RLock()
        super().__init__(children=self._parts(), layout=self._layout,
                         _dom_classes=("xdm-card", *classes))
        self.refresh()  # a finished job's parts; nothing to send for a pending one
        job.add_listener(self._on_change)

    def _html(self, value: str, prefix: str = "") -> widgets.HTML:
        return widgets.HTML(prefix + value, layout=self._layout, style=self._html_style,
                            _dom_classes=_classes(bool(value)))

    def _parts(self) -> list[Any]:
        parts = (self._header, self._error, self._answer, self._reasoning, self._footer)
        return [part for part in parts if part is not None]

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        bundle["text/plain"] = text.live_card_text(self.job)
        return bundle

    def _on_change(self, job: Job) -> None:
        self.refresh()

    def tick(self, now: float | None = None) -> None:
        """Update only the header (elapsed time, polls): the once-a-second path."""
        with self._lock:
            if self.job.status != self._rendered_status:
                return  # refresh() is on its way and will render the header last
            assign(self._header, "value", header_html(self.job, now))

    def refresh(self) -> None:
        """Bring every part of the card in line with the job."""
        with self._lock:
            job = self.job
            if job.status != self._rendered_status:
                self._rendered_status = job.status
                self._show_error(error_html(job))
                self._show_answer(job)
                self._show_reasoning(reasoning_html(job))
                if list(self.children) != (parts := self._parts()):
                    assign(self, "children", tuple(parts))
            _show(self._footer, footer_html(job), prefix=CARD_CSS)
            self.tick()  # last: a header saying "done" means the answer is already there

    def _show_error(self, value: str) -> None:
        if self._error is None:
            self._error = self._html(value) if value else None
        else:
            _show(self._error, value)

    def _show_answer(self, job: Job) -> None:
        if job.status == "done" and job.completion is not None:
            outputs = ({"output_type": "display_data", "metadata": {},
                        "data": answer_bundle(job.completion.content)},)
            if self._answer is None:
                self._answer = widgets.Output(layout=self._layout, outputs=outputs)
            else:
                self._answer.outputs = outputs
                _visible(self._answer, True)
        elif self._answer is not None:
            self._answer.outputs = ()
            _visible(self._answer, False)

    def _show_reasoning(self, value: str) -> None:
        """Reasoning holds formulas too: HTMLMath typesets them."""
        if self._reasoning is None:
            self._reasoning = widgets.HTMLMath(
                value, layout=self._layout, style=self._math_style) if value else None
        else:
            _show(self._reasoning, value)

    def close(self) -> None:
        self.job.remove_listener(self._on_change)
        super().close()
