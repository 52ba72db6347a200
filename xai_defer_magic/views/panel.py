"""``%grok_jobs``: the jobs of this kernel (or the whole journal) in one live, paged widget.

Each row is a small box of widgets: the job's cells (HTML on a CSS grid, so rows line up) and
its own buttons (Show, Cancel or Resume, Forget); clicking one also selects the row. Rows sit
in a box of bounded height that scrolls; a page holds ``PAGE_SIZE`` rows and the row widgets
are reused from page to page. What is listed comes from :mod:`jobs_table` (plain data), which
also gives the panel a static text and HTML table for saved notebooks and headless runs.
Like the cards, the panel changes only by assigning widget traits; the runtime's 1 s tick
refreshes it while anything is pending.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from xai_defer_magic.core.failures import log_once
from xai_defer_magic.core.job import Job
from xai_defer_magic.render.plain import escape
from xai_defer_magic.views.card import CARD_CSS, JobCard
from xai_defer_magic.views.group_panel import GroupSource, no_groups, show_groups, ungrouped
from xai_defer_magic.views.jobs_table import (
    FILTERS,
    SCOPES,
    View,
    forget_question,
    header_html,
    page_text,
    row_html,
)
from xai_defer_magic.views.panel_row import RowView, button
from xai_defer_magic.views.show import has_widgets
from xai_defer_magic.views.standin import Standin
from xai_defer_magic.views.ticker import CARDS
from xai_defer_magic.views.traits import assign

PAGE_SIZE = 25
REFETCH_SECONDS = 10.0  # re-read the journal this often even when nothing seems to change
MAX_LIVE_PANELS = 8  # older panels of re-run cells keep their last state but stop ticking
BODY_HEIGHT = "260px"  # about ten rows; the rest scroll
STANDIN_SECONDS = 1.0  # the saved table follows the panel's changes at most this often

PANEL_CSS = """
<style>
.xdm-jobs{max-width:1180px;font-family:var(--jp-ui-font-family,sans-serif)}
.xdm-jobs-grid{display:grid;grid-template-columns:72px 100px 78px 52px 36px 50px 56px
  minmax(60px,1fr) 62px;gap:0 6px;font-size:12px;line-height:1.5;align-items:center}
.xdm-jobs-header{position:sticky;top:0;z-index:1;flex:0 0 auto;margin:0;
  background:var(--jp-layout-color1,#fff)}
.xdm-jobs-head{font-weight:600;border-bottom:1px solid var(--jp-border-color1,#ccc);
  padding:2px 4px;margin-right:184px}
.xdm-jobs-cells span{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.xdm-jobs-grid .xdm-col-elapsed,.xdm-jobs-grid .xdm-col-polls,.xdm-jobs-grid .xdm-col-tokens,
.xdm-jobs-grid .xdm-col-cost{text-align:right;font-variant-numeric:tabular-nums}
.xdm-col-id{font-family:var(--jp-code-font-family,monospace)}
.xdm-jobs-row{border-bottom:1px solid var(--jp-border-color3,#eee);padding:0 4px;flex:0 0 auto}
.xdm-jobs-row>.widget-html{flex:1 1 0;min-width:0;margin:0}
.xdm-jobs-row .widget-button{flex:0 0 auto;height:22px;line-height:20px;font-size:11px;
  margin:1px 2px;padding:0 4px}
.xdm-jobs-selected{background:var(--jp-layout-color2,#eef3fd)}
.xdm-jobs-body{border:1px solid var(--jp-border-color2,#ddd);border-radius:4px}
.xdm-jobs-totals,.xdm-jobs-page{font-size:12px}
.xdm-jobs-empty{font-size:12px;color:var(--jp-ui-font-color2,#666);padding:6px}
</style>
"""


def show_jobs(runtime: Any, which: str = "all", scope: str = "kernel",
              groups: GroupSource = no_groups) -> JobsPanel | None:
    """``%grok_jobs``: the live panel in a kernel, a text table in terminal IPython.

    ``groups`` gives the fan-out groups to list (each as one expandable row, its items under
    it): the groups already built, since a refresh only reads (rebuilding one from the journal
    can write it and start polling, which is the runtime's work, done before this is called).
    """
    show_groups(groups())
    if not has_widgets():
        jobs = ungrouped(groups(), runtime.jobs())  # a group's items are listed under its row
        view = View.of(jobs, getattr(runtime, "here", ()), which, scope)
        print(view.text())
        return None
    panel = JobsPanel(runtime, which=which, scope=scope, groups=groups)
    standin = Standin(min_interval=STANDIN_SECONDS)
    standin.attach(panel)
    display(panel)
    standin.show(panel.static_html())
    return panel


class JobsPanel(widgets.VBox):
    """The jobs panel. Build it on the kernel thread; the runtime's tick keeps it current."""

    standin: Any = None  # its standin.Standin when shown in a cell

    def __init__(self, runtime: Any, *, which: str = "all", scope: str = "kernel",
                 page_size: int = PAGE_SIZE, groups: GroupSource = no_groups) -> None:
        if which not in FILTERS:
            raise ValueError(f"which must be one of {FILTERS}, not {which!r}")
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, not {scope!r}")
        self.runtime = runtime
        self.groups = groups
        self.page_size = max(1, page_size)
        self.page = 0
        self.selected: Job | None = None
        self._jobs: list[Job] = []
        self._known: set[int] = set()
        self._fetched_at = 0.0
        self._dirty = False
        self._had_pending = False
        self._closed = False
        self._rows: list[RowView] = []
        self._card: JobCard | None = None
        self._forget_target: Job | None = None
        self._told: tuple[Any, ...] = ()  # what the stand-in's table was last built from
        self._lock = threading.RLock()
        self._build(which, scope)
        self.refresh()
        runtime_panels = getattr(runtime, "panels", None)
        if isinstance(runtime_panels, list):
            runtime_panels.append(self)
            for old in runtime_panels[:-MAX_LIVE_PANELS]:
                runtime_panels.remove(old)

    def _build(self, which: str, scope: str) -> None:
        small = {"button_width": "auto"}
        self.filter = widgets.ToggleButtons(options=list(FILTERS), value=which, style=small,
                                            tooltips=["Only jobs still polling", "Every job"])
        self.filter.add_class("xdm-jobs-filter")
        self.scope = widgets.ToggleButtons(
            options=[("this kernel", "kernel"), ("whole journal", "journal")], value=scope,
            style=small,
            tooltips=["Jobs this kernel submitted or resumed", "Every job in the journal"],
        )
        self.scope.add_class("xdm-jobs-scope")
        self.totals = widgets.HTML()
        self.totals.add_class("xdm-jobs-totals")
        self.head = widgets.HTML(header_html())
        self.empty = widgets.HTML()
        self.empty.add_class("xdm-jobs-empty")
        self.head.add_class("xdm-jobs-header")
        self.body = widgets.VBox([self.head, self.empty], layout=widgets.Layout(
            max_height=BODY_HEIGHT, overflow="auto"))
        self.body.add_class("xdm-jobs-body")
        self.prev = button("‹ Prev", "prev", "Previous page")
        self.next = button("Next ›", "next", "Next page")
        self.page_label = widgets.HTML()
        self.page_label.add_class("xdm-jobs-page")
        self.confirm_text = widgets.HTML()
        self.confirm = button("Forget it", "confirm", "Forget it for good", "danger")
        self.keep = button("Keep", "keep", "Keep the job")
        self.confirm_box = widgets.HBox([self.confirm_text, self.confirm, self.keep],
                                        layout=widgets.Layout(align_items="center"))
        self.confirm_box.add_class("xdm-jobs-confirm-box")
        self.confirm_box.layout.display = "none"
        self.output = widgets.Output()
        self.output.add_class("xdm-jobs-output")
        center = widgets.Layout(align_items="center", flex_flow="row wrap")
        super().__init__(children=[
            widgets.HTML(CARD_CSS + PANEL_CSS),
            widgets.HBox([self.filter, self.scope, self.totals], layout=center),
            self.body, self.confirm_box,
            widgets.HBox([self.prev, self.page_label, self.next], layout=center),
            self.output,
        ])
        self.add_class("xdm-jobs")
        self.filter.observe(self._on_view_change, names="value")
        self.scope.observe(self._on_view_change, names="value")
        self.prev.on_click(lambda _b: self._turn(-1))
        self.next.on_click(lambda _b: self._turn(+1))
        self.confirm.on_click(self._on_confirm)
        self.keep.on_click(lambda _b: self._hide_confirm())

    # --- state -----------------------------------------------------------------------------------

    @property
    def which(self) -> str:
        return str(self.filter.value)

    @property
    def scope_name(self) -> str:
        return str(self.scope.value)

    @property
    def shown_card(self) -> JobCard | None:
        """The card that Show put below the table, if any."""
        return self._card

    def view(self) -> View:
        return View.of(self._jobs, getattr(self.runtime, "here", ()), self.which,
                       self.scope_name)

    def row_views(self) -> list[RowView]:
        """The row slots showing a job, top to bottom."""
        return [r for r in self._rows if r.job is not None]

    def row_for(self, job: Job) -> RowView | None:
        return next((r for r in self._rows if r.job is job), None)

    def select(self, job: Job) -> None:
        """Select ``job``, widening the filter and scope and turning to its page as needed."""
        with self._lock:
            self._fetch()
            if job not in [r.job for r in self.view().rows]:
                self.filter.value, self.scope.value = "all", "journal"
            jobs = [r.job for r in self.view().rows]
            if job in jobs:
                self.page = jobs.index(job) // self.page_size
                self.selected = job
                self._render()

    def refresh(self, refetch: bool = True) -> None:
        """Re-read the jobs (runtime and journal) and re-render what differs."""
        with self._lock:
            if refetch:
                self._fetch()
            self._render()

    def tick(self) -> None:
        """Called by the runtime once a second on the loop thread; never raises."""
        try:
            with self._lock:
                if self._closed:
                    return
                pending = self.runtime.pending()
                stale = (
                    self._dirty
                    or time.monotonic() - self._fetched_at > REFETCH_SECONDS
                    or any(id(j) not in self._known for j in pending)
                )
                if stale:
                    self._fetch()
                if stale or pending or self._had_pending:
                    self._render()
                self._had_pending = bool(pending)
        except Exception as exc:  # a closed comm or a journal hiccup must not stop the tick
            log_once("the jobs panel's refresh", exc)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """The widget, plus a static table: what a headless run or an untrusted copy shows."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        return {**bundle, **self.static_bundle()}

    def static_bundle(self) -> dict[str, Any]:
        """The table as it is now, in HTML and text."""
        with self._lock:
            view = self.view()
        now = time.time()
        return {"text/html": view.html(now), "text/plain": view.text(now)}

    def static_html(self) -> str:
        with self._lock:
            return self.view().html(time.time())

    def close(self) -> None:
        with self._lock:
            self._closed = True
            panels = getattr(self.runtime, "panels", None)
            if isinstance(panels, list) and self in panels:
                panels.remove(self)
            self._drop_card()
            owned = [*self._owned(), self.head, self.empty,
                     *(w for r in self._rows for w in r.parts())]
        for child in dict.fromkeys(owned):  # each once, whether shown now or not
            child.close()
        super().close()

    def _owned(self) -> list[widgets.Widget]:
        """Every widget in this panel's tree (ipywidgets does not close children with a box)."""
        found: list[widgets.Widget] = []
        stack: list[widgets.Widget] = list(self.children)
        while stack:
            child = stack.pop()
            found.append(child)
            stack.extend(getattr(child, "children", ()))
        return found

    def _fetch(self) -> None:
        # a group's items are listed under its own row, not here
        self._jobs = ungrouped(self.groups(), list(self.runtime.jobs()))
        self._known = {id(j) for j in self._jobs}
        self._fetched_at = time.monotonic()
        self._dirty = False

    # --- rendering ------------------------------------------------------------------------------

    def _render(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        view = self.view()
        visible = view.rows
        pages = max(1, -(-len(visible) // self.page_size))
        self.page = min(max(self.page, 0), pages - 1)
        start = self.page * self.page_size
        page = visible[start : start + self.page_size]
        while len(self._rows) < len(page):
            self._rows.append(RowView(self))
        for slot, row in zip(self._rows, page, strict=False):
            slot.point_at(row.job, row_html(row, now), row.job is self.selected)
        for slot in self._rows[len(page):]:
            slot.hide()
        rows = (self.empty,) if not page else tuple(r.box for r in self._rows)
        children = (self.head, *rows)  # the header scrolls with the rows, so columns line up
        assign(self.body, "children", children)
        assign(self.empty, "value", escape(view.empty) if not page else "")
        assign(self.totals, "value", escape(view.summary))
        assign(self.page_label, "value", page_text(start, len(page), len(visible)))
        assign(self.prev, "disabled", self.page == 0)
        assign(self.next, "disabled", self.page >= pages - 1)
        if self._forget_target is not None and self.row_for(self._forget_target) is None:
            self._hide_confirm()
        told = (view.summary, tuple((r.job.local_id, r.status) for r in visible))
        if self.standin is not None and told != self._told:  # not for elapsed times alone
            self._told = told
            self.standin.update(self.static_html)

    # --- events (kernel thread: comm messages and button.click()) -------------------------------

    def _on_view_change(self, _change: Any) -> None:
        with self._lock:
            self.page = 0
            self._hide_confirm()
            self.refresh()  # re-read: jobs another kernel added since the last tick count too

    def _turn(self, step: int) -> None:
        with self._lock:
            self.page += step
            self._hide_confirm()
            self.refresh()

    def act(self, job: Job | None, action: str) -> None:
        """A row's button: select the row, then show, cancel, resume or (ask to) forget."""
        if job is None:
            return
        with self._lock:
            self.selected = job
            if action != "forget":
                self._hide_confirm()
            if action == "show":
                self._show_card(job)
            elif action == "cancel":
                job.cancel()  # the poller marks it "cancelled" at once; the tick shows the rest
            elif action == "resume":
                job.resume()
                here = getattr(self.runtime, "here", None)
                if here is not None:
                    here.add(job)  # this kernel polls it now
            elif action == "forget":
                self._ask_forget(job)
            self._dirty = True
            self._render()

    def _show_card(self, job: Job) -> None:
        self._drop_card()
        card = JobCard(job)
        self._card = card
        if not job.done:
            CARDS.add(card)
        self.output.outputs = ({"output_type": "display_data",
                                "data": card._repr_mimebundle_(), "metadata": {}},)

    def _ask_forget(self, job: Job) -> None:
        self._forget_target = job
        self.confirm_text.value = forget_question(job)
        self.confirm_box.layout.display = ""

    def _on_confirm(self, _button: Any) -> None:
        with self._lock:
            job = self._forget_target
            self._hide_confirm()
            if job is None:
                return
            if self._card is not None and self._card.job is job:
                self._drop_card()
            if self.selected is job:
                self.selected = None
            self.runtime.forget(job)
            self.refresh()

    def _hide_confirm(self) -> None:
        self._forget_target = None
        assign(self.confirm_box.layout, "display", "none")
        assign(self.confirm_text, "value", "")

    def _drop_card(self) -> None:
        if self._card is not None:
            self.output.outputs = ()
            self._card.close()
            self._card = None
