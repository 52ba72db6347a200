"""The two HTTP calls of xAI's deferred protocol, and the mapping of every answer to a type.

``submit`` POSTs a chat request with ``"deferred": true`` and returns the ``request_id``;
``poll`` GETs the deferred result once and returns :class:`Pending` or :class:`Ready` (the raw
body text, so the journal can keep it verbatim before anything parses it). Failures raise the
classes in :mod:`errors`. Scheduling and retries of polls belong to the poller; only the submit
retries live here, because only here do we know whether a POST provably never left.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from .errors import (
    BadApiKey,
    BillingExhausted,
    FeatureGone,
    GrokDeferError,
    InsecureTransport,
    InvalidRequest,
    MalformedResponse,
    ModelNotFound,
    NetworkError,
    PermissionDenied,
    RateLimited,
    ResultGone,
    ServerError,
    Unauthorized,
    UnexpectedStatus,
    one_line,
)

DEFAULT_BASE_URL = "https://api.x.ai/v1"
USER_AGENT = "xai_defer_magic"
_BILLING_WORDS = ("used all available credits", "spending limit")
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


@dataclass(frozen=True)
class Pending:
    """202: the job is still running."""


@dataclass(frozen=True)
class Ready:
    """200: the one and only copy of the answer, as text."""

    text: str


PollOutcome = Pending | Ready


def check_transport(base_url: str) -> None:
    """Refuse to send a key over plain http to anything but loopback."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InsecureTransport(f"XAI_BASE_URL must be an http(s) URL, not {base_url!r}.")
    host = parts.hostname.lower()
    if parts.scheme == "http" and not is_loopback(host):
        raise InsecureTransport(
            f"Refusing to send the API key over plain http to {host}: use https, "
            "or a loopback address for a local emulator."
        )


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal; a DNS name such as ``127.0.0.1.example.com``
    (which resolves anywhere) is not."""
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class XaiClient:
    """A thin async client over one shared ``httpx.AsyncClient`` (created on the loop thread)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        *,
        submit_attempts: int = 4,
    ) -> None:
        check_transport(base_url)
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}
        self._submit_attempts = submit_attempts

    def __repr__(self) -> str:  # never show the key
        return f"XaiClient(base_url={self._base!r})"

    async def submit(self, body: dict[str, Any]) -> str:
        """POST a deferred chat request; retried only if it provably never reached the server,
        or on a rate limit (which the server answered without starting a job)."""
        payload = {**body, "deferred": True}
        payload.pop("stream", None)
        for attempt in range(self._submit_attempts):
            try:
                response = await self._send("POST", "/chat/completions", json=payload)
                if response.status_code != 200:
                    raise error_for(response, on_poll=False)
                return _request_id(response)
            except (NetworkError, RateLimited) as exc:
                retryable = isinstance(exc, RateLimited) or exc.never_sent
                if not retryable or attempt + 1 >= self._submit_attempts:
                    raise
                await asyncio.sleep(retry_delay(attempt, exc))
        raise AssertionError("unreachable")  # pragma: no cover

    async def poll(self, request_id: str) -> PollOutcome:
        """One GET of the deferred result."""
        response = await self._send("GET", f"/chat/deferred-completion/{request_id}")
        if response.status_code == 202:
            if response.content.strip():
                raise MalformedResponse(
                    f"The server answered 202 with a body; expected none: {_snippet(response)}"
                )
            return Pending()
        if response.status_code == 200:
            return Ready(response.text)
        raise error_for(response, on_poll=True)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(
                method, self._base + path, headers=self._headers, **kwargs
            )
        except httpx.ConnectError as exc:
            message = f"Could not connect to {self._base}: {exc}"
            raise NetworkError(message, never_sent=True) from None
        except httpx.ConnectTimeout:
            raise NetworkError(f"Timed out connecting to {self._base}.", never_sent=True) from None
        except httpx.TimeoutException:
            raise NetworkError(f"Timed out waiting for {self._base}.") from None
        except httpx.TransportError as exc:
            name = type(exc).__name__
            raise NetworkError(f"Connection to {self._base} failed ({name}).") from None


def retry_delay(attempt: int, error: GrokDeferError, base: float = 0.5, cap: float = 30.0) -> float:
    """Jittered exponential backoff; a server's Retry-After wins when it is given."""
    hint = getattr(error, "retry_after", None)
    if isinstance(hint, (int, float)) and hint >= 0:
        return min(float(hint), 300.0) + random.uniform(0, 0.25)
    return random.uniform(0.5, 1.0) * min(cap, base * 2**attempt)


SERVER_TEXT_LIMIT = 200  # of a 300-character line: room for what we add, said once


def error_for(response: httpx.Response, *, on_poll: bool) -> GrokDeferError:
    """Map a non-success answer to the exception a user can act on.

    The line is ours plus the server's text, trimmed to at most 200 characters; advice is
    given once (of xAI's billing text we keep the diagnosis and give our own advice, with where).
    """
    status = response.status_code
    text = _trim(_error_message(response), SERVER_TEXT_LIMIT)
    lowered = text.lower()
    if any(word in lowered for word in _BILLING_WORDS) and status in (402, 403, 429):
        diagnosis = re.split(r"(?<=[.!?])\s+", text, maxsplit=1)[0]
        return BillingExhausted(
            f"xAI billing stop ({status}), not retried: {diagnosis} Add credits or raise the "
            "limit at https://console.x.ai.",
            status=status,
        )
    if status == 400 and "api key" in lowered:
        return BadApiKey(f"xAI rejected the API key (400): {text} Check XAI_API_KEY.", status=400)
    if status == 401:
        return Unauthorized(f"xAI could not authenticate the request (401): {text}", status=401)
    if status == 403:
        return PermissionDenied(f"xAI denied access (403): {text}", status=403)
    if status == 429:
        return RateLimited(
            f"Rate limited by xAI (429): {text}",
            retry_after=_retry_after(response),
        )
    if status == 404 and on_poll and "no handler found" not in lowered:
        return ResultGone(
            "xAI has no result for this request id (404): it is unknown, was already "
            "retrieved, or is older than 24 h.",
            status=404,
        )
    model_missing = "not found" in lowered or "not exist" in lowered
    if status in (400, 404) and "model" in lowered and model_missing:
        return ModelNotFound(f"Model not found ({status}): {text}", status=status)
    if status == 410:
        return FeatureGone(
            f"xAI no longer supports a field in this request (410): {text}", status=410
        )
    if status in (400, 404, 413, 422):
        return InvalidRequest(f"xAI rejected the request ({status}): {text}", status=status)
    if 500 <= status < 600:
        return ServerError(f"xAI server error ({status}): {text}", status=status)
    return UnexpectedStatus(f"Unexpected answer from the server ({status}): {text}", status=status)


def _trim(text: str, limit: int) -> str:
    """The server's text on one line, cut at a word boundary when it is long."""
    flat = one_line(text, limit=10_000)
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def _error_message(response: httpx.Response) -> str:
    """xAI errors are a flat ``{"code", "error"}``; proxies send HTML; be tolerant of both."""
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        return _snippet(response) or response.reason_phrase or "no details"
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):  # OpenAI-style nesting, seen behind some proxies
            error = error.get("message")
        message = error if isinstance(error, str) else data.get("message")
        if isinstance(message, str) and message:
            return one_line(unquote(message))  # one 2025 capture arrived URL-encoded
    return _snippet(response) or "no details"


def _snippet(response: httpx.Response, limit: int = 120) -> str:
    text = response.text
    if "<" in text and ">" in text:  # an HTML page: keep the readable words only
        text = re.sub(r"<[^>]+>", " ", text)
    return one_line(text, limit)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _request_id(response: httpx.Response) -> str:
    try:
        data = json.loads(response.text)
    except ValueError:
        raise MalformedResponse(f"The submit answer is not JSON: {_snippet(response)}") from None
    request_id = data.get("request_id") if isinstance(data, dict) else None
    if not isinstance(request_id, str) or not request_id.strip():
        raise MalformedResponse("The submit answer has no request_id.")
    return request_id
