"""One exception class per failure a user must tell apart.

Every error carries a one-line human message (``str(exc)``) that is safe to show in a card,
in ``job.error`` and in the journal: it never contains the API key. ``final`` says whether
retrying the same request can help; the poller never retries a final error.
"""

from __future__ import annotations

import re


class GrokDeferError(Exception):
    """Base class: a one-line message, the HTTP status if any, and whether it is final."""

    final: bool = True
    status: int | None = None

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(one_line(message))
        if status is not None:
            self.status = status

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


# --- configuration and local problems -----------------------------------------------------


class MissingApiKey(GrokDeferError):
    """No key in the environment: nothing was sent."""


class InsecureTransport(GrokDeferError):
    """The key would travel over plain http to a host that is not loopback."""


class InvalidArgument(GrokDeferError, ValueError):
    """A value the request cannot carry; raised before anything is sent."""


# --- answers from the server ----------------------------------------------------------------


class BadApiKey(GrokDeferError):
    """400 "Incorrect API key provided" (xAI answers a wrong key with 400, not 401)."""


class Unauthorized(GrokDeferError):
    """401: missing or malformed Authorization header."""


class PermissionDenied(GrokDeferError):
    """403: the key or team is blocked."""


class BillingExhausted(GrokDeferError):
    """429 or 403 saying the credits or the spending limit are used up. Never retried."""


class RateLimited(GrokDeferError):
    """429 rate limit: transient; ``retry_after`` is the server's hint in seconds, if any."""

    final = False

    def __init__(self, message: str, *, status: int | None = 429, retry_after: float | None = None):
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ResultGone(GrokDeferError):
    """404 on poll: the id is unknown, was already retrieved, or is older than 24 h."""


class AnswerLost(GrokDeferError):
    """The server handed the answer out (fetch-once) but it never arrived: gone for good."""


class ModelNotFound(GrokDeferError):
    """404 or 400 "model not found" on submit."""


class FeatureGone(GrokDeferError):
    """410: a request field the API no longer supports (e.g. ``search_parameters``)."""


class InvalidRequest(GrokDeferError):
    """Other 400/422: the server rejected the request; its text says why."""


class ServerError(GrokDeferError):
    """5xx: transient, retried for GETs."""

    final = False


class NetworkError(GrokDeferError):
    """Connection refused or dropped, or a timeout: transient for GETs."""

    final = False

    def __init__(self, message: str, *, never_sent: bool = False) -> None:
        super().__init__(message)
        # True when the request provably never reached the server (connect failed), which is
        # the only case in which a POST may be sent again without risking a duplicate job.
        self.never_sent = never_sent


class MalformedResponse(GrokDeferError):
    """The server's answer does not have the documented shape."""


class UnexpectedStatus(GrokDeferError):
    """A status code the protocol does not define (e.g. 418)."""


# --- local job outcomes -----------------------------------------------------------------------


class JobTimeout(GrokDeferError):
    """Stopped waiting or polling; the job stays resumable."""

    final = False


class JobCancelled(GrokDeferError):
    """Polling was cancelled locally; the job stays resumable."""


class JobExpired(GrokDeferError):
    """Older than 24 h and never retrieved: xAI no longer holds the result."""


_KEY_LIKE = re.compile(r"\b(xai-[A-Za-z0-9_\-]{8,})")


LINE_LIMIT = 300


def one_line(text: str, limit: int = LINE_LIMIT) -> str:
    """Collapse whitespace, drop anything that looks like a full API key, and cap the length
    (an error line is read in a card, a status line and the journal: 300 characters at most)."""
    flat = " ".join(str(text).split())
    flat = _KEY_LIKE.sub("xai-***", flat)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
