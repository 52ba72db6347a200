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
from urllib.parse import quote, unquote, urlsplit

import httpx

from xai_defer_magic.errors import (
    AnswerLost,
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
from xai_defer_magic.loop import within

DEFAULT_BASE_URL = "https://api.x.ai/v1"
USER_AGENT = "xai_defer_magic"
_BILLING_WORDS = ("used all available credits", "spending limit")
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
# A request id is an opaque token from the server that goes into a URL path: letters, digits
# and ``-_.:`` only (xAI's are uuids), never ``..``; anything else could steer the GET elsewhere.
_SAFE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
SUBMIT_RETRY_BUDGET = 10.0  # seconds a job may stay submitting through POST retries (429s)
CONSOLE = "https://console.x.ai"


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
    """A thin async client over one shared ``httpx.AsyncClient`` (created on the loop thread).

    ``timeout`` bounds each request as a whole (httpx's own timeouts are per phase, so a body
    that trickles in would never time out), which is what lets a lease outlast any GET.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        *,
        submit_attempts: int = 10,
        timeout: float = 30.0,
    ) -> None:
        check_transport(base_url)
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}
        self._submit_attempts = submit_attempts
        self._timeout = timeout

    def __repr__(self) -> str:  # never show the key
        return f"XaiClient(base_url={self._base!r})"

    async def submit(self, body: dict[str, Any]) -> str:
        """POST a deferred chat request; retried only if it provably never reached the server,
        or on a rate limit (which the server answered without starting a job), for at most
        ``SUBMIT_RETRY_BUDGET`` seconds in all (the job's card says ``submitting`` meanwhile;
        the cell that made it has long returned)."""
        payload = {**body, "deferred": True}
        payload.pop("stream", None)
        give_up_at = time.monotonic() + SUBMIT_RETRY_BUDGET
        for attempt in range(self._submit_attempts):
            try:
                response = await self._send("POST", "/chat/completions", json=payload)
                if response.status_code != 200:
                    raise error_for(response, on_poll=False)
                return _request_id(response)
            except (NetworkError, RateLimited) as exc:
                if isinstance(exc, NetworkError) and not exc.never_sent:
                    raise NetworkError(
                        f"{exc.message.rstrip('.')} while submitting: the job may have "
                        f"been created; check the xAI console ({CONSOLE})."
                    ) from None
                delay = retry_delay(attempt, exc)
                if attempt + 1 >= self._submit_attempts or time.monotonic() + delay > give_up_at:
                    raise
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def poll(self, request_id: str) -> PollOutcome:
        """One GET of the deferred result. A 200 whose body then fails to arrive is
        :class:`AnswerLost`: the server has handed the answer out and will not again."""
        path = f"/chat/deferred-completion/{quote(check_request_id(request_id), safe='')}"
        handed_out = False

        async def get() -> httpx.Response:
            nonlocal handed_out
            async with self._http.stream(
                "GET", self._base + path, headers=self._headers, timeout=self._timeout
            ) as response:
                handed_out = response.status_code == 200
                await response.aread()
                return response

        try:
            response = await within(self._timeout, get())
        except (httpx.TransportError, asyncio.TimeoutError) as exc:
            if handed_out:
                raise AnswerLost(
                    "The server handed the answer out but it never arrived (a 200 whose body "
                    f"{_transport_reason(exc, self._timeout)}); it cannot be fetched again."
                ) from None
            raise self._network_error(exc) from None
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
        request = self._http.request(
            method, self._base + path, headers=self._headers, timeout=self._timeout, **kwargs
        )
        try:
            return await within(self._timeout, request)
        except (httpx.TransportError, asyncio.TimeoutError) as exc:
            raise self._network_error(exc) from None

    def _network_error(self, exc: BaseException) -> NetworkError:
        if isinstance(exc, httpx.ConnectError):
            message = f"Could not connect to {self._base}: {exc}"
            return NetworkError(message, never_sent=True)
        if isinstance(exc, httpx.ConnectTimeout):
            return NetworkError(f"Timed out connecting to {self._base}.", never_sent=True)
        if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError)):
            return NetworkError(f"Timed out waiting for {self._base} ({self._timeout:g} s).")
        return NetworkError(f"Connection to {self._base} failed ({type(exc).__name__}).")


def check_request_id(request_id: str) -> str:
    """The id itself if it is a plain token safe in a URL path, else MalformedResponse."""
    if not isinstance(request_id, str) or not _SAFE_ID.fullmatch(request_id) or (
        ".." in request_id
    ):
        shown = one_line(repr(request_id), 60)
        raise MalformedResponse(
            f"The server answered with an unusable request id {shown}: only letters, digits "
            "and -_.: are accepted; nothing was fetched with it."
        )
    return request_id


def _transport_reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, (httpx.TimeoutException, asyncio.TimeoutError)):
        return f"did not arrive within {timeout:g} s"
    return f"was cut off: {type(exc).__name__}"


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
    return check_request_id(request_id)
