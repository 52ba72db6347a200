"""The HTTP calls of xAI's Batch API, and the mapping of its answers to types and one-line errors.

Protocol only (``shared/xai/batch/BATCH.md``): create a batch, add requests in chunks, poll it,
page through its results, cancel it. Scheduling and storage belong to :mod:`engines.batch.engine`.
Transport checks, the HTTP error mapping and the connection-error mapping are the deferred
client's (:mod:`deferred`), so both paths fail with the same exceptions and texts.

Which calls are retried, and why: adds are idempotent by ``batch_request_id`` (xAI ignores an
identical re-add), GETs and cancel change nothing twice, so those are retried on transient
failures and 429s (``Retry-After`` honoured). A create is retried only when it provably never
left, or on a 429: a second create would make a second batch.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from xai_defer_magic.core.images import expand, images_in
from xai_defer_magic.errors import (
    GrokDeferError,
    InvalidRequest,
    MalformedResponse,
    NetworkError,
    RateLimited,
    ServerError,
    one_line,
)
from xai_defer_magic.http.deferred import XaiClient, error_for, retry_delay

MAX_ITEMS_PER_ADD = 1000  # the chunk limit (xAI states no item cap)
# xAI: "each individual request" <= 25 MB (BATCH.md §6; older guides: each add call); one
# item over this cannot be sent at all (a 16 MiB image is 21.3 MiB as base64).
MAX_BYTES_PER_ADD = 20 * 1024 * 1024  # below xAI's 25 MB payload limit, with headroom
MAX_PAGE = 1000  # "max 1000" on /results (REST reference)
CANCELLED_TEXT = "Batch cancelled"
T = TypeVar("T")


class BatchModelNotSupported(InvalidRequest):
    """400 "Model X is not supported for batch processing.": refused before anything ran."""


@dataclass(frozen=True)
class BatchInfo:
    """A Batch object: there is no status field, only counters (BATCH.md §3, §4.2)."""

    batch_id: str
    name: str
    num_requests: int
    num_pending: int
    num_success: int
    num_error: int
    num_cancelled: int
    create_time: str | None = None
    expire_time: str | None = None
    cancel_time: str | None = None
    cancel_by_xai_message: str | None = None

    @property
    def num_finished(self) -> int:
        return self.num_success + self.num_error + self.num_cancelled

    @property
    def done(self) -> bool:
        """The documented completion test: ``num_pending == 0`` with requests in it."""
        return self.num_requests > 0 and self.num_pending == 0

    @property
    def cancelled(self) -> bool:
        return self.cancel_time is not None


@dataclass(frozen=True)
class BatchResult:
    """One row of ``GET .../results``: the raw row text (journaled verbatim), and its meaning."""

    batch_request_id: str
    raw_text: str
    completion: dict[str, Any] | None  # the chat.completion body on success
    error: str | None  # one line on failure

    @property
    def cancelled(self) -> bool:
        return self.error == CANCELLED_TEXT

    @property
    def cost_in_usd_ticks(self) -> int | None:
        usage = (self.completion or {}).get("usage")
        ticks = usage.get("cost_in_usd_ticks") if isinstance(usage, dict) else None
        return ticks if isinstance(ticks, int) and not isinstance(ticks, bool) else None


@dataclass(frozen=True)
class ResultsPage:
    results: list[BatchResult]
    pagination_token: str | None  # None on the last page


def parse_result(row: Any) -> BatchResult:
    """One result row; failures in any of the three shapes seen become one line (BATCH.md §8)."""
    if not isinstance(row, dict) or not isinstance(row.get("batch_request_id"), str):
        raise MalformedResponse("A batch result row has no batch_request_id.")
    raw = json.dumps(row, ensure_ascii=False, separators=(",", ":"))
    outcome = row.get("batch_result")
    outcome = outcome if isinstance(outcome, dict) else {}
    response = outcome.get("response")
    completion = response.get("chat_get_completion") if isinstance(response, dict) else None
    if isinstance(completion, dict):
        return BatchResult(row["batch_request_id"], raw, completion, None)
    error = item_error(outcome, row)
    return BatchResult(row["batch_request_id"], raw, None, error)


def item_error(outcome: dict[str, Any], row: dict[str, Any]) -> str:
    """``batch_result.error`` as a bare string (REST, live), ``{code, message}`` (LiteLLM) or
    ``error_message`` (guide JS, batchwork), in that order of trust."""
    for where in (outcome, row):
        error = where.get("error")
        if isinstance(error, str) and error.strip():
            return one_line(error)
        if isinstance(error, dict):
            message, code = error.get("message"), error.get("code")
            if isinstance(message, str) and message.strip():
                prefix = f"{code}: " if isinstance(code, (str, int)) and str(code) else ""
                return one_line(f"{prefix}{message}")
        message = where.get("error_message")
        if isinstance(message, str) and message.strip():
            return one_line(message)
    return "The batch result has neither a response nor an error."


def parse_batch(data: Any) -> BatchInfo:
    if not isinstance(data, dict) or not isinstance(data.get("batch_id"), str):
        raise MalformedResponse("The batch answer has no batch_id.")
    state = data.get("state")
    state = state if isinstance(state, dict) else {}

    def count(name: str) -> int:
        value = state.get(name, 0)
        return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else 0

    def text(name: str) -> str | None:
        value = data.get(name)
        return value if isinstance(value, str) and value else None

    return BatchInfo(
        batch_id=data["batch_id"], name=str(data.get("name") or ""),
        num_requests=count("num_requests"), num_pending=count("num_pending"),
        num_success=count("num_success"), num_error=count("num_error"),
        num_cancelled=count("num_cancelled"), create_time=text("create_time"),
        expire_time=text("expire_time"), cancel_time=text("cancel_time"),
        cancel_by_xai_message=text("cancel_by_xai_message"),
    )


def add_item(batch_request_id: str, chat_body: dict[str, Any]) -> dict[str, Any]:
    """One ``batch_requests[]`` entry; never ``deferred``/``stream`` inside a batch."""
    body = {k: v for k, v in chat_body.items() if k not in ("deferred", "stream")}
    return {"batch_request_id": batch_request_id, "batch_request": {"chat_get_completion": body}}


_HEAD, _TAIL = b'{"batch_requests":[', b"]}"


def add_call_size(batch_request_id: str, stored_body: dict[str, Any]) -> int:
    """Bytes of an add call carrying this one item once its stored images are inlined as
    base64 (4/3 of their bytes), computed without encoding them: a cell checks every item
    of a fan-out before anything is created (:func:`chunk` refuses the same ones later)."""
    skeleton = expand(stored_body, lambda media_type, _digest: f"data:{media_type};base64,")
    inlined = sum(4 * math.ceil((image.size or 0) / 3) for image in images_in(stored_body)
                  if image.sha256)
    entry = json.dumps(add_item(batch_request_id, skeleton), ensure_ascii=False).encode()
    return len(_HEAD) + len(entry) + inlined + len(_TAIL)


def chunk(
    items: Sequence[tuple[str, dict[str, Any]]],
    max_items: int = MAX_ITEMS_PER_ADD,
    max_bytes: int = MAX_BYTES_PER_ADD,
) -> list[bytes]:
    """The add-call bodies, each within both limits; a single item over the size limit is
    refused here, before anything is sent."""
    bodies: list[bytes] = []
    encoded: list[bytes] = []
    size = 0
    head, tail = _HEAD, _TAIL
    for batch_request_id, chat_body in items:
        entry = json.dumps(add_item(batch_request_id, chat_body), ensure_ascii=False).encode()
        if len(entry) + len(head) + len(tail) > max_bytes:
            raise InvalidRequest(f"Request {batch_request_id} is {len(entry)} bytes: over the "
                                 f"{max_bytes}-byte limit of one add call. Nothing was sent.")
        if encoded and (len(encoded) >= max_items or size + len(entry) + 1 > max_bytes):
            bodies.append(head + b",".join(encoded) + tail)
            encoded, size = [], 0
        encoded.append(entry)
        size += len(entry) + 1 + (len(head) + len(tail) if len(encoded) == 1 else 0)
    if encoded:
        bodies.append(head + b",".join(encoded) + tail)
    return bodies


class BatchClient(XaiClient):
    """The Batch API over the shared ``httpx.AsyncClient`` (same key, transport and errors)."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str, *,
                 attempts: int = 6, max_items: int = MAX_ITEMS_PER_ADD,
                 max_bytes: int = MAX_BYTES_PER_ADD, retry_base: float = 0.5) -> None:
        super().__init__(http, base_url, api_key, submit_attempts=attempts)
        self.attempts = attempts
        self.retry_base = retry_base  # first backoff step in seconds (Retry-After wins)
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.calls = 0  # HTTP requests sent, retries included (benchmarks read it)
        # Add bodies are pre-encoded bytes, so say what they are (harmless on a GET).
        self._headers = {**self._headers, "Content-Type": "application/json"}

    def __repr__(self) -> str:  # never show the key
        return f"BatchClient(base_url={self._base!r})"

    async def create_batch(self, name: str) -> BatchInfo:
        data = await self._json("POST", "/batches", json={"name": name}, idempotent=False)
        return parse_batch(data)

    async def get_batch(self, batch_id: str) -> BatchInfo:
        return parse_batch(await self._json("GET", f"/batches/{batch_id}"))

    async def list_batches(
        self, limit: int = 100, pagination_token: str | None = None
    ) -> tuple[list[BatchInfo], str | None]:
        params: dict[str, Any] = {"limit": limit}
        if pagination_token:
            params["pagination_token"] = pagination_token
        data = await self._json("GET", "/batches", params=params)
        rows = data.get("batches") if isinstance(data, dict) else None
        token = data.get("pagination_token") if isinstance(data, dict) else None
        return [parse_batch(r) for r in rows or []], _token(token)

    async def cancel_batch(self, batch_id: str) -> BatchInfo:
        return parse_batch(await self._json("POST", f"/batches/{batch_id}:cancel"))

    async def add_requests(
        self,
        batch_id: str,
        items: Sequence[tuple[str, dict[str, Any]]],
        should_stop: Callable[[], bool] | None = None,
        on_chunk_added: Callable[[], None] | None = None,
    ) -> int:
        """Add ``(batch_request_id, chat body)`` pairs in chunks; returns the calls made.

        Every chunk is built before the first is sent, so a request over the size limit fails
        with nothing sent. ``should_stop()`` is asked before each chunk (a cancel);
        ``on_chunk_added()`` is told after each chunk xAI accepted."""
        bodies = chunk(items, self.max_items, self.max_bytes)
        path = f"/batches/{batch_id}/requests"
        sent = 0
        for body in bodies:
            if should_stop is not None and should_stop():
                break
            await self._json("POST", path, content=body)
            sent += 1
            if on_chunk_added is not None:
                on_chunk_added()
        return sent

    async def results_page(self, batch_id: str, limit: int = MAX_PAGE,
                           pagination_token: str | None = None) -> ResultsPage:
        params: dict[str, Any] = {"limit": min(max(1, limit), MAX_PAGE)}
        if pagination_token:
            params["pagination_token"] = pagination_token
        data = await self._json("GET", f"/batches/{batch_id}/results", params=params)
        rows = data.get("results") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise MalformedResponse("The results answer has no results list.")
        token = data.get("pagination_token")
        return ResultsPage([parse_result(r) for r in rows], _token(token))

    async def iter_results(
        self, batch_id: str, limit: int = MAX_PAGE
    ) -> AsyncIterator[BatchResult]:
        """Every result finished so far, page by page (stops on an empty token or page)."""
        token: str | None = None
        while True:
            page = await self.results_page(batch_id, limit, token)
            for result in page.results:
                yield result
            token = page.pagination_token
            if not token or not page.results:
                return

    # -- one call, with the retries it can afford --

    async def _json(self, method: str, path: str, *, idempotent: bool = True,
                    **kwargs: Any) -> Any:
        async def once() -> Any:
            self.calls += 1
            response = await self._send(method, path, **kwargs)
            if response.status_code != 200:
                raise batch_error(response)
            try:
                return response.json()
            except ValueError:
                raise MalformedResponse(f"The {method} {path} answer is not JSON.") from None

        return await self._retrying(once, idempotent)

    async def _retrying(self, call: Callable[[], Awaitable[T]], idempotent: bool) -> T:
        for attempt in range(self.attempts):
            try:
                return await call()
            except (NetworkError, ServerError, RateLimited) as exc:
                safe = idempotent or isinstance(exc, RateLimited) or (
                    isinstance(exc, NetworkError) and exc.never_sent)
                if not safe or attempt + 1 >= self.attempts:
                    raise
                await asyncio.sleep(retry_delay(attempt, exc, base=self.retry_base))
        raise AssertionError("unreachable")  # pragma: no cover


def batch_error(response: httpx.Response) -> GrokDeferError:
    """The deferred client's mapping, plus the one answer only batches give."""
    error = error_for(response, on_poll=False)
    text = error.message
    if response.status_code == 400 and "not supported for batch" in text.lower():
        return BatchModelNotSupported(
            f"{text.split(': ', 1)[-1]} This model is not batch-enabled: use a batch-enabled "
            "model (e.g. grok-4.3) or leave out --batch. Nothing was added.", status=400)
    return error


def _token(value: Any) -> str | None:
    """A next-page token, or None: the last page says null, "" or nothing (BATCH.md §5)."""
    return value if isinstance(value, str) and value else None
