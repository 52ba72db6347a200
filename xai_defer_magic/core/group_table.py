"""A group as rows: the DataFrame of ``g.to_pandas()`` and the summary table of its output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xai_defer_magic.core.job import Job
from xai_defer_magic.core.structured import fields_of, parse_job

if TYPE_CHECKING:  # a group's table is built from the group: group.py imports this module
    from xai_defer_magic.core.group import Group

TOKEN_COLUMNS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "total_tokens")


def result_columns(job: Job) -> dict[str, Any]:
    """What a job adds to its input row."""
    usage = job.completion.usage if job.completion is not None else None
    row: dict[str, Any] = {
        "answer": job.content,
        "status": job.status,
        "error": job.error if job.status != "done" else None,
    }
    for name in TOKEN_COLUMNS:
        row[name] = getattr(usage, name) if usage is not None else None
    row["cost_usd"] = job.cost_usd
    row["request_id"] = job.request_id
    return row


def to_pandas(group: Group) -> Any:
    import pandas as pd

    records = []
    has_schema = False
    for job, value in zip(group.jobs, group.values, strict=True):
        row: dict[str, Any] = dict(value) if group.columns else {"item": value}
        taken = set(row)
        row.update(result_columns(job))
        parsed, error = parse_job(job)
        if getattr(job, "schema", None) is not None or "response_format" in job.request:
            has_schema = True
            row["parse_error"] = error
        for name, field in fields_of(parsed).items():
            row[f"{name}_parsed" if name in taken or name in row else name] = field
        records.append(row)
    frame = pd.DataFrame.from_records(records, index=_index(group))
    if not has_schema and "parse_error" in frame.columns:
        frame = frame.drop(columns="parse_error")
    return frame


def _index(group: Group) -> Any:
    import pandas as pd

    original = getattr(group, "source_index", None)
    if original is not None and len(original) == len(group.jobs):
        return original
    return pd.Index(group.labels)
