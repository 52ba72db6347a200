"""Showing a group: the live group card in a kernel, lines in a terminal, and the static
summary (sanitized HTML, inert Markdown, text) that replaces the card when the group ends.

``show_group`` and ``show_summary`` run on the kernel thread while a cell executes. The card's
own replacement happens from the loop thread through ``update_display`` on its display id
(DESIGN §3.10), so a saved notebook holds the summary and needs no widget state.
"""

from __future__ import annotations

import time
from typing import Any

from xai_defer_magic.core.group import Group
from xai_defer_magic.core.job import Job
from xai_defer_magic.views import text

SUMMARY_ROWS = 200  # rows in the static table; g.to_pandas() has them all
PREVIEW = 100
STANDIN_SECONDS = 1.0  # a live card's stand-in follows its changes at most this often


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
    batch = f" · batch {group.batch_id}" if group.batch_id else (
        " · batch API" if group.engine == "batch" else "")
    return f"[grok] group {group.id} · {group.model} · {len(group):,} items{batch}"


def preview(job: Job, limit: int = PREVIEW) -> str:
    value = (job.content if job.status == "done" else job.error or job.note) or ""
    flat = "".join(c if c.isprintable() else " " for c in " ".join(value.split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def summary_bundle(group: Group) -> dict[str, Any]:
    """The group as inert HTML, Markdown and plain text (what a saved notebook keeps)."""
    from xai_defer_magic.render.markdown import escape, safe_markdown
    from xai_defer_magic.views.static import with_inline_styles

    head, stats = title(group), stats_line(group)
    shown = list(enumerate(group.jobs))[:SUMMARY_ROWS]
    more = len(group) - len(shown)
    html_rows, md_rows, text_rows = [], [], []
    for position, job in shown:
        label, tokens = str(group.labels[position]), _tokens(job)
        html_rows.append(
            f"<tr><td>{escape(label)}</td><td>{escape(job.status)}</td>"
            f"<td>{escape(preview(job))}</td><td>{escape(tokens)}</td></tr>")
        cell = safe_markdown(preview(job)).replace("|", "\\|").replace("\n", " ")
        md_rows.append(f"| {_md(label)} | {job.status} | {cell} | {tokens} |")
        text_rows.append(f"{label:>6}  {job.status:<10} {tokens:>7}  {preview(job, 70)}")
    tail = f"… {more:,} more rows: g.to_pandas() has them all." if more > 0 else ""
    html = (f'<div class="xdm-group-summary"><p><b>{escape(head)}</b><br><small>'
            f"{escape(stats)}</small></p><table><thead><tr><th>index</th><th>status</th>"
            f"<th>answer</th><th>tokens</th></tr></thead><tbody>{''.join(html_rows)}"
            f"</tbody></table>{f'<p><small>{escape(tail)}</small></p>' if tail else ''}</div>")
    html = with_inline_styles(html)  # cells left-aligned, not like a DataFrame's
    markdown = "\n".join([f"**{_md(head)}**", "", _md(stats), "",
                          "| index | status | answer | tokens |", "|---|---|---|---|",
                          *md_rows, "", tail])
    plain = "\n".join([head, stats, *text_rows, tail]).rstrip()
    return {"text/html": html, "text/markdown": markdown.rstrip() + "\n", "text/plain": plain}


def _tokens(job: Job) -> str:
    usage = job.completion.usage if job.completion is not None else None
    return text.tokens(usage.total_tokens if usage else None)


def _md(value: str) -> str:
    from xai_defer_magic.render.markdown import safe_markdown

    return safe_markdown(value).replace("|", "\\|").replace("\n", " ")


def standin_html(group: Group) -> str:
    """The summary so far, for a notebook saved before the group ended (``standin``)."""
    from xai_defer_magic.render.markdown import escape

    hint = (f"{group.status} when this output last changed; with a kernel, "
            f"%grok_wait {group.id} waits and shows the results")
    return f'{summary_bundle(group)["text/html"]}<p><small>{escape(hint)}</small></p>'


def show_group(runtime: Any, group: Group) -> Any:
    """The live group card and its stand-in (kernel) or one line (terminal); returns the card."""
    from xai_defer_magic.views.show import has_widgets

    if not has_widgets():
        print(f"{title(group)}: submitting (%grok_wait {group.id} blocks until done)")
        return None
    from IPython.display import display

    from xai_defer_magic.views.group_card import GroupCard
    from xai_defer_magic.views.standin import Standin

    card = GroupCard(group, runtime.loop)
    standin = Standin(min_interval=STANDIN_SECONDS)
    standin.attach(card)
    display(card, display_id=card.display_id)
    standin.show(standin_html(group))
    card.start()
    return card


def replace_card(group: Group) -> None:
    """Turn the group's card, displayed in this cell, into the summary (kernel thread)."""
    from IPython.display import update_display

    if group.card.standin is not None:
        group.card.standin.retire()
    update_display(summary_bundle(group), raw=True, display_id=group.card.display_id)


def show_summary(group: Group) -> None:
    """The group's static summary in the current cell (``%grok_wait``, ``%grok_result``)."""
    from xai_defer_magic.views.show import has_widgets

    bundle = summary_bundle(group)
    if not has_widgets():
        print(bundle["text/plain"])
        return
    from IPython.display import display

    display(bundle, raw=True)
