"""The emulated Batch API's state: batches, their requests, and how a request gets processed.

Pure data and rules, no HTTP (that is :mod:`.batch`). Time is the emulator's scaled clock, so a
request's processing time follows the emulator's ``latency`` knob (or a ``[[latency=S]]``
directive in its prompt) and ``time_scale``. Requests are settled lazily: whenever a batch is
read, every request whose time has come is executed, so 10,000 pending requests cost nothing
until they are due. Rules follow ``shared/xai/batch/BATCH.md`` §2, §4 and §12.
"""

from __future__ import annotations

import heapq
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from . import answers, catalogue
from .request_checks import check_request_shape, image_problem

EXPIRY_SECONDS = 30 * 86400.0  # expire_time = create + 30 days (live captures)
CANCELLED_TEXT = "Batch cancelled"
ENDPOINT = "xai_api.Chat/GetCompletion"
CHAT_KEY = "chat_get_completion"

# --- model facts ----------------------------------------------------------------------------
# Every model fact and price comes from ``emulator/catalogue.py`` (the single source): a model is
# batch-enabled when the catalogue says so, and then every token type is 20 % off (BATCH.md §7).
# Retired slugs resolve to grok-4.3, so they take its batch terms (CHANGES.md).

BATCH_DISCOUNT = 0.2


@dataclass(frozen=True)
class BatchModel:
    """What the Batch API needs to know about a model."""

    chat_model: Any  # what answers.build_completion takes: the chat endpoint's resolution
    batch_enabled: bool
    discount: float  # fraction off every token type on the Batch API


def batch_terms(model: str) -> BatchModel | None:
    """Batch terms of ``model``, or None if unknown. Known to the chat endpoint but not
    batch-enabled (grok-3-mini: BATCH.md §7) gives ``batch_enabled=False``."""
    resolution = catalogue.resolve(model)
    if resolution is None:
        return None
    enabled = resolution.model.batch
    return BatchModel(resolution, enabled, BATCH_DISCOUNT if enabled else 0.0)


# --- records --------------------------------------------------------------------------------


@dataclass
class Item:
    """One request of a batch: what was added, its state, and its result once it has one."""

    batch_request_id: str
    request: dict[str, Any]  # {"chat_get_completion": {...}}
    canonical: str  # for "same content?" on a re-add
    model: str
    created: float  # emulated clock
    ready_at: float
    state: str = "pending"  # pending | succeeded | failed | cancelled
    finished: float | None = None
    result: dict[str, Any] | None = None  # the batch_result object
    lands_after_cancel: bool = False  # in flight when cancelled: its answer still lands


@dataclass
class Batch:
    batch_id: str
    name: str
    created: float  # emulated clock
    key_id: str
    items: dict[str, Item] = field(default_factory=dict)
    cancel_time: float | None = None
    _due: list[tuple[float, int, str]] = field(default_factory=list)  # (ready_at, n, id) heap
    _sorted: list[str] = field(default_factory=list)
    _sorted_stale: bool = False

    def add(self, item: Item) -> None:
        self.items[item.batch_request_id] = item
        heapq.heappush(self._due, (item.ready_at, len(self.items), item.batch_request_id))
        self._sorted_stale = True

    def make_due(self, now: float) -> None:
        """Every pending request becomes due at ``now`` (a test control)."""
        for item in self.items.values():
            if item.state == "pending":
                item.ready_at = now
                self.add(item)  # re-queued at its new time; the old entry is a no-op

    def expire(self, now: float) -> None:
        """Make the batch older than its 30 days (a test control)."""
        self.created = now - EXPIRY_SECONDS - 1

    def sorted_ids(self) -> list[str]:
        """Request ids in lexicographic order, the order xAI returns results in (live)."""
        if self._sorted_stale:
            self._sorted = sorted(self.items)
            self._sorted_stale = False
        return self._sorted

    def due(self, now: float) -> list[Item]:
        """Pop every request whose processing time has come."""
        ready = []
        while self._due and self._due[0][0] <= now:
            ready.append(self.items[heapq.heappop(self._due)[2]])
        return ready

    def counters(self) -> dict[str, int]:
        counts = {"pending": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
        for item in self.items.values():
            counts[item.state] += 1
        return {
            "num_requests": len(self.items),
            "num_pending": counts["pending"],
            "num_success": counts["succeeded"],
            "num_error": counts["failed"],
            "num_cancelled": counts["cancelled"],
        }


def canonical(request: Any) -> str:
    return json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def new_batch_id() -> str:
    return f"batch_{uuid.uuid4()}"


def new_request_id() -> str:
    return f"batch_request_{uuid.uuid4()}"


def key_id(token: str) -> str:
    """A stable uuid-shaped id per API key (``create_api_key_id``); never the key itself."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "xai-defer-emulator-key:" + token))


class Dates:
    """Emulated clock -> the date-only strings REST renders (``YYYY-MM-DD``, BATCH.md §1)."""

    def __init__(self) -> None:
        self._epoch = time.time()

    def render(self, emulated: float | None) -> str | None:
        if emulated is None:
            return None
        moment = datetime.fromtimestamp(self._epoch, timezone.utc) + timedelta(seconds=emulated)
        return moment.strftime("%Y-%m-%d")


def batch_body(batch: Batch, dates: Dates) -> dict[str, Any]:
    """The Batch object (BATCH.md §3; examples/batch_get_response.json)."""
    return {
        "batch_id": batch.batch_id,
        "name": batch.name,
        "create_time": dates.render(batch.created),
        "expire_time": dates.render(batch.created + EXPIRY_SECONDS),
        "create_api_key_id": batch.key_id,
        "cancel_time": dates.render(batch.cancel_time),
        "cancel_by_xai_message": None,
        "state": batch.counters(),
    }


def metadata_body(item: Item, dates: Dates) -> dict[str, Any]:
    """One row of ``GET .../requests`` (examples/batch_requests_page.json)."""
    return {
        "batch_request_id": item.batch_request_id,
        "endpoint": ENDPOINT,
        "model": item.model,
        "state": item.state,
        "create_time": dates.render(item.created),
        "finish_time": dates.render(item.finished),
    }


# --- processing -----------------------------------------------------------------------------


def execution_error(chat: dict[str, Any]) -> str | None:
    """Why a request that was admitted fails when it runs (BATCH.md §4.1), or None.

    Failures are results, not HTTP errors: the text becomes ``batch_result.error``."""
    for name in ("max_tokens", "max_completion_tokens"):
        value = chat.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value <= 0:
            return f"Maximum number of tokens {name} must be positive but {name} = {value}"
    problem = check_request_shape(chat)
    if problem:
        return f"Failed to deserialize the request: {problem}"
    if not chat["messages"]:
        return "At least one message is required."
    if chat.get("search_parameters") is not None:
        return "Live search is deprecated. Please switch to the Agent Tools API."
    resolution = catalogue.resolve(str(chat.get("model")))
    problem = image_problem(chat["messages"], resolution) if resolution is not None else None
    if problem:
        return problem
    fail = answers.parse_directives(answers.user_text(chat["messages"])).fail
    if fail is not None:
        return f"Emulated failure requested by [[fail={fail}]]."
    return None


def execute(item: Item, now: float) -> None:
    """Run one due request: a chat.completion at the batch price, or an error string."""
    chat = item.request[CHAT_KEY]
    item.finished = now
    model = batch_terms(str(chat.get("model")))
    problem = execution_error(chat)
    if problem is not None or model is None:
        item.state, item.result = "failed", {"error": problem or "Model is not available."}
        return
    completion = answers.build_completion(
        str(uuid.uuid4()),
        model.chat_model,
        chat["messages"],
        created=int(time.time()),
        max_tokens=chat.get("max_completion_tokens") or chat.get("max_tokens"),
        reasoning_effort=chat.get("reasoning_effort"),
    )
    usage = completion.get("usage")
    ticks = usage.get("cost_in_usd_ticks") if isinstance(usage, dict) else None
    if isinstance(usage, dict) and isinstance(ticks, int):  # the chat price, less the discount
        usage["cost_in_usd_ticks"] = round(ticks * (1.0 - model.discount))
    item.state, item.result = "succeeded", {"response": {CHAT_KEY: completion}}


def settle(batch: Batch, now: float) -> None:
    """Bring a batch up to ``now``: due requests run; in-flight ones land even after a cancel
    (the live race of BATCH.md §2.7: counters are not monotonic)."""
    for item in batch.due(now):
        if item.state == "pending" or item.lands_after_cancel:
            item.lands_after_cancel = False
            execute(item, item.ready_at)


def cancel(batch: Batch, now: float, grace: float) -> None:
    """Pending requests become cancelled; finished ones stay; those due within ``grace``
    emulated seconds are "in flight": cancelled now, their answer lands when due."""
    if batch.cancel_time is None:
        batch.cancel_time = now
    for item in batch.items.values():
        if item.state != "pending":
            continue
        item.lands_after_cancel = item.ready_at <= now + grace
        item.state, item.finished = "cancelled", now
        item.result = {"error": CANCELLED_TEXT}

