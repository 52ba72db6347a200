"""xAI's Batch API on the emulator: the seven REST routes of ``shared/xai/batch/BATCH.md`` §2.

``POST /v1/batches`` (create), ``GET /v1/batches`` (list), ``GET /v1/batches/{id}`` (poll),
``POST|GET /v1/batches/{id}/requests`` (add, metadata), ``GET /v1/batches/{id}/results`` and
``POST /v1/batches/{id}:cancel``. Adds are atomic per call and idempotent by
``batch_request_id``; results are sorted by id, paged with ``limit``/``pagination_token``,
re-readable until the batch expires (30 days); costs are charged at the batch price. The server's
auth check, error envelope and faults apply here exactly as on the deferred endpoints, plus the
add-call rate limit (429 with ``Retry-After``). The rules themselves live in :mod:`.batch_state`.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import answers
from .batch_paging import MAX_PAGE, BadQuery, make_token, page_after, page_limit, read_token
from .batch_state import (
    CHAT_KEY,
    EXPIRY_SECONDS,
    Batch,
    Dates,
    Item,
    batch_body,
    batch_terms,
    cancel,
    canonical,
    key_id,
    metadata_body,
    new_batch_id,
    new_request_id,
    settle,
)
from .replies import (
    INVALID_ARGUMENT,
    NOT_FOUND,
    PERMISSION_DENIED,
    RESOURCE_EXHAUSTED,
    Outcome,
    Reply,
    bad_json,
    error_reply,
    json_reply,
    loads_or_none,
    no_route,
    unprocessable,
)
from .state import EmulatorState

BATCHES_PATH = "/v1/batches"
FAILED_PRECONDITION = "The system is not in a state required for the operation's execution"


def is_batch_path(path: str) -> bool:
    return path == BATCHES_PATH or path.startswith(BATCHES_PATH + "/")


class BatchService:
    """Every batch of the emulated team, behind the shared state's lock and clock."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self._lock = state.lock
        self._batches: dict[str, Batch] = {}
        self._add_calls: deque[float] = deque()
        self._rng = random.Random(state.seed)
        self.dates = Dates()
        # Knobs (emulated seconds where they are times); tests and benchmarks may change them.
        self.max_items_per_add = 1000
        self.max_add_bytes = 20 * 1024 * 1024
        self.add_calls_per_window = 1000  # newest guide: 1000 add calls per 30 s, per team
        self.add_window = 30.0
        self.cancel_grace = 0.0  # requests due this soon after a cancel still land (race)

    # -- test controls --

    def batch_ids(self) -> list[str]:
        with self._lock:
            return list(self._batches)

    def items(self, batch_id: str) -> dict[str, Item]:
        with self._lock:
            return dict(self._batch_or_raise(batch_id).items)

    def complete(self, batch_id: str) -> None:
        """Make every pending request of a batch due now."""
        with self._lock:
            self._batch_or_raise(batch_id).make_due(self._now())

    def expire(self, batch_id: str) -> None:
        """Make a batch older than its 30 days."""
        with self._lock:
            self._batch_or_raise(batch_id).expire(self._now())

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()
            self._add_calls.clear()

    def _batch_or_raise(self, batch_id: str) -> Batch:
        try:
            return self._batches[batch_id]
        except KeyError:
            raise KeyError(f"unknown batch id {batch_id!r}") from None

    # -- routing --

    def handle(self, method: str, target: str, auth: str | None, raw: bytes) -> Outcome:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        rest = parts.path[len(BATCHES_PATH):].lstrip("/")
        batch_id, _, sub = rest.partition("/")
        body = loads_or_none(raw) if method == "POST" else None
        route = self._route(method, batch_id, sub)
        if route is None:
            return Outcome(no_route(), body=body)
        reply = self._state.screen("get" if method == "GET" else "post", auth)
        if reply is None:
            try:
                reply = route(batch_id.removesuffix(":cancel"), query, raw, body, auth)
            except BadQuery as exc:
                reply = error_reply(400, INVALID_ARGUMENT, str(exc))
        return Outcome(reply, request_id=batch_id.removesuffix(":cancel") or None, body=body)

    def _route(self, method: str, batch_id: str, sub: str) -> Any:
        if not batch_id:
            return {"POST": self._create, "GET": self._list}.get(method)
        if batch_id.endswith(":cancel"):
            return self._cancel if method == "POST" and not sub else None
        if not sub:
            return self._get if method == "GET" else None
        if sub == "requests":
            return {"POST": self._add, "GET": self._metadata}.get(method)
        if sub == "results":
            return self._results if method == "GET" else None
        return None

    # -- the endpoints --

    def _create(self, _id: str, _q: dict[str, str], raw: bytes, body: Any, auth: Any) -> Reply:
        if body is None:
            return bad_json()
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return unprocessable("missing field `name`")
        if body.get("input_file_id") is not None:
            return error_reply(400, INVALID_ARGUMENT,
                               "File-based batches (input_file_id) are not emulated.")
        token = (auth or "").partition(" ")[2].strip()
        with self._lock:
            batch = Batch(new_batch_id(), body["name"], self._now(), key_id(token))
            self._batches[batch.batch_id] = batch
            return json_reply(200, batch_body(batch, self.dates))

    def _list(self, _id: str, query: dict[str, str], *_: Any) -> Reply:
        limit = page_limit(query)
        with self._lock:
            ids = sorted(self._batches)
            start = page_after(ids, read_token(query))
            page = [self._settled(self._batches[i]) for i in ids[start:start + limit]]
            more = start + limit < len(ids)
            return json_reply(200, {
                "batches": [batch_body(b, self.dates) for b in page],
                "pagination_token": make_token(page[-1].batch_id) if more and page else None,
            })

    def _get(self, batch_id: str, *_: Any) -> Reply:
        with self._lock:
            batch = self._live(batch_id)
            if isinstance(batch, Reply):
                return batch
            return json_reply(200, batch_body(batch, self.dates))

    def _cancel(self, batch_id: str, *_: Any) -> Reply:
        with self._lock:
            batch = self._live(batch_id)
            if isinstance(batch, Reply):
                return batch
            cancel(batch, self._now(), self.cancel_grace)
            return json_reply(200, batch_body(batch, self.dates))

    def _results(self, batch_id: str, query: dict[str, str], *_: Any) -> Reply:
        return self._page(batch_id, query, "results")

    def _metadata(self, batch_id: str, query: dict[str, str], *_: Any) -> Reply:
        return self._page(batch_id, query, "batch_request_metadata")

    def _page(self, batch_id: str, query: dict[str, str], key: str) -> Reply:
        """A page in ``batch_request_id`` order; results list only finished requests."""
        limit = min(page_limit(query), MAX_PAGE)
        token = read_token(query)
        with self._lock:
            batch = self._live(batch_id)
            if isinstance(batch, Reply):
                return batch
            ids = batch.sorted_ids()
            rows: list[dict[str, Any]] = []
            index = page_after(ids, token)
            while index < len(ids) and len(rows) < limit:
                item = batch.items[ids[index]]
                index += 1
                if key == "results" and item.result is not None:
                    rows.append({"batch_request_id": item.batch_request_id,
                                 "batch_result": item.result})
                elif key != "results":
                    rows.append(metadata_body(item, self.dates))
            if key == "results":
                more = any(batch.items[i].result is not None for i in ids[index:])
            else:
                more = index < len(ids)
            next_token = make_token(ids[index - 1]) if more else None
            return json_reply(200, {key: rows, "pagination_token": next_token})

    def _add(self, batch_id: str, _q: dict[str, str], raw: bytes, body: Any, _a: Any) -> Reply:
        """Check the whole call, then admit all of it or none of it (BATCH.md §2.4, §12)."""
        if len(raw) > self.max_add_bytes:
            return error_reply(413, INVALID_ARGUMENT,
                               f"Request payload exceeds {self.max_add_bytes} bytes.")
        if body is None:
            return bad_json()
        requests = body.get("batch_requests") if isinstance(body, dict) else None
        if not isinstance(requests, list):
            return unprocessable("missing field `batch_requests`")
        with self._lock:
            batch = self._live(batch_id)
            if isinstance(batch, Reply):
                return batch
            limited = self._rate_limited()
            if limited is not None:
                return limited
            if batch.cancel_time is not None:
                return error_reply(403, PERMISSION_DENIED,
                                   "You cannot add more requests to a cancelled batch.")
            if len(requests) > self.max_items_per_add:
                return error_reply(400, INVALID_ARGUMENT,
                                   f"At most {self.max_items_per_add} requests per call, got "
                                   f"{len(requests)}.")
            admitted = self._admit(batch, requests)
            if isinstance(admitted, Reply):
                return admitted
            for item in admitted:
                batch.add(item)
            return json_reply(200, {})

    def _admit(self, batch: Batch, requests: list[Any]) -> list[Item] | Reply:
        """The new items of one add call, or the one answer that rejects the whole call."""
        now = self._now()
        fresh: dict[str, Item] = {}
        for index, entry in enumerate(requests):
            problem = _entry_problem(index, entry)
            if problem is not None:
                return problem
            request = entry["batch_request"]
            rid = entry.get("batch_request_id") or new_request_id()
            if not isinstance(rid, str):
                return unprocessable(f"batch_requests[{index}].batch_request_id: expected a "
                                      "string")
            model = str(request[CHAT_KEY].get("model"))
            terms = batch_terms(model)
            if terms is None or not terms.batch_enabled:
                return error_reply(400, INVALID_ARGUMENT,
                                   f"Model {model} is not supported for batch processing.")
            text = canonical(request)
            known = batch.items.get(rid) or fresh.get(rid)
            if known is not None and known.canonical != text:
                return error_reply(412, FAILED_PRECONDITION, f"batch_request_id '{rid}' content "
                                   "differs from originally submitted")
            if known is not None:
                continue  # the same content again: idempotent
            ready = now + self._latency(request[CHAT_KEY])
            fresh[rid] = Item(rid, request, text, model, now, ready)
        return list(fresh.values())

    # -- helpers --

    def _now(self) -> float:
        return self._state.now()

    def _settled(self, batch: Batch) -> Batch:
        now = self._now()
        settle(batch, now)
        return batch

    def _live(self, batch_id: str) -> Batch | Reply:
        """The batch, settled up to now; 404 when unknown or past its expiry."""
        batch = self._batches.get(batch_id)
        if batch is None:
            return error_reply(404, NOT_FOUND, f"Cannot find batch with ID {batch_id}")
        now = self._now()
        if now > batch.created + EXPIRY_SECONDS:
            return error_reply(404, NOT_FOUND, f"Batch {batch_id} has expired.")
        settle(batch, now)
        return batch

    def _latency(self, chat: dict[str, Any]) -> float:
        messages = chat.get("messages")
        if isinstance(messages, list):
            text = answers.user_text([m for m in messages if isinstance(m, dict)])
            directive = answers.parse_directives(text).latency
            if directive is not None:
                return directive
        return self._state.draw_latency(self._rng)

    def _rate_limited(self) -> Reply | None:
        """The add-call limit, a rolling window on the emulated clock (429, Retry-After)."""
        now = self._now()
        calls = self._add_calls
        while calls and calls[0] <= now - self.add_window:
            calls.popleft()
        if len(calls) >= self.add_calls_per_window:
            wait = (calls[0] + self.add_window - now) / self._state.time_scale
            return error_reply(
                429, RESOURCE_EXHAUSTED,
                f"Too many add-requests calls: at most {self.add_calls_per_window} per "
                f"{self.add_window:g} s for this team (emulated).",
                **{"Retry-After": f"{max(wait, 0.001):.3f}"},
            )
        calls.append(now)
        return None


def _entry_problem(index: int, entry: Any) -> Reply | None:
    where = f"batch_requests[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("batch_request"), dict):
        return unprocessable(f"{where}: missing field `batch_request`")
    request = entry["batch_request"]
    if len(request) != 1:
        return unprocessable(f"{where}.batch_request: expected exactly one operation")
    operation = next(iter(request))
    if operation != CHAT_KEY:
        return error_reply(400, INVALID_ARGUMENT, f"{where}: the operation `{operation}` is not "
                           "emulated; only chat_get_completion is.")
    if not isinstance(request[CHAT_KEY], dict):
        return unprocessable(f"{where}.batch_request.chat_get_completion: expected an object")
    return None

