"""One row of the ``%grok_jobs`` panel: the job's cells and its own buttons.

A row slot is reused from render to render (pointed at another job), so turning pages or
filtering changes traits instead of creating widgets. Clicks go back to the panel's ``act``.
"""

from __future__ import annotations

from typing import Protocol

import ipywidgets as widgets

from xai_defer_magic.core.job import PENDING_STATUSES, Job
from xai_defer_magic.views.jobs_table import RESUMABLE
from xai_defer_magic.views.traits import assign

CANCEL_TIP = "Stop polling here; the job keeps running at xAI (Resume polls it again)"
ROW_BUTTON = "54px"
FORGET_TIP = "Delete this job's journal row (and saved answer); asks first"


class Actor(Protocol):
    def act(self, job: Job | None, action: str) -> None: ...


def button(description: str, hook: str, tooltip: str, style: str = "",
           width: str = "auto") -> widgets.Button:
    made = widgets.Button(description=description, tooltip=tooltip, button_style=style,
                          layout=widgets.Layout(width=width))
    made.add_class(f"xdm-jobs-{hook}")
    return made


class RowView:
    """The widgets of one row slot; the panel points a slot at a job on each render."""

    def __init__(self, panel: Actor) -> None:
        self.job: Job | None = None
        self.toggle_action = "cancel"  # what the toggle button does now: cancel or resume
        self.cells = widgets.HTML()
        self.show = button("Show", "show", "Select this job and show its card below",
                           width=ROW_BUTTON)
        self.toggle = button("Cancel", "cancel", CANCEL_TIP, width=ROW_BUTTON)
        self.forget = button("Forget", "forget", FORGET_TIP, width=ROW_BUTTON)
        self.box = widgets.HBox([self.cells, self.show, self.toggle, self.forget],
                                layout=widgets.Layout(align_items="center"))
        self.box.add_class("xdm-jobs-row")
        self.show.on_click(lambda _b: panel.act(self.job, "show"))
        self.toggle.on_click(lambda _b: panel.act(self.job, self.toggle_action))
        self.forget.on_click(lambda _b: panel.act(self.job, "forget"))

    def point_at(self, job: Job, cells: str, selected: bool) -> None:
        self.job = job
        assign(self.cells, "value", cells)
        sent = job.request_id is not None
        if sent and job.status in PENDING_STATUSES:
            self._toggle_as("cancel", "Cancel", CANCEL_TIP)
        elif sent and job.status in RESUMABLE:
            self._toggle_as("resume", "Resume", "Poll this job again")
        assign(self.toggle.layout, "visibility",
                "visible" if sent and job.status in (*PENDING_STATUSES, *RESUMABLE) else "hidden")
        set_class(self.box, "xdm-jobs-selected", selected)
        assign(self.box.layout, "display", "")

    def _toggle_as(self, action: str, description: str, tooltip: str) -> None:
        other = "resume" if action == "cancel" else "cancel"
        self.toggle_action = action
        set_class(self.toggle, f"xdm-jobs-{other}", False)
        set_class(self.toggle, f"xdm-jobs-{action}", True)
        assign(self.toggle, "description", description)
        assign(self.toggle, "tooltip", tooltip)

    def hide(self) -> None:
        self.job = None
        assign(self.box.layout, "display", "none")

    def parts(self) -> list[widgets.Widget]:
        return [self.cells, self.show, self.toggle, self.forget, self.box]


def set_class(widget: widgets.DOMWidget, name: str, on: bool) -> None:
    """Add or remove a CSS class (each a no-op, sending nothing, when already so)."""
    if on:
        widget.add_class(name)
    else:
        widget.remove_class(name)
