"""What a journal row is: the job record, its statuses, and how it maps to SQL columns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

STATUSES = ("submitting", "pending", "done", "failed", "expired", "timed_out", "cancelled")
# Jobs whose result may still be fetched from the server.
UNFINISHED = ("submitting", "pending", "timed_out", "cancelled")


@dataclass
class JobRecord:
    """One deferred job as the journal stores it (lease columns are internal, not here)."""

    request_id: str
    created_at: float
    model: str
    request: dict[str, Any]
    base_url: str
    status: str = "pending"
    polls: int = 0
    last_poll_at: float | None = None
    response_text: str | None = None
    error: str | None = None
    owner: str | None = None
    cell_id: str | None = None
    finished_at: float | None = None

    @property
    def prompt_preview(self) -> str:
        """The last user message, whitespace-collapsed and cut to 80 characters, for listings."""
        text = _last_user_text(self.request.get("messages"))
        text = " ".join(text.split())
        return text if len(text) <= 80 else text[:79] + "…"


def canonical_request(request: dict[str, Any]) -> str:
    """The exact text the journal stores for a request body: equal requests, equal text, so a
    later run can find an identical request it already paid for (``Journal.find_by_request``)."""
    return json.dumps(request, ensure_ascii=False, sort_keys=True)


def check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown job status {status!r}")


def _last_user_text(messages: Any) -> str:
    """Text of the last ``role == "user"`` message; tolerates content given as parts."""
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                parts = [p.get("text", "") for p in content if isinstance(p, dict)]
                return " ".join(p for p in parts if isinstance(p, str))
            return ""
    return ""


FIELDS = (
    "request_id",
    "created_at",
    "model",
    "request",
    "base_url",
    "status",
    "polls",
    "last_poll_at",
    "response_text",
    "error",
    "owner",
    "cell_id",
    "finished_at",
)
SELECT = f"SELECT {', '.join(FIELDS)} FROM jobs"


def record_params(record: JobRecord) -> tuple[Any, ...]:
    """Row values for ``record`` in ``FIELDS`` order (the request body as canonical JSON)."""
    values = {name: getattr(record, name) for name in FIELDS}
    values["request"] = canonical_request(record.request)
    return tuple(values[name] for name in FIELDS)


def record_to_json(record: JobRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in FIELDS}


def record_from_json(values: dict[str, Any]) -> JobRecord:
    known = {name: values[name] for name in FIELDS if name in values}
    if not isinstance(known.get("request"), dict):
        known["request"] = {}
    return JobRecord(**known)


def row_to_record(row: tuple[Any, ...]) -> JobRecord:
    """Build a JobRecord from a ``SELECT`` row; a damaged request column becomes ``{}``."""
    values = dict(zip(FIELDS, row, strict=True))
    try:
        request = json.loads(values["request"])
    except (TypeError, ValueError):
        request = {}
    values["request"] = request if isinstance(request, dict) else {}
    return JobRecord(**values)
