"""Validate request values and build the chat request body before anything is sent.

Shared by ``defer()`` and the magic (through :class:`~xai_defer_magic.core.options.RequestOptions`),
so a bad value is refused the same way from Python and from a cell, with one line that says what
is wrong, and nothing reaches the server.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xai_defer_magic.core.images import attach
from xai_defer_magic.errors import InvalidArgument

if TYPE_CHECKING:
    from xai_defer_magic.core.options import RequestOptions

# Known values (grok-4.3 takes all five, grok-3-mini low/high); any other word is sent as
# written, and a model that rejects it answers with xAI's 400 (CHANGES.md).
REASONING_EFFORTS = ("none", "low", "medium", "high", "xhigh")
ROLES = ("system", "user", "assistant", "tool", "developer")


Prompt = str | Sequence[dict[str, Any]]


def build_request(prompt: Prompt, options: RequestOptions) -> dict[str, Any]:
    """The JSON body of a chat request (without ``deferred``, which the client adds).

    ``options`` were validated when built; their model must be set (see
    ``RequestOptions.resolved``). ``max_tokens`` is sent as ``max_completion_tokens``: xAI
    deprecated ``max_tokens``; a schema is sent as ``response_format``.
    """
    if options.model is None:
        raise InvalidArgument("No model: resolve the options against the defaults first.")
    body: dict[str, Any] = {"model": options.model, "messages": messages(prompt, options.system)}
    body["messages"] = attach(body["messages"], options.images or ())  # stored form: core.images
    if options.temperature is not None:
        body["temperature"] = options.temperature
    if options.max_tokens is not None:
        body["max_completion_tokens"] = options.max_tokens
    if options.reasoning_effort is not None:
        body["reasoning_effort"] = options.reasoning_effort
    if options.schema is not None:
        body["response_format"] = options.schema.response_format()
    return body


def with_prefix(prefix: Sequence[dict[str, Any]] | None, text: str) -> Prompt:
    """``text`` as a prompt after ``prefix`` (a thread's history), or alone without one."""
    if prefix is None:
        return text
    if not text.strip():
        raise InvalidArgument("The prompt is empty: write the message in the cell body.")
    return [*prefix, {"role": "user", "content": text.strip("\n")}]


def messages(prompt: Prompt, system: str | None) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        if not prompt.strip():
            raise InvalidArgument("The prompt is empty: write the message in the cell body.")
        result: list[dict[str, Any]] = [{"role": "user", "content": prompt.strip("\n")}]
    elif isinstance(prompt, Sequence) and prompt:
        result = [check_message(m, i) for i, m in enumerate(prompt)]
    else:
        raise InvalidArgument("The prompt must be a non-empty string or list of messages.")
    if system is not None:
        result.insert(0, {"role": "system", "content": system})
    return result


def check_message(message: Any, index: int) -> dict[str, Any]:
    if not isinstance(message, dict) or "role" not in message or "content" not in message:
        raise InvalidArgument(f"Message {index} must be a dict with 'role' and 'content'.")
    if message["role"] not in ROLES:
        raise InvalidArgument(f"Message {index} has an unknown role {message['role']!r}.")
    return dict(message)


def check_system(system: Any) -> str:
    if not isinstance(system, str) or not system.strip():
        raise InvalidArgument("--system is empty.")
    return system


def check_model(model: Any) -> str:
    if not isinstance(model, str) or not model.strip() or any(c.isspace() for c in model.strip()):
        raise InvalidArgument(f"Invalid model name {model!r}.")
    return model.strip()


def check_temperature(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        message = f"--temperature must be a number from 0 to 2, not {value!r}."
        raise InvalidArgument(message) from None
    if not math.isfinite(number) or not 0 <= number <= 2:
        raise InvalidArgument(f"--temperature must be between 0 and 2, not {value!r}.")
    return number


def check_max_tokens(value: Any) -> int:
    try:
        number = int(str(value), 10) if not isinstance(value, int) else value
    except ValueError:
        raise InvalidArgument(f"--max-tokens must be a whole number, not {value!r}.") from None
    if isinstance(number, bool) or number < 1 or number > 1_000_000:
        raise InvalidArgument(f"--max-tokens must be between 1 and 1000000, not {value!r}.")
    return number


def check_reasoning_effort(value: Any) -> str:
    """Any word passes (xAI decides per model); only an empty or spaced value is refused."""
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
        raise InvalidArgument(
            f"--reasoning-effort needs one word (known: {', '.join(REASONING_EFFORTS)}), "
            f"not {value!r}."
        )
    return value


def check_timeout(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"--timeout must be a number of seconds, not {value!r}.") from None
    if not math.isfinite(number) or number <= 0:
        raise InvalidArgument(f"--timeout must be a positive number of seconds, not {value!r}.")
    return number


def check_limit(value: Any, name: str) -> float | None:
    """A spending limit in USD: None (no limit) or a positive finite number."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be an amount in USD, not {value!r}.") from None
    if not number > 0 or number == float("inf"):
        raise InvalidArgument(f"{name} must be a positive amount in USD, not {value!r}.")
    return number
