"""Runs one xAI batch end to end, durably: create, journal, add, poll, page results, resume.

The order of steps is what makes a crash harmless. Every ``batch_request_id`` (and the batch's
name) is journaled before the create, and the batch id right after it and before the first
add; so a restarted process finds the same batch (by id, or by its unique name if it died
between the create and the save) and re-adds only idempotently: no second batch, no duplicate
request. Results are read page by page while the batch runs and each is journaled as it
arrives, so whatever shows them can fill in progressively; a result already journaled is not
asked for again. Polling follows :class:`PollSchedule` (first soon, then a tenth of the batch's
age, at most one GET per 10 s by default): batches run minutes to hours.

Independent of any UI or group class: a caller supplies ``(batch_request_id, chat body)`` pairs,
a :class:`BatchStorage` and callbacks, and runs :meth:`BatchEngine.run` on its loop thread.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from xai_defer_magic.core.schedule import PollSchedule
from xai_defer_magic.errors import GrokDeferError, PermissionDenied
from xai_defer_magic.http.batch import (
    CANCELLED_TEXT,
    BatchClient,
    BatchInfo,
    BatchResult,
    parse_result,
)
from xai_defer_magic.journal.batches import SavedBatch
from xai_defer_magic.loop import within

BATCH_SCHEDULE = PollSchedule(first=1.0, growth=0.1, cap=10.0, jitter=0.1)
# Result pages are re-read from the start (xAI sorts them by id, so new ones land anywhere in
# the order), which makes each read cost up to a full page: read at most every quarter of the
# batch's age, capped at 30 s, and at once when the batch is finished or cancelled.
RESULTS_SCHEDULE = PollSchedule(first=1.0, growth=0.25, cap=30.0, jitter=0.0)
NAME_PREFIX = "xai_defer_magic"


class BatchStorage(Protocol):
    """Where a batch run is journaled; every method commits before it returns."""

    def saved_batch(self) -> SavedBatch | None: ...

    def begin(self, name: str, batch_request_ids: Sequence[str]) -> None: ...

    def save_batch_id(self, batch_id: str) -> None: ...

    def save_adds_done(self) -> None: ...

    def save_result(self, batch_request_id: str, raw_text: str) -> None: ...

    def saved_results(self) -> dict[str, str]: ...


@runtime_checkable
class QueuingStorage(Protocol):
    """A storage that may queue writes (its file locked by another process) says when they
    are durable: the create waits for the journaled ids, the first add for the batch id."""

    async def saved(self) -> None: ...


@dataclass
class EngineSettings:
    schedule: PollSchedule = BATCH_SCHEDULE
    results_schedule: PollSchedule = RESULTS_SCHEDULE
    page_limit: int = 1000
    max_transient_failures: int = 8  # consecutive failed polls before giving up (resumable)
    rng: random.Random = field(default_factory=random.Random)


def batch_name(group_id: str, cell: str | None = None, when: float | None = None) -> str:
    """A name that says which cell and when, and is unique (the group id) so a run that died
    between the create and journaling the id can find its batch again."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(time.time() if when is None else when))
    where = f" cell {cell}" if cell else ""
    return f"{NAME_PREFIX}{where} at {stamp} [{group_id}]"


class BatchEngine:
    """One batch run; ``run()`` returns every item's result in input order."""

    def __init__(
        self,
        client: BatchClient,
        storage: BatchStorage,
        items: Sequence[tuple[str, dict[str, Any]]],
        *,
        name: str,
        settings: EngineSettings | None = None,
        on_result: Callable[[int, BatchResult], None] | None = None,
        on_state: Callable[[BatchInfo], None] | None = None,
        on_added: Callable[[str], None] | None = None,
    ) -> None:
        ids = [rid for rid, _ in items]
        if len(set(ids)) != len(ids):
            raise ValueError("batch_request_ids must be unique within a batch")
        self.client = client
        self.storage = storage
        self.items = list(items)
        self.name = name
        self.settings = settings or EngineSettings()
        self.batch_id: str | None = None
        self.info: BatchInfo | None = None
        self._index = {rid: i for i, rid in enumerate(ids)}
        self._results: dict[str, BatchResult] = {}
        self._on_result = on_result
        self._on_state = on_state
        self._on_added = on_added
        self._cancel_requested = False
        self._wake: asyncio.Event | None = None

    # --- the run ---------------------------------------------------------------------------

    async def run(self) -> list[BatchResult | None]:
        """Create or resume, add, poll until every request is finished; results in order.

        Items never added (cancelled before their chunk went out) are None."""
        self._wake = asyncio.Event()
        for rid, text in self.storage.saved_results().items():
            if rid in self._index:
                self._keep(parse_result_text(text), notify=True)
        saved = self.storage.saved_batch()
        if saved is None:
            self.storage.begin(self.name, [rid for rid, _ in self.items])
            await self._saved()
        else:
            self.name = saved.name
            self.batch_id = saved.batch_id or await self._find_by_name(saved.name)
        if self._cancel_requested and self.batch_id is None:
            return self._ordered()
        if self.batch_id is None:
            info = await self.client.create_batch(self.name)
            self.batch_id = info.batch_id
            self.storage.save_batch_id(self.batch_id)
            await self._saved()
            if self._cancel_requested:  # cancel() came while the create was on the wire
                self.info = await self.client.cancel_batch(self.batch_id)
        if saved is None or not saved.adds_done:
            await self._add_all()
        await self._poll_until_done()
        return self._ordered()

    async def cancel(self) -> BatchInfo | None:
        """Cancel the batch (``:cancel``): finished results stay, the rest become cancelled;
        ``run()`` stops adding, reads what is left and returns. Call it on the loop thread
        (e.g. ``loop.run(engine.cancel())``)."""
        self._cancel_requested = True
        if self._wake is not None:
            self._wake.set()
        if self.batch_id is None:
            return None
        self.info = await self.client.cancel_batch(self.batch_id)
        return self.info

    async def _add_all(self) -> None:
        assert self.batch_id is not None
        todo = [(rid, body) for rid, body in self.items if rid not in self._results]
        if todo and not self._cancel_requested:
            try:
                await self.client.add_requests(
                    self.batch_id, todo, should_stop=lambda: self._cancel_requested
                )
            except PermissionDenied:
                if not self._cancel_requested:
                    raise  # a 403 we did not cause
                # else: a chunk was on the wire when cancel() went out: xAI refused it (403)
        if not self._cancel_requested:
            self.storage.save_adds_done()
            if self._on_added is not None:
                self._on_added(self.batch_id)

    async def _poll_until_done(self) -> None:
        assert self.batch_id is not None and self._wake is not None
        schedule = self.settings.schedule
        started = time.monotonic()
        delay = schedule.first
        next_read = started
        failures = 0
        while True:
            await self._sleep(delay)
            now = time.monotonic()
            delay = schedule.next_delay(now - started, self.settings.rng)
            try:
                info = await self.client.get_batch(self.batch_id)
                self._state(info)
                settled = info.num_pending == 0 or info.cancelled or self._cancel_requested
                new = info.num_finished > len(self._results)
                if (new and (settled or now >= next_read)) or self._cancel_requested:
                    await self._read_results(info)
                    age = time.monotonic() - started
                    next_read = time.monotonic() + self.settings.results_schedule.next_delay(age)
                failures = 0
            except GrokDeferError as exc:
                failures += 1
                if exc.final or failures >= self.settings.max_transient_failures:
                    raise
                continue
            if self._finished(info):
                return

    def _finished(self, info: BatchInfo) -> bool:
        expected = len(self.items)
        if self._cancel_requested or info.cancelled:
            return info.num_pending == 0 and len(self._results) >= info.num_finished
        return (info.num_pending == 0 and info.num_requests >= expected
                and len(self._results) >= expected)

    async def _read_results(self, info: BatchInfo) -> None:
        """Page through results until every finished request is journaled."""
        assert self.batch_id is not None
        token: str | None = None
        while True:
            page = await self.client.results_page(self.batch_id, self.settings.page_limit, token)
            for result in page.results:
                self._keep(result, notify=True, save=True)
            token = page.pagination_token
            have_all = len(self._results) >= info.num_finished
            if not token or not page.results or (have_all and not info.cancelled):
                return

    def _keep(self, result: BatchResult, *, notify: bool, save: bool = False) -> None:
        """Journal a new result (or a late answer over a "Batch cancelled" placeholder)."""
        index = self._index.get(result.batch_request_id)
        if index is None:
            return  # not one of ours
        known = self._results.get(result.batch_request_id)
        if known is not None and (not known.cancelled or result.cancelled):
            return
        if save:
            self.storage.save_result(result.batch_request_id, result.raw_text)
        self._results[result.batch_request_id] = result
        if notify and self._on_result is not None:
            self._on_result(index, result)

    def _state(self, info: BatchInfo) -> None:
        self.info = info
        if self._on_state is not None:
            self._on_state(info)

    async def _sleep(self, delay: float) -> None:
        assert self._wake is not None
        if self._wake.is_set():
            self._wake.clear()
            return
        try:
            await within(delay, self._wake.wait())
            self._wake.clear()
        except asyncio.TimeoutError:
            pass

    async def _find_by_name(self, name: str) -> str | None:
        """The batch a crashed run created but did not journal, found by its unique name."""
        token: str | None = None
        while True:
            batches, token = await self.client.list_batches(100, token)
            for info in batches:
                if info.name == name:
                    self.storage.save_batch_id(info.batch_id)
                    return info.batch_id
            if not token or not batches:
                return None

    async def _saved(self) -> None:
        if isinstance(self.storage, QueuingStorage):
            await self.storage.saved()

    def _ordered(self) -> list[BatchResult | None]:
        return [self._results.get(rid) for rid, _ in self.items]


def parse_result_text(text: str) -> BatchResult:
    """A journaled result row back into a :class:`BatchResult`."""
    try:
        row = json.loads(text)
    except ValueError:
        row = {"batch_request_id": "", "batch_result": {"error": "unreadable journal row"}}
    return parse_result(row)


__all__ = [
    "BATCH_SCHEDULE",
    "CANCELLED_TEXT",
    "BatchEngine",
    "BatchStorage",
    "EngineSettings",
    "SavedBatch",
    "batch_name",
]
