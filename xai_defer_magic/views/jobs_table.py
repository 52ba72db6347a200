"""What ``%grok_jobs`` lists, as plain data: rows, filters, scopes, totals, text and HTML tables.

No widgets here, so the same model serves the live panel, terminal IPython and the static
``text/plain``/``text/html`` that a headless run saves. A row may have children (a fan-out
group shown as one row that expands); a plain job's row has none.
Prompts and models are untrusted text: every HTML cell is escaped (``render.plain``, which
does not import the Markdown renderer for a text table).
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterable
from dataclasses import dataclass, field

from xai_defer_magic.core.job import PENDING_STATUSES, UNFINISHED_STATUSES, Job
from xai_defer_magic.render.math import text_html
from xai_defer_magic.render.plain import escape, preview, printable
from xai_defer_magic.views import text

FILTERS = ("pending", "all")
SCOPES = ("kernel", "journal")  # this kernel's jobs and those it resumed / every journaled job
RESUMABLE = ("timed_out", "cancelled", "failed")
OUTCOMES = ("done", "failed", "cancelled", "timed_out", "expired")  # counted one by one
COLUMNS = ("status", "model", "created", "elapsed", "polls", "tokens", "cost", "prompt", "id")
NUMERIC = frozenset({"elapsed", "polls", "tokens", "cost"})
TEXT_ROWS = 50


@dataclass(frozen=True)
class Row:
    """One line of the table: a job, or (later) a group whose jobs are its ``children``."""

    job: Job
    children: tuple[Row, ...] = field(default=())

    @property
    def request_id(self) -> str:
        return self.job.request_id or ""

    @property
    def status(self) -> str:
        return self.job.status

    def cells(self, now: float) -> dict[str, str]:
        """The row's plain-text cells, worded exactly as the job's card words them."""
        job = self.job
        return {
            "status": job.status,
            "model": text.model_label(job),
            "created": local_time(job.created_at),
            "elapsed": text.duration(job.elapsed(now)),
            "polls": f"{job.polls:,}",
            "tokens": text.tokens(job_tokens(job)),
            "cost": text.job_cost(job),
            "prompt": preview(job.prompt, 80),
            "id": text.short_id(self.request_id) or "–",
        }


def order_jobs(jobs: Iterable[Job]) -> list[Job]:
    """Pending jobs first, then finished ones; newest first within each group."""
    return sorted(jobs, key=lambda j: (j.status not in UNFINISHED_STATUSES, -j.created_at))


def filter_jobs(jobs: Iterable[Job], which: str) -> list[Job]:
    jobs = list(jobs)
    return [j for j in jobs if j.status in UNFINISHED_STATUSES] if which == "pending" else jobs


def scope_jobs(jobs: Iterable[Job], scope: str, here: Container[Job]) -> list[Job]:
    """``kernel``: the jobs in ``here`` (submitted or resumed by this kernel); else all.

    Only membership is asked of ``here`` (the runtime's WeakSet): iterating it while the kernel
    thread adds a job would raise.
    """
    if scope == "journal":
        return list(jobs)
    return [j for j in jobs if j in here]


def rows_of(jobs: Iterable[Job]) -> list[Row]:
    return [Row(job) for job in jobs]


@dataclass(frozen=True)
class Totals:
    counts: dict[str, int]  # "pending" and each of OUTCOMES
    tokens: int
    cost_usd: float | None

    @property
    def pending(self) -> int:
        return self.counts.get("pending", 0)


def totals(jobs: Iterable[Job]) -> Totals:
    """Counts per outcome, plus tokens and cost of finished jobs (None when none reported one)."""
    counts = dict.fromkeys(("pending", *OUTCOMES), 0)
    tokens = 0
    cost: float | None = None
    for job in jobs:
        key = "pending" if job.status in UNFINISHED_STATUSES else job.status
        counts[key] = counts.get(key, 0) + 1
        if job.completion is not None:
            tokens += job.completion.usage.total_tokens or 0
            if job.completion.usage.cost_usd is not None:
                cost = (cost or 0.0) + job.completion.usage.cost_usd
    return Totals(counts, tokens, cost)


def totals_text(t: Totals) -> str:
    """``2 pending · 5 done · 1 failed · …``: pending and done always, other outcomes when any."""
    parts = [f"{t.pending:,} pending", f"{t.counts.get('done', 0):,} done"]
    for status in OUTCOMES[1:]:
        if t.counts.get(status):
            parts.append(f"{t.counts[status]:,} {status.replace('_', ' ')}")
    parts += [f"{t.tokens:,} tokens", text.cost(t.cost_usd)]
    return " · ".join(parts)


def empty_text(which: str, scope: str, hidden: int) -> str:
    """What an empty table says, pointing at the jobs another filter or scope would show."""
    what = "No pending jobs" if which == "pending" else "No jobs"
    where = " from this kernel" if scope == "kernel" else " in the journal"
    hint = f" ({hidden:,} more in the journal)" if scope == "kernel" and hidden else ""
    return f"{what}{where}{hint}."


def local_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def short_time(timestamp: float) -> str:
    """``12-01 10:00`` today-ish; ``2025-11-30`` for anything older than a day."""
    if time.time() - timestamp > 86400:
        return time.strftime("%Y-%m-%d", time.localtime(timestamp))
    return time.strftime("%m-%d %H:%M", time.localtime(timestamp))


def job_tokens(job: Job) -> int | None:
    return job.completion.usage.total_tokens if job.completion is not None else None


def page_text(start: int, shown: int, total: int) -> str:
    if total == 0:
        return "no rows"
    return f"rows {start + 1:,}–{start + shown:,} of {total:,}"


# --- HTML: the panel's rows (a CSS grid, so row widgets line up) and the static fallback ---------


def header_html() -> str:
    heads = "".join(f'<span class="xdm-col-{c}">{c}</span>' for c in COLUMNS)
    return f'<div class="xdm-jobs-grid xdm-jobs-head">{heads}</div>'


def row_html(row: Row, now: float) -> str:
    """One row's cells; ``data-request-id``/``data-status`` let tests and users find it."""
    job, cells = row.job, row.cells(now)
    pill = f'<span class="xdm-pill xdm-status-{escape(job.status)}">{escape(job.status)}</span>'
    if job.error and job.status != "done":
        pill = f'<span title="{escape(job.error)}">{pill}</span>'
    spans = [f'<span class="xdm-col-status">{pill}</span>']
    for column in COLUMNS[1:]:
        title, value = "", cells[column]
        if column == "created":  # short in the panel; the full time on hover
            title, value = f' title="{escape(value)}"', short_time(job.created_at)
        elif column == "prompt":
            title = f' title="{escape(preview(job.prompt, 400))}"'
        elif column == "id":
            title = f' title="{escape(row.request_id)}"'
        spans.append(f'<span class="xdm-col-{column}"{title}>{text_html(value)}</span>')
    return (
        f'<div class="xdm-jobs-grid xdm-jobs-cells" data-request-id="{escape(row.request_id)}" '
        f'data-status="{escape(job.status)}">{"".join(spans)}</div>'
    )


def static_html(rows: list[Row], summary: str, now: float, empty: str) -> str:
    """A plain ``<table>`` of ``rows``: what a saved notebook or nbconvert shows of the panel."""
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    body = "".join(
        f'<tr data-request-id="{escape(r.request_id)}">'
        + "".join(f'<td style="text-align:{"right" if c in NUMERIC else "left"}">'
                  f"{text_html(v)}</td>" for c, v in r.cells(now).items())
        + "</tr>"
        for r in rows[:TEXT_ROWS]
    ) or f'<tr><td colspan="{len(COLUMNS)}">{escape(empty)}</td></tr>'
    more = len(rows) - TEXT_ROWS
    tail = ""
    if more > 0:
        tail = f"<p>… {more:,} more rows (xai_defer_magic.jobs() lists them all)</p>"
    return (
        f"<p><b>%grok_jobs</b> · {escape(summary)} · as of {local_time(now)}</p>"
        f'<table class="xdm-jobs-static"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
        f"</table>{tail}"
    )


# --- plain text: terminal IPython and text/plain ------------------------------------------------


def text_table(rows: list[Row], summary: str, now: float, empty: str) -> str:
    """Totals, then up to ``TEXT_ROWS`` rows as aligned columns (the prompt last)."""
    order = [c for c in COLUMNS if c != "prompt"] + ["prompt"]
    table = [tuple(order)]
    for row in rows[:TEXT_ROWS]:
        cells = row.cells(now)
        cells["prompt"] = preview(cells["prompt"], 50)
        table.append(tuple(printable(cells[c]) for c in order))
    lines = [summary]
    if not rows:
        lines.append(empty)
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in table) for i in range(len(order) - 1)]
    for line in table:
        padded = [c.ljust(w) for c, w in zip(line, widths, strict=False)]
        lines.append("  ".join([*padded, line[-1]]).rstrip())
    if len(rows) > TEXT_ROWS:
        lines.append(f"… {len(rows) - TEXT_ROWS:,} more (xai_defer_magic.jobs() lists them all)")
    return "\n".join(lines)


@dataclass(frozen=True)
class View:
    """One filter and scope applied to every known job: what the panel (or a table) shows."""

    rows: list[Row]
    summary: str  # totals of the scope (every status), e.g. "2 pending · 5 done · …"
    empty: str  # what to say when ``rows`` is empty

    @classmethod
    def of(cls, jobs: Iterable[Job], here: Container[Job], which: str, scope: str) -> View:
        every = order_jobs(jobs)
        scoped = scope_jobs(every, scope, here)
        visible = filter_jobs(scoped, which)
        hidden = len(filter_jobs(every, which)) - len(visible)
        return cls(rows_of(visible), totals_text(totals(scoped)),
                   empty_text(which, scope, hidden))

    def text(self, now: float | None = None) -> str:
        return text_table(self.rows, self.summary, time.time() if now is None else now,
                          self.empty)

    def html(self, now: float | None = None) -> str:
        return static_html(self.rows, self.summary, time.time() if now is None else now,
                           self.empty)


def forget_question(job: Job) -> str:
    """What Forget asks first: for a pending job, that it keeps running (and costing) at xAI."""
    rid = escape(text.short_id(job.request_id or "") or "this unsent job")
    if job.status == "submitting":
        return (
            "<b>Forget this job?</b> Its POST is on the wire, so xAI may run (and bill) it: "
            "this stops following it; if an id comes back it is kept in the journal as "
            "cancelled, so the job can still be found."
        )
    if job.status in PENDING_STATUSES and job.request_id:
        return (
            f"<b>Forget {rid}?</b> It keeps running, and costing, at xAI: this stops polling "
            "it and deletes its journal row, so its answer will not be fetched."
        )
    return f"<b>Forget {rid}?</b> This deletes its journal row and saved answer."
