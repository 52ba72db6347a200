"""The live card of a fan-out group: progress, totals, a paged table of rows, one answer.

Updated only through widget traits, and at most ``MAX_RENDERS_PER_SECOND`` times a second
from the loop thread (1,000 items finishing must not mean 1,000 comm messages a second).
When every item has ended, the cell's output is replaced by the static summary through
``update_display`` on the card's display id, so a saved notebook needs no widget state.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import ipywidgets as widgets

from xai_defer_magic.core.failures import log_once
from xai_defer_magic.core.group import Group
from xai_defer_magic.render.markdown import answer_html
from xai_defer_magic.render.plain import escape
from xai_defer_magic.views.card import CARD_CSS, status_pill
from xai_defer_magic.views.group_images import (
    Keys,
    has_images,
    own_images,
    row_names,
    shared_keys,
    strip_html,
)
from xai_defer_magic.views.group_summary import (
    preview,
    standin_html,
    stats_line,
    summary_bundle,
    title,
)
from xai_defer_magic.views.images import figures_html
from xai_defer_magic.views.standin import update_from_any_thread
from xai_defer_magic.views.traits import assign

MAX_RENDERS_PER_SECOND = 4
PAGE_SIZE = 50

GROUP_CSS = """
<style>
.xdm-bar{display:flex;height:10px;border-radius:5px;overflow:hidden;margin:4px 0;
  background:var(--jp-layout-color3,#ddd);max-width:600px}
.xdm-bar-done{background:#188038}.xdm-bar-failed{background:#c5221f}
.xdm-group-rows select{font-family:var(--jp-code-font-family,monospace);font-size:12px}
</style>
"""


def bar_html(group: Group) -> str:
    c, n = group.counts(), max(1, len(group))
    return (f'<div class="xdm-bar" title="{c["done"]} done, {c["failed"]} failed, '
            f'{c["pending"]} pending"><div class="xdm-bar-done" style="width:'
            f'{100 * c["done"] / n:.2f}%"></div><div class="xdm-bar-failed" style="width:'
            f'{100 * c["failed"] / n:.2f}%"></div></div>')


def head_html(group: Group, now: float | None = None) -> str:
    return (f'<div class="xdm-head"><b>{escape(title(group))}</b> '
            f"{status_pill(group.status.split()[0])}</div>{bar_html(group)}"
            f'<div class="xdm-muted xdm-group-stats">{escape(stats_line(group, now))}</div>')


def row_label(group: Group, position: int, shared: Keys = frozenset()) -> str:
    """One row of the list: index label, status, its own images' names, the answer's start."""
    job = group.jobs[position]
    names = row_names(job, shared)
    pictured = f"[{names[:30]}] " if names else ""
    return (f"{str(group.labels[position])[:12]:>12}  {job.status:<10} {pictured}"
            f"{preview(job, 60)}")


class GroupCard(widgets.VBox):
    """One group's card. Build on the kernel thread, then ``start()`` its refresh task."""

    standin: Any = None  # its standin.Standin when shown in a cell

    def __init__(self, group: Group, loop: Any) -> None:
        self.group = group
        self.loop = loop
        self.display_id = f"xdm-group-{uuid.uuid4().hex}"
        self.page = 0
        self.renders = 0
        self._rendered_version = -1
        self._told = 0  # the group's version its stand-in was last given
        self._lock = threading.RLock()
        self._finished = False
        self._head = widgets.HTML()
        self._thumbs = widgets.HTML()  # a fan-out over images: the page's first thumbnails
        # A group's images are fixed when it starts: looked at once, not at every render.
        self._pictures = has_images(group)
        self._shared: Keys = shared_keys(group) if self._pictures else frozenset()
        self._make_thumbnails = False  # not in the cell: from start() on, on the loop thread
        self._rows = widgets.Select(options=[], rows=8, layout=widgets.Layout(width="100%"))
        self._rows.add_class("xdm-group-rows")
        self._prev = widgets.Button(description="◀", layout=widgets.Layout(width="40px"))
        self._next = widgets.Button(description="▶", layout=widgets.Layout(width="40px"))
        self._page_label = widgets.HTML()
        self._answer = widgets.HTMLMath()  # the selected row's answer, formulas typeset
        self._prev.on_click(lambda _b: self._turn(-1))
        self._next.on_click(lambda _b: self._turn(1))
        self._rows.observe(self._on_select, names="value")
        super().__init__(children=[
            widgets.HTML(CARD_CSS + GROUP_CSS), self._head, self._thumbs,
            widgets.HBox([self._prev, self._next, self._page_label]), self._rows, self._answer,
        ])
        self.add_class("xdm-card")
        self.add_class("xdm-group-card")
        self.render()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/plain"] = (f"{title(self.group)} (live card; %grok_wait "
                                    f"{self.group.id} puts the results in a saved output)")
        return bundle

    def start(self) -> None:
        self._make_thumbnails = True
        if not self.group.is_listening(self._on_group):
            self.group.add_listener(self._on_group)
        self.loop.submit(self._follow())

    def _on_group(self, group: Group) -> None:
        """The last item's end replaces the card at once, on the thread that ended it, before
        ``g.wait()`` wakes: a cell that waits for its group then holds the summary."""
        if group.done:
            group.remove_listener(self._on_group)
            self.finish()

    def move_to(self, loop: Any) -> None:
        """Follow the group on ``loop`` (the next runtime's, after ``%reload_ext``): the old
        loop stopped, and its follower with it."""
        if self._finished or loop is self.loop or self.loop.loop.is_running():
            return
        self.loop = loop
        self.start()

    async def _follow(self) -> None:
        """Re-render when something changed, at most 4 times a second, until the group ends."""
        last = 0.0
        while True:
            await asyncio.sleep(1 / MAX_RENDERS_PER_SECOND)
            try:
                now = time.monotonic()
                if self.group.version != self._rendered_version or now - last >= 1.0:
                    self.render()  # on a change, or once a second for the elapsed time
                    last = now
                if self.group.done:
                    self.finish()
                    return
            except Exception as exc:  # a closed widget or display: nothing more to show
                log_once("a group card's refresh", exc)
                return

    def render(self, now: float | None = None) -> None:
        with self._lock:
            self._rendered_version = self.group.version
            self.renders += 1
            assign(self._head, "value", head_html(self.group, now))
            self._render_page()
            if self.standin is not None and not self._finished and (
                    self._told != self.group.version):  # not for the elapsed time alone
                self._told = self.group.version
                self.standin.update(lambda: standin_html(self.group))

    def _render_page(self) -> None:
        n = len(self.group)
        pages = max(1, -(-n // PAGE_SIZE))
        self.page = min(max(self.page, 0), pages - 1)
        start = self.page * PAGE_SIZE
        positions = range(start, min(n, start + PAGE_SIZE))
        options = [(row_label(self.group, p, self._shared), p) for p in positions]
        if list(self._rows.options) != options:
            selected = self._rows.value
            self._rows.options = options
            if selected in positions:
                self._rows.value = selected
        assign(self._page_label, "value",
                f'<span class="xdm-muted">rows {start + 1}–{start + len(positions)} of {n:,}'
                "</span>")
        if self._pictures:
            assign(self._thumbs, "value", strip_html(self.group, positions, self._shared,
                                                     self._make_thumbnails))
        assign(self._prev, "disabled", self.page == 0)
        assign(self._next, "disabled", self.page >= pages - 1)
        self._show(self._rows.value)

    def _turn(self, step: int) -> None:
        with self._lock:
            self.page += step
            self._render_page()

    def _on_select(self, change: Any) -> None:
        with self._lock:
            self._show(change["new"])

    def _show(self, position: Any) -> None:
        if not isinstance(position, int):
            assign(self._answer, "value", '<span class="xdm-muted">select a row to see its '
                    "answer</span>")
            return
        job = self.group.jobs[position]
        if job.status == "done" and job.content is not None:
            body = answer_html(job.content)
        else:
            body = f'<span class="xdm-muted">{escape(job.error or job.note or job.status)}</span>'
        label = escape(str(self.group.labels[position]))
        pictures = figures_html(own_images(job, self._shared))  # this item's, thumbnailed
        assign(self._answer, "value", f"<div><b>{label}</b> {status_pill(job.status)}</div>"
                f"{pictures}{body}")

    def finish(self) -> None:
        """Replace the live card's output by the static summary (once)."""
        with self._lock:
            if self._finished:
                return
            self.render()
            self._finished = True
        if self.standin is not None:
            self.standin.retire()
        update_from_any_thread(summary_bundle(self.group), self.display_id)
