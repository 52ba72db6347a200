"""The checks xAI makes on a chat request, in xAI's order: auth, then the body's shape (422),
then what it asks for (400/404/410). Each returns the problem, so callers decide the answer.
"""

from __future__ import annotations

from typing import Any

from . import catalogue, images
from .replies import (
    GONE,
    INVALID_ARGUMENT,
    LIVE_SEARCH_GONE,
    Reply,
    error_reply,
    model_not_found,
    unauthorized,
)

ROLES = ("system", "user", "assistant", "tool", "function")


def mask_key(key: str) -> str:
    """xAI's masking: first 2 and last 2 characters; never the whole of a short key."""
    return f"{key[:2]}***{key[-2:]}" if len(key) > 6 else "***"


def check_auth(header: str | None, api_key: str | None) -> Reply | None:
    """401 without a well-formed Bearer token, 400 for a wrong key (any key when none is set)."""
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        return unauthorized()
    if api_key is not None and token != api_key:
        return error_reply(
            400,
            INVALID_ARGUMENT,
            f"Incorrect API key provided: {mask_key(token)}. You can obtain an API key from "
            "https://console.x.ai.",
        )
    return None


def check_request_shape(body: Any) -> str | None:
    """What is wrong with a ChatRequest body, or None; the text goes into the 422 answer."""
    if not isinstance(body, dict):
        return "expected a JSON object"
    if "messages" not in body:
        return "missing field `messages`"
    if "model" not in body:
        return "missing field `model`"
    if not isinstance(body["model"], str):
        return "model: expected a string"
    if not isinstance(body["messages"], list):
        return "messages: expected a list of messages"
    for index, message in enumerate(body["messages"]):
        problem = _check_message(index, message)
        if problem:
            return problem
    return _check_optional(body)


def check_semantics(body: dict[str, Any]) -> Reply | catalogue.Resolution:
    """The 400/404/410 checks xAI makes after the body deserialized; returns who answers."""
    if body.get("search_parameters") is not None:
        return error_reply(410, GONE, LIVE_SEARCH_GONE)
    if not body["messages"]:
        return error_reply(400, INVALID_ARGUMENT, "At least one message is required.")
    if body.get("stream") and body.get("deferred"):
        return error_reply(
            400, INVALID_ARGUMENT, "Deferred completions cannot be streamed: set stream to false."
        )
    resolution = catalogue.resolve(body["model"])
    if resolution is None:
        return model_not_found(body["model"])
    problem = catalogue.effort_problem(resolution, body.get("reasoning_effort"))
    if problem:
        return error_reply(400, INVALID_ARGUMENT, problem)
    problem = image_problem(body["messages"], resolution)
    if problem:
        return error_reply(400, INVALID_ARGUMENT, problem)
    return resolution


def image_problem(messages: list[Any], resolution: catalogue.Resolution) -> str | None:
    """Bad image data or a model that does not read images: the 400 message, else None."""
    model = resolution.model
    seen = images.read_images(messages)
    if isinstance(seen, str):
        return seen
    return images.modality_problem(messages, model.id, model.input_modalities)


def _check_message(index: int, message: Any) -> str | None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        return f"{where}: expected an object with `role` and `content`"
    role = message.get("role")
    if "role" not in message:
        return f"{where}: missing field `role`"
    if role not in ROLES:
        return f"{where}.role: unknown variant `{role}`, expected one of {', '.join(ROLES)}"
    content = message.get("content")
    if "content" not in message and role != "assistant":
        return f"{where}: missing field `content`"
    if content is None and role == "assistant":
        return None
    if not isinstance(content, (str, list)):
        return f"{where}.content: expected a string or a list of content parts"
    return images.shape_problem(where, content) if isinstance(content, list) else None


def _check_optional(body: dict[str, Any]) -> str | None:
    temperature = body.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or not 0 <= temperature <= 2
    ):
        return "temperature: expected a number between 0 and 2"
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        bad = isinstance(value, bool) or not isinstance(value, int) or value < 1
        if value is not None and bad:
            return f"{name}: expected a positive integer"
    for name in ("deferred", "stream"):
        if body.get(name) is not None and not isinstance(body.get(name), bool):
            return f"{name}: expected a boolean"
    effort = body.get("reasoning_effort")
    if effort is not None and not isinstance(effort, str):
        return "reasoning_effort: expected a string"
    return None
