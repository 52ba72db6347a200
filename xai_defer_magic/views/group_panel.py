"""Groups in ``%grok_jobs``: one summary row per group that expands to its items' rows.

:func:`group_rows` gives the data (for whatever table the jobs panel draws);
:func:`groups_html` and :func:`groups_text` draw it as an HTML ``<details>`` list (a click
expands a group, no widget state needed) and as plain text for terminal IPython.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from xai_defer_magic.core.group import Group
from xai_defer_magic.core.job import Job
from xai_defer_magic.render.math import text_html
from xai_defer_magic.render.plain import escape
from xai_defer_magic.views import text
from xai_defer_magic.views.group_summary import preview, stats_line, totals
from xai_defer_magic.views.show import has_widgets

CHILD_ROWS = 100  # rows shown when a group is expanded; g.to_pandas() has all

GroupSource = Callable[[], Sequence[Group]]  # the groups to list, read without side effects


def no_groups() -> list[Group]:
    return []


def group_rows(group: Group) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the group's summary row, one row per item in input order)."""
    t = totals(group)
    summary = {"id": group.id, "status": group.status, "model": group.model,
               "items": len(group), **group.counts(), "tokens": t["tokens"], "cost": t["cost"],
               "created_at": group.created_at, "template": group.template,
               "batch_id": group.batch_id}
    children = []
    for position, job in enumerate(group.jobs):
        usage = job.completion.usage if job.completion is not None else None
        children.append({"index": group.labels[position], "status": job.status,
                         "request_id": job.request_id, "tokens": usage.total_tokens if usage
                         else None, "cost": job.cost_usd, "preview": preview(job, 80)})
    return summary, children


def groups_html(groups: list[Group]) -> str:
    parts = []
    for group in groups:
        summary, children = group_rows(group)
        rows = "".join(
            f"<tr><td>{escape(c['index'])}</td><td>{escape(c['status'])}</td>"
            f"<td>{escape(text.tokens(c['tokens']))}</td><td>{escape(text.cost(c['cost']))}</td>"
            f"<td>{text_html(c['preview'])}</td><td>{escape(c['request_id'] or '–')}</td></tr>"
            for c in children[:CHILD_ROWS])
        more = len(children) - CHILD_ROWS
        tail = f"<p><small>… {more:,} more: g.to_pandas()</small></p>" if more > 0 else ""
        parts.append(
            f'<details class="xdm-group-row"><summary><b>{escape(summary["id"])}</b> '
            f"{escape(_batch(group))}{escape(summary['status'])} · "
            f"{escape(stats_line(group))}</summary><table>"
            "<tr><th>index</th><th>status</th><th>tokens</th><th>cost</th><th>answer</th>"
            f"<th>id</th></tr>{rows}</table>{tail}</details>")
    return f'<div class="xdm-groups">{"".join(parts)}</div>' if parts else ""


def groups_text(groups: list[Group]) -> str:
    lines = []
    for group in groups:
        when = time.strftime("%H:%M:%S", time.localtime(group.created_at))
        lines.append(f"group {group.id} {when} {group.model}{_batch(group, lead=True)}: "
                     f"{stats_line(group)}")
    return "\n".join(lines)


def _batch(group: Group, lead: bool = False) -> str:
    if not group.batch_id:
        return ""
    return f" (batch {group.batch_id})" if lead else f"(batch {group.batch_id}) "


def ungrouped(groups: Sequence[Group], jobs: list[Job]) -> list[Job]:
    """The jobs that belong to none of ``groups``: the panel lists a group's items under its
    row."""
    members = [job for group in groups for job in group.jobs]
    grouped = {id(job) for job in members}
    ids = {job.request_id for job in members if job.request_id}  # rows read back from disk
    return [job for job in jobs if id(job) not in grouped and job.request_id not in ids]


def show_groups(groups: Sequence[Group]) -> None:
    """``%grok_jobs``: the groups above the jobs panel (nothing when there are none)."""
    if not groups:
        return
    if not has_widgets():
        print(groups_text(list(groups)))
        return
    from IPython.display import HTML, display

    display(HTML(groups_html(list(groups))))
