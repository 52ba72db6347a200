"""``%grok_jobs``: every job of this kernel and the journal in one live, paged widget.

One HTML ``<table>`` holds the current page only, so a journal of thousands of jobs costs one
page of markup. Actions go through a selector of the page's jobs plus buttons (a table cell
cannot call back into Python without custom JavaScript). Like the cards, the panel changes only
by assigning widget traits; the runtime's 1 s tick refreshes it while anything is pending.
Prompts and models are untrusted text: every cell is escaped with :func:`render.escape`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from . import text
from .card import CARD_CSS, JobCard, status_pill
from .job import PENDING_STATUSES, Job
from .render import escape

PAGE_SIZE = 50
FILTERS = ("pending", "all")
REFETCH_SECONDS = 10.0  # re-read the journal this often even when nothing seems to change
MAX_LIVE_PANELS = 8  # older panels of re-run cells keep their last state but stop ticking
RESUMABLE = ("timed_out", "cancelled", "failed")

PANEL_CSS = """
<style>
.xdm-jobs{max-width:1100px;font-family:var(--jp-ui-font-family,sans-serif)}
.xdm-jobs-table table{border-collapse:collapse;font-size:12px;line-height:1.5;width:100%}
.xdm-jobs-table th{text-align:left;font-weight:600;border-bottom:1px solid
  var(--jp-border-color1,#ccc);padding:2px 6px;white-space:nowrap}
.xdm-jobs-table td{padding:2px 6px;border-bottom:1px solid var(--jp-border-color3,#eee);
  white-space:nowrap;vertical-align:top}
.xdm-jobs-table td.xdm-num{text-align:right;font-variant-numeric:tabular-nums}
.xdm-jobs-table td.xdm-prompt{white-space:normal;max-width:420px;overflow-wrap:anywhere}
.xdm-jobs-table tr.xdm-jobs-selected td{background:var(--jp-layout-color2,#eef3fd)}
.xdm-jobs-totals{font-size:12px}
</style>
"""

_HEAD = (
    "<tr><th>status</th><th>model</th><th>created</th><th>elapsed</th><th>polls</th>"
    "<th>tokens</th><th>cost</th><th>prompt</th><th>id</th></tr>"
)


# --- pure rendering (no widgets): fast, testable, shared with the terminal ------------------------


@dataclass(frozen=True)
class Totals:
    pending: int
    finished: int
    tokens: int
    cost_usd: float | None


def order_jobs(jobs: Iterable[Job]) -> list[Job]:
    """Pending jobs first, then finished ones; newest first within each group."""
    return sorted(jobs, key=lambda j: (j.status not in PENDING_STATUSES, -j.created_at))


def filter_jobs(jobs: list[Job], which: str) -> list[Job]:
    return [j for j in jobs if j.status in PENDING_STATUSES] if which == "pending" else jobs


def totals(jobs: Iterable[Job]) -> Totals:
    """Counts, plus tokens and cost of finished jobs (cost None when no job reported one)."""
    pending = finished = tokens = 0
    cost: float | None = None
    for job in jobs:
        if job.status in PENDING_STATUSES:
            pending += 1
            continue
        finished += 1
        if job.completion is not None:
            usage = job.completion.usage
            tokens += usage.total_tokens or 0
            if usage.cost_usd is not None:
                cost = (cost or 0.0) + usage.cost_usd
    return Totals(pending, finished, tokens, cost)


def totals_text(t: Totals) -> str:
    return (
        f"{t.pending:,} pending · {t.finished:,} finished · {t.tokens:,} tokens · "
        f"{text.cost(t.cost_usd)}"
    )


def preview(prompt: str, limit: int = 80) -> str:
    """Whitespace collapsed and cut to ``limit`` characters."""
    flat = " ".join(prompt.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def local_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def job_tokens(job: Job) -> int | None:
    return job.completion.usage.total_tokens if job.completion is not None else None


def row_html(job: Job, now: float, selected: bool = False) -> str:
    rid = job.request_id or ""
    pill = status_pill(job.status)
    if job.error and job.status != "done":
        pill = f'<span title="{escape(job.error)}">{pill}</span>'
    classes = "xdm-jobs-row xdm-jobs-selected" if selected else "xdm-jobs-row"
    cells = (
        f"<td>{pill}</td>",
        f"<td>{escape(text.model_label(job))}</td>",
        f"<td>{local_time(job.created_at)}</td>",
        f'<td class="xdm-num">{escape(text.duration(job.elapsed(now)))}</td>',
        f'<td class="xdm-num">{job.polls:,}</td>',
        f'<td class="xdm-num">{text.tokens(job_tokens(job))}</td>',
        f'<td class="xdm-num">{escape(text.job_cost(job))}</td>',
        f'<td class="xdm-prompt" title="{escape(preview(job.prompt, 400))}">'
        f"{escape(preview(job.prompt))}</td>",
        f'<td class="xdm-id" title="{escape(rid)}">{escape(text.short_id(rid) or "–")}</td>',
    )
    return (
        f'<tr class="{classes}" data-request-id="{escape(rid)}" '
        f'data-status="{escape(job.status)}">{"".join(cells)}</tr>'
    )


def table_html(page: list[Job], now: float, selected: Job | None = None) -> str:
    if not page:
        body = '<tr><td colspan="9" class="xdm-muted">No jobs here yet.</td></tr>'
    else:
        body = "".join(row_html(j, now, j is selected) for j in page)
    return f"<table><thead>{_HEAD}</thead><tbody>{body}</tbody></table>"


def page_text(start: int, shown: int, total: int) -> str:
    if total == 0:
        return "no rows"
    return f"rows {start + 1:,}–{start + shown:,} of {total:,}"


def option_label(job: Job) -> str:
    """Selector label, e.g. ``abcd1234 · grok-4 · pending · Summarise the…``."""
    rid = text.short_id(job.request_id or "") or "unsent"
    return f"{rid} · {text.model_label(job)} · {job.status} · {preview(job.prompt, 32)}"


def unique_labels(labels: list[str]) -> list[str]:
    """Selector labels must be unique; number repeats (e.g. jobs that were never sent)."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


# --- terminal IPython -----------------------------------------------------------------------------

TEXT_ROWS = 50


def printable(value: str) -> str:
    """No control characters: a prompt must not drive the terminal (escape sequences)."""
    return "".join(c if c.isprintable() else " " for c in value)


def text_table(jobs: list[Job], which: str = "all", now: float | None = None) -> str:
    """The panel as plain text: totals, then up to ``TEXT_ROWS`` rows of the filtered jobs."""
    now = time.time() if now is None else now
    ordered = order_jobs(jobs)
    visible = filter_jobs(ordered, which)
    rows = [("status", "model", "created", "elapsed", "polls", "tokens", "cost", "id", "prompt")]
    for job in visible[:TEXT_ROWS]:
        rows.append((
            job.status, printable(text.model_label(job)), local_time(job.created_at),
            text.duration(job.elapsed(now)), f"{job.polls:,}", text.tokens(job_tokens(job)),
            text.job_cost(job), text.short_id(job.request_id or "") or "–",
            printable(preview(job.prompt, 50)),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [totals_text(totals(ordered))]
    if not visible:
        lines.append("No pending jobs." if which == "pending" else "No jobs yet.")
        return "\n".join(lines)
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]))
    if len(visible) > TEXT_ROWS:
        lines.append(f"… {len(visible) - TEXT_ROWS:,} more (xai_defer_magic.jobs() lists them all)")
    return "\n".join(line.rstrip() for line in lines)


def show_jobs(runtime: Any, which: str = "all") -> JobsPanel | None:
    """``%grok_jobs``: the live panel in a kernel, a text table in terminal IPython."""
    from IPython.display import display

    from .group_panel import show_groups, ungrouped
    from .views import has_widgets

    show_groups(runtime)  # fan-out groups: one expandable row each
    if not has_widgets():
        print(text_table(ungrouped(runtime, runtime.jobs()), which))
        return None
    panel = JobsPanel(runtime, which=which)
    display(panel)
    return panel


# --- the widget -----------------------------------------------------------------------------------


def _button(description: str, hook: str, tooltip: str, style: str = "") -> widgets.Button:
    button = widgets.Button(description=description, tooltip=tooltip, button_style=style,
                            layout=widgets.Layout(width="auto"))
    button.add_class(f"xdm-jobs-{hook}")
    return button


class JobsPanel(widgets.VBox):
    """The jobs panel. Build it on the kernel thread; the runtime's tick keeps it current."""

    def __init__(self, runtime: Any, *, which: str = "all", page_size: int = PAGE_SIZE) -> None:
        if which not in FILTERS:
            raise ValueError(f"which must be one of {FILTERS}, not {which!r}")
        self.runtime = runtime
        self.page_size = max(1, page_size)
        self.page = 0
        self._jobs: list[Job] = []
        self._known: set[int] = set()
        self._fetched_at = 0.0
        self._dirty = False
        self._had_pending = False
        self._closed = False
        self._quiet_thread: int | None = None  # the thread re-populating the selector
        self._page_jobs: list[Job] = []
        self._card: JobCard | None = None
        self._forget_target: Job | None = None
        self._lock = threading.RLock()
        self._build(which)
        self.refresh()
        runtime_panels = getattr(runtime, "panels", None)
        if isinstance(runtime_panels, list):
            runtime_panels.append(self)
            for old in runtime_panels[:-MAX_LIVE_PANELS]:
                runtime_panels.remove(old)

    def _build(self, which: str) -> None:
        self.filter = widgets.ToggleButtons(options=list(FILTERS), value=which,
                                            tooltips=["Only jobs still polling", "Every job"])
        self.filter.add_class("xdm-jobs-filter")
        self.totals = widgets.HTML()
        self.totals.add_class("xdm-jobs-totals")
        self.table = widgets.HTML()
        self.table.add_class("xdm-jobs-table")
        self.prev = _button("‹ Prev", "prev", "Previous page")
        self.next = _button("Next ›", "next", "Next page")
        self.page_label = widgets.HTML()
        self.page_label.add_class("xdm-jobs-page")
        self.selector = widgets.Dropdown(options=(), description="Job",
                                         layout=widgets.Layout(width="420px"))
        self.selector.add_class("xdm-jobs-select")
        self.show = _button("Show", "show", "Show this job's card below")
        self.cancel = _button("Cancel polling", "cancel",
                              "Stop polling here; the job keeps running at xAI")
        self.resume = _button("Resume", "resume", "Poll this job again")
        self.forget = _button("Forget", "forget",
                              "Delete this job's journal row and saved answer", "danger")
        self.confirm_text = widgets.HTML()
        self.confirm = _button("Confirm", "confirm", "Forget it for good", "danger")
        self.keep = _button("Keep", "keep", "Keep the job")
        self.confirm_box = widgets.HBox([self.confirm_text, self.confirm, self.keep])
        self.confirm_box.add_class("xdm-jobs-confirm-box")
        self.confirm_box.layout.display = "none"
        self.output = widgets.Output()
        self.output.add_class("xdm-jobs-output")
        super().__init__(children=[
            widgets.HTML(CARD_CSS + PANEL_CSS),
            widgets.HBox([self.filter, self.totals], layout=widgets.Layout(align_items="center")),
            self.table,
            widgets.HBox([self.prev, self.page_label, self.next],
                         layout=widgets.Layout(align_items="center")),
            widgets.HBox([self.selector, self.show, self.cancel, self.resume, self.forget]),
            self.confirm_box,
            self.output,
        ])
        self.add_class("xdm-jobs")
        self.filter.observe(self._on_filter, names="value")
        self.selector.observe(self._on_select, names="value")
        self.prev.on_click(lambda _b: self._turn(-1))
        self.next.on_click(lambda _b: self._turn(+1))
        self.show.on_click(self._on_show)
        self.cancel.on_click(self._on_cancel)
        self.resume.on_click(self._on_resume)
        self.forget.on_click(self._on_forget)
        self.confirm.on_click(self._on_confirm)
        self.keep.on_click(self._on_keep)

    # --- state -----------------------------------------------------------------------------------

    @property
    def which(self) -> str:
        return str(self.filter.value)

    @property
    def selected(self) -> Job | None:
        value = self.selector.value
        return value if isinstance(value, Job) else None

    @property
    def shown_card(self) -> JobCard | None:
        """The card that Show put below the table, if any."""
        return self._card

    def select(self, job: Job) -> None:
        """Select ``job`` (turning to its page, showing all if it is not pending)."""
        with self._lock:
            if job not in filter_jobs(self._jobs, self.which):
                self.filter.value = "all"
            visible = filter_jobs(order_jobs(self._jobs), self.which)
            if job in visible:
                self.page = visible.index(job) // self.page_size
                self._render()
                self.selector.value = job

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
        except Exception:  # a closed comm or a journal hiccup must not stop the tick
            pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            panels = getattr(self.runtime, "panels", None)
            if isinstance(panels, list) and self in panels:
                panels.remove(self)
            self._drop_card()
        for child in self._owned():
            child.close()
        super().close()

    def _owned(self) -> list[widgets.Widget]:
        """Every widget this panel created (ipywidgets does not close children with a box)."""
        found: list[widgets.Widget] = []
        stack: list[widgets.Widget] = list(self.children)
        while stack:
            child = stack.pop()
            found.append(child)
            stack.extend(getattr(child, "children", ()))
        return found

    def _fetch(self) -> None:
        from .group_panel import ungrouped  # a group's items are listed under its own row

        self._jobs = ungrouped(self.runtime, list(self.runtime.jobs()))
        self._known = {id(j) for j in self._jobs}
        self._fetched_at = time.monotonic()
        self._dirty = False

    # --- rendering ------------------------------------------------------------------------------

    def _render(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        ordered = order_jobs(self._jobs)
        visible = filter_jobs(ordered, self.which)
        pages = max(1, -(-len(visible) // self.page_size))
        self.page = min(max(self.page, 0), pages - 1)
        start = self.page * self.page_size
        page = visible[start : start + self.page_size]
        self._sync_selector(page)
        _assign(self.totals, "value", totals_text(totals(ordered)))
        _assign(self.table, "value", table_html(page, now, self.selected))
        _assign(self.page_label, "value", page_text(start, len(page), len(visible)))
        _assign(self.prev, "disabled", self.page == 0)
        _assign(self.next, "disabled", self.page >= pages - 1)
        self._sync_buttons()

    def _sync_selector(self, page: list[Job]) -> None:
        labels = unique_labels([option_label(j) for j in page])
        if self._page_jobs == page and list(self.selector._options_labels) == labels:
            return
        current = self.selected
        self._page_jobs = list(page)
        with self._silenced(), self.selector.hold_sync():
            self.selector.options = tuple(zip(labels, page, strict=True))
            if current is not None and any(j is current for j in page):
                self.selector.value = current
            else:
                self.selector.index = 0 if page else None
        if self.selected is not current:
            self._hide_confirm()

    def _sync_buttons(self) -> None:
        job = self.selected
        sent = job is not None and job.request_id is not None
        _assign(self.show, "disabled", job is None)
        _assign(self.cancel, "disabled", not (sent and job is not None
                                              and job.status in PENDING_STATUSES))
        _assign(self.resume, "disabled", not (sent and job is not None
                                              and job.status in RESUMABLE))
        _assign(self.forget, "disabled", job is None or self._forget_target is not None)

    @contextlib.contextmanager
    def _silenced(self) -> Iterator[None]:
        """Ignore selector events this thread causes (a user's click on another still counts)."""
        before, self._quiet_thread = self._quiet_thread, threading.get_ident()
        try:
            yield
        finally:
            self._quiet_thread = before

    # --- events (kernel thread: comm messages and button.click()) -------------------------------

    def _on_filter(self, _change: Any) -> None:
        with self._lock:
            self.page = 0
            self._hide_confirm()
            self._render()

    def _on_select(self, _change: Any) -> None:
        if self._quiet_thread == threading.get_ident():
            return
        with self._lock:
            self._hide_confirm()
            self._render()

    def _turn(self, step: int) -> None:
        with self._lock:
            self.page += step
            self._hide_confirm()
            self._render()

    def _on_show(self, _button: Any) -> None:
        job = self.selected
        if job is None:
            return
        with self._lock:
            self._drop_card()
            card = JobCard(job)
            self._card = card
            ticker = getattr(self.runtime, "ticker", None)
            if ticker is not None and not job.done:
                ticker.add(card)
            self.output.outputs = ({"output_type": "display_data",
                                    "data": card._repr_mimebundle_(), "metadata": {}},)

    def _on_cancel(self, _button: Any) -> None:
        job = self.selected
        if job is not None:
            job.cancel()  # the poller finishes it as "cancelled" on its thread; the tick shows it
            self._changed()

    def _on_resume(self, _button: Any) -> None:
        job = self.selected
        if job is not None:
            job.resume()
            self._changed()

    def _on_forget(self, _button: Any) -> None:
        job = self.selected
        if job is None:
            return
        with self._lock:
            self._forget_target = job
            rid = escape(text.short_id(job.request_id or "") or "this unsent job")
            self.confirm_text.value = (
                f"<b>Forget {rid}?</b> This deletes its journal row and saved answer."
            )
            self.confirm_box.layout.display = ""
            self._sync_buttons()

    def _on_confirm(self, _button: Any) -> None:
        with self._lock:
            job = self._forget_target
            self._hide_confirm()
            if job is None:
                return
            if self._card is not None and self._card.job is job:
                self._drop_card()
            self.runtime.forget(job)
            self.refresh()

    def _on_keep(self, _button: Any) -> None:
        with self._lock:
            self._hide_confirm()
            self._sync_buttons()

    def _hide_confirm(self) -> None:
        self._forget_target = None
        _assign(self.confirm_box.layout, "display", "none")
        _assign(self.confirm_text, "value", "")

    def _changed(self) -> None:
        with self._lock:
            self._dirty = True
            self._render()

    def _drop_card(self) -> None:
        if self._card is not None:
            self.output.outputs = ()
            self._card.close()
            self._card = None


def _assign(widget: Any, name: str, value: Any) -> None:
    """Set a trait only when it differs, so an unchanged panel sends nothing to the frontend."""
    if getattr(widget, name) != value:
        setattr(widget, name, value)
