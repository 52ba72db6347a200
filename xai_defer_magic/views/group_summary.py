"""A group in words: its title, its progress line, one preview per item, and the static
summary (sanitized HTML, inert Markdown, text) that replaces its live card when it ends.

Pure functions of the group: the live card (``group_card``), the jobs panel's group rows
(``group_panel``) and the cell-level showing (``groups``) all word a group the same way.
"""

from __future__ import annotations

import time
from typing import Any

from xai_defer_magic.core.group import Group
from xai_defer_magic.core.job import Job
from xai_defer_magic.render import plain
from xai_defer_magic.render.math import text_html
from xai_defer_magic.render.plain import escape
from xai_defer_magic.views import text
from xai_defer_magic.views.group_images import (
    RowThumbnails,
    has_images,
    own_images,
    row_names,
    shared_html,
    shared_keys,
    shared_line,
)

SUMMARY_ROWS = 200  # rows in the static table; g.to_pandas() has them all
PREVIEW = 100


def totals(group: Group) -> dict[str, Any]:
    tokens = cost = 0.0
    have_cost = False
    for job in group.jobs:
        if job.completion is not None:
            tokens += job.completion.usage.total_tokens or 0
            if job.cost_usd is not None:
                cost += job.cost_usd
                have_cost = True
    return {"tokens": int(tokens), "cost": cost if have_cost else None}


def stats_line(group: Group, now: float | None = None) -> str:
    """done/failed/pending of N · submitted · elapsed · ETA · tokens · cost."""
    now = time.time() if now is None else now
    c = group.counts()
    finished = c["done"] + c["failed"]
    end = group.ended_at if group.ended_at is not None else now
    elapsed = max(0.0, end - group.created_at)
    parts = [f"{c['done']:,} done", f"{c['failed']:,} failed",
             f"{c['pending']:,} pending of {len(group):,}", f"{c['submitted']:,} submitted",
             f"elapsed {text.duration(elapsed)}"]
    if c["pending"] and finished:
        parts.append(f"ETA {text.duration(elapsed / finished * c['pending'])}")
    t = totals(group)
    parts.append(f"{t['tokens']:,} tokens")
    parts.append(f"cost {text.cost(t['cost'])}")
    return " · ".join(parts)


def title(group: Group) -> str:
    return f"[grok] group {group.id} · {group.model} · {len(group):,} items{batch_state(group)}"


def batch_state(group: Group) -> str:
    """Where a ``--batch`` group's batch is: the cell returned before xAI created it."""
    if group.engine != "batch":
        return ""
    if not group.batch_id:
        return " · batch not created" if group.done else " · creating batch"
    if any(job.request_id for job in group.jobs):
        return f" · batch {group.batch_id} · admitted"
    return f" · batch {group.batch_id} · " + ("not admitted" if group.done else "adding requests")


def preview(job: Job, limit: int = PREVIEW) -> str:
    value = (job.content if job.status == "done" else job.error or job.note) or ""
    return plain.preview(value, limit)


def summary_bundle(group: Group, make_thumbnails: bool = True) -> dict[str, Any]:
    """The group as inert HTML, Markdown and plain text (what a saved notebook keeps); a
    fan-out over images names each row's images (``group_images``: thumbnails on the first
    rows only, what every item sends once; ``make_thumbnails=False``: only those made)."""
    from xai_defer_magic.render.answer import with_inline_styles  # markdown-it, nh3: when used
    from xai_defer_magic.render.markdown import safe_markdown

    head, stats = title(group), stats_line(group)
    shown = list(enumerate(group.jobs))[:SUMMARY_ROWS]
    more = len(group) - len(shown)
    pictures = has_images(group)
    shared = shared_keys(group) if pictures else frozenset()
    thumbs = RowThumbnails(make_thumbnails)
    html_rows, md_rows, text_rows = [], [], []
    for position, job in shown:
        label, tokens = str(group.labels[position]), _tokens(job)
        names = row_names(job, shared) if pictures else ""
        image_cell = (f"<td>{thumbs.html(own_images(job, shared))}{escape(names)}</td>"
                      if pictures else "")
        html_rows.append(
            f"<tr><td>{escape(label)}</td>{image_cell}<td>{escape(job.status)}</td>"
            f"<td>{text_html(preview(job))}</td><td>{escape(tokens)}</td></tr>")
        cell = safe_markdown(preview(job)).replace("|", "\\|").replace("\n", " ")
        image_md = f" {_md(names)} |" if pictures else ""
        md_rows.append(f"| {_md(label)} |{image_md} {job.status} | {cell} | {tokens} |")
        image_text = f"  [{names}]" if names else ""
        text_rows.append(f"{label:>6}  {job.status:<10} {tokens:>7}  {preview(job, 70)}"
                         f"{image_text}")
    tail = f"… {more:,} more rows: g.to_pandas() has them all." if more > 0 else ""
    image_th = "<th>image</th>" if pictures else ""
    everyone = shared_html(group, shared, make_thumbnails)
    html = (f'<div class="xdm-group-summary"><p><b>{escape(head)}</b><br><small>'
            f"{escape(stats)}</small></p>{everyone}<table><thead><tr>"
            f"<th>index</th>{image_th}<th>status</th><th>answer</th><th>tokens</th></tr>"
            f"</thead><tbody>{''.join(html_rows)}</tbody></table>"
            f"{f'<p><small>{escape(tail)}</small></p>' if tail else ''}</div>")
    html = with_inline_styles(html)  # cells left-aligned, not like a DataFrame's
    md_head = ("| index | image | status | answer | tokens |\n|---|---|---|---|---|" if pictures
               else "| index | status | answer | tokens |\n|---|---|---|---|")
    sends = [shared_line(group, shared)] if shared else []
    markdown = "\n".join([f"**{_md(head)}**", "", _md(stats), "",
                          *[_md(line) + "\n" for line in sends], md_head,
                          *md_rows, "", tail])
    plain = "\n".join([head, stats, *sends, *text_rows, tail]).rstrip()
    return {"text/html": html, "text/markdown": markdown.rstrip() + "\n", "text/plain": plain}


def _tokens(job: Job) -> str:
    usage = job.completion.usage if job.completion is not None else None
    return text.tokens(usage.total_tokens if usage else None)


def _md(value: str) -> str:
    from xai_defer_magic.render.markdown import safe_markdown

    return safe_markdown(value).replace("|", "\\|").replace("\n", " ")


def standin_html(group: Group, make_thumbnails: bool = True) -> str:
    """The summary so far, for a notebook saved before the group ended (``standin``)."""
    hint = (f"{group.status} when this output last changed; with a kernel, "
            f"%grok_wait {group.id} waits and shows the results")
    return (f'{summary_bundle(group, make_thumbnails)["text/html"]}'
            f"<p><small>{escape(hint)}</small></p>")
