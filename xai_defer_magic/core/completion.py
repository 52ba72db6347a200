"""Tolerant parsing of a ``chat.completion`` body into what the card and the handle show.

Bodies differ across API generations (``usage.reasoning_tokens`` at top level in 2025 docs,
inside ``completion_tokens_details`` later; ``cost_in_usd_ticks`` only since 2026), so every
optional field is optional here too. Only a missing ``choices[0].message`` is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from xai_defer_magic.errors import MalformedResponse

TICKS_PER_USD = 10_000_000_000


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None

    @classmethod
    def from_dict(cls, usage: Any) -> Usage:
        if not isinstance(usage, dict):
            return cls()
        prompt_details = _dict(usage.get("prompt_tokens_details"))
        completion_details = _dict(usage.get("completion_tokens_details"))
        reasoning = _int(completion_details.get("reasoning_tokens"))
        if reasoning is None:
            reasoning = _int(usage.get("reasoning_tokens"))
        ticks = _int(usage.get("cost_in_usd_ticks"))
        return cls(
            prompt_tokens=_int(usage.get("prompt_tokens")),
            cached_tokens=_int(prompt_details.get("cached_tokens")),
            completion_tokens=_int(usage.get("completion_tokens")),
            reasoning_tokens=reasoning,
            total_tokens=_int(usage.get("total_tokens")),
            cost_usd=None if ticks is None else ticks / TICKS_PER_USD,
        )


@dataclass(frozen=True)
class Completion:
    """The parts of a finished deferred completion that people look at."""

    content: str
    reasoning_content: str | None
    finish_reason: str | None
    model: str | None
    usage: Usage
    citations: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def parse_completion_text(text: str) -> Completion:
    """Parse the raw 200 body (as journaled) into a :class:`Completion`."""
    try:
        body = json.loads(text)
    except (ValueError, TypeError) as exc:
        snippet = " ".join(str(text)[:80].split())
        raise MalformedResponse(f"The server's answer is not JSON: {snippet!r}") from exc
    return parse_completion(body)


def parse_completion(body: Any) -> Completion:
    if not isinstance(body, dict):
        raise MalformedResponse("The server's answer is not a JSON object.")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse("The server's answer has no choices.")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise MalformedResponse("The server's answer has no message in choices[0].")
    content = message.get("content")
    reasoning = message.get("reasoning_content")
    citations = body.get("citations")
    return Completion(
        content=content if isinstance(content, str) else "",
        reasoning_content=reasoning if isinstance(reasoning, str) and reasoning else None,
        finish_reason=_str(choices[0].get("finish_reason")),
        model=_str(body.get("model")),
        usage=Usage.from_dict(body.get("usage")),
        citations=[c for c in citations if isinstance(c, str)]
        if isinstance(citations, list)
        else [],
        raw=body,
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
