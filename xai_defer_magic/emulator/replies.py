"""xAI's answers as bytes on the wire: the flat error envelope, its texts, and the reply types.

Every route (deferred, catalogue, batch, admin) answers through these, so a client sees one
consistent xAI: ``{"code": <gRPC status text>, "error": <message>}`` with xAI's own wording.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

EMULATED_TEAM = "00000000-0000-4000-8000-00000000e4a1"

# gRPC status descriptions, which xAI puts in the "code" field.
INVALID_ARGUMENT = "Client specified an invalid argument"
NOT_FOUND = "Some requested entity was not found"
RESOURCE_EXHAUSTED = "Some resource has been exhausted"
PERMISSION_DENIED = "The caller does not have permission to execute the specified operation"
UNAUTHENTICATED = "The request does not have valid authentication credentials"
INTERNAL = "Internal error"
UNAVAILABLE = "The service is currently unavailable"
GONE = "The requested resource is no longer available"

NO_ROUTE = (
    "No handler found on route. Please double check your URL and consult "
    "https://api.x.ai/docs for more information."
)
NO_DEFERRED = "No deferred completion could be found with the given request_id."
LIVE_SEARCH_GONE = (
    "Live search is deprecated. Please switch to the Agent Tools API: "
    "https://docs.x.ai/docs/guides/tools/overview"
)
BILLING_TAIL = (
    "has either used all available credits or reached its monthly spending limit. To continue "
    "making API requests, please purchase more credits or raise your spending limit."
)
BAD_GATEWAY_HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass
class Reply:
    """What the HTTP layer writes back, including the delivery faults it must act out."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    trickle_seconds: float = 0.0  # write the body slowly, over this many seconds
    drop_midway: bool = False  # close the connection after half the body


@dataclass
class Outcome:
    """A reply plus what the request log keeps of it (id, parsed body; admin calls unrecorded)."""

    reply: Reply
    request_id: str | None = None
    body: Any = None
    record: bool = True


def loads_or_none(raw: bytes) -> Any:
    """The parsed JSON body, or None when it is not JSON (each route words its own 400)."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return Reply(status, body, headers=headers or {})


def error_reply(status: int, code: str, message: str, **headers: str) -> Reply:
    """xAI's flat error envelope ``{"code": <gRPC status text>, "error": <message>}``."""
    return json_reply(status, {"code": code, "error": message}, headers)


def no_route() -> Reply:
    return error_reply(404, NOT_FOUND, NO_ROUTE)


def bad_json() -> Reply:
    return error_reply(400, INVALID_ARGUMENT, "Failed to parse the request body as JSON.")


def unprocessable(detail: str) -> Reply:
    """xAI answers deserialization failures with 422 and serde's text."""
    return error_reply(
        422, INVALID_ARGUMENT, f"Failed to deserialize the JSON body into the target type: {detail}"
    )


def model_not_found(name: Any) -> Reply:
    return error_reply(
        404,
        NOT_FOUND,
        f"The model {name} does not exist or your team {EMULATED_TEAM} does not "
        "have access to it. Please ensure you're using the correct API key. If you believe "
        "this is a mistake, please contact support and quote your team ID and the model name.",
    )


def unauthorized() -> Reply:
    return error_reply(
        401,
        UNAUTHENTICATED,
        "Request had invalid authentication credentials: missing or malformed Authorization "
        "header. Expected 'Authorization: Bearer <API key>'.",
    )


def billing_reply(status: int) -> Reply:
    if status == 403:
        return error_reply(403, PERMISSION_DENIED, f"Your team {EMULATED_TEAM} {BILLING_TAIL}")
    return error_reply(429, RESOURCE_EXHAUSTED, f"Your team {BILLING_TAIL}")


def rate_limit_reply(retry_after: float | None) -> Reply:
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    message = (
        "Rate limit exceeded: too many requests for this team and model, please retry later "
        "(emulated)."
    )
    return json_reply(429, {"code": RESOURCE_EXHAUSTED, "error": message}, headers)


def server_error_reply(status: int, html: bool = False) -> Reply:
    if status == 502 and html:
        return Reply(502, BAD_GATEWAY_HTML.encode(), content_type="text/html; charset=utf-8")
    texts = {
        500: (INTERNAL, "Internal server error (emulated fault)."),
        502: (UNAVAILABLE, "Bad gateway: the upstream service did not answer (emulated fault)."),
        503: (UNAVAILABLE, "The service is temporarily unavailable (emulated fault)."),
    }
    code, message = texts.get(status, (INTERNAL, f"Server error {status} (emulated fault)."))
    return error_reply(status, code, message)


def fail_directive_reply(status: int, retry_after: float | None) -> Reply:
    """The answer a ``[[fail=CODE]]`` directive asks for."""
    if status == 429:
        return rate_limit_reply(retry_after)
    if status == 403:
        return billing_reply(403)
    if status == 401:
        return unauthorized()
    if status == 410:
        return error_reply(410, GONE, LIVE_SEARCH_GONE)
    if status >= 500:
        return server_error_reply(status)
    if not 400 <= status < 600:
        status = 500
    code = NOT_FOUND if status == 404 else INVALID_ARGUMENT
    return error_reply(status, code, f"Emulated failure requested by [[fail={status}]].")
