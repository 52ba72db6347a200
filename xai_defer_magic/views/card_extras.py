"""Optional parts of a job's card: its thread and turn, the template names filled in, the
exact prompt sent (collapsed), and a ``--schema`` answer as a compact key/value table (or why
it did not parse).

Pure functions of the job returning sanitized HTML; the card appends them to its footer.
"""

from __future__ import annotations

import json
from typing import Any

from xai_defer_magic.core.job import Job
from xai_defer_magic.core.structured import fields_of, parse_job
from xai_defer_magic.render.math import text_html
from xai_defer_magic.render.plain import clip, escape
from xai_defer_magic.views.images import images_html

MAX_VALUE = 200


def extras_html(job: Job) -> str:
    return thread_html(job) + images_html(job) + template_html(job) + parsed_html(job)


def thread_html(job: Job) -> str:
    """``thread NAME · turn k`` (and how full the context is, past 90 %)."""
    line = thread_line(job)
    return f'<div class="xdm-muted xdm-thread">{escape(line)}</div>' if line else ""


def thread_line(job: Job) -> str | None:
    if job.thread is None:
        return None
    name, turn = job.thread
    note = f" · {job.thread_note}" if job.thread_note else ""
    return f"thread {name} · turn {turn}{note}"


def template_html(job: Job) -> str:
    if not job.template_names:
        return ""
    names = ", ".join(f"<code>{{{escape(n)}}}</code>" for n in job.template_names)
    return (f'<div class="xdm-muted xdm-template">filled in: {names}</div>'
            f'<details class="xdm-prompt"><summary class="xdm-muted">prompt sent '
            f"({len(job.prompt):,} characters)</summary><pre>{escape(job.prompt)}</pre>"
            "</details>")


def parsed_html(job: Job) -> str:
    parsed, error = parse_job(job)
    if error:
        return f'<div class="xdm-error"><b>parse error</b>: {text_html(error)}</div>'
    fields = fields_of(parsed)
    if not fields:
        return ""
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{text_html(_short(v))}</td></tr>"
                   for k, v in fields.items())
    return f'<table class="xdm-parsed">{rows}</table>'


def _short(value: Any) -> str:
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                              default=str)
    return clip(shown, MAX_VALUE)
