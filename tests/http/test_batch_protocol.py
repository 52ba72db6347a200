"""The Batch API client against the emulator over loopback: chunks, retries, pages, errors."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from tests.support import FAKE_KEY, XAI_DATA
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.errors import InsecureTransport, InvalidRequest, PermissionDenied
from xai_defer_magic.http.batch import (
    BatchClient,
    BatchModelNotSupported,
    chunk,
    parse_batch,
    parse_result,
)

KEY = FAKE_KEY
EXAMPLES = XAI_DATA / "batch" / "examples"
T = TypeVar("T")


pytestmark = pytest.mark.emulator(latency=1000.0)


def body(i: int, model: str = "grok-4.3", extra: str = "") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": f"q{i} {extra}"}],
            "deferred": True}


def items(n: int, extra: str = "[[latency=0]]", model: str = "grok-4.3"
          ) -> list[tuple[str, dict[str, Any]]]:
    return [(f"g-{i:05d}", body(i, model, extra)) for i in range(n)]


def run(emulator: Emulator, action: Callable[[BatchClient], Awaitable[T]], **kwargs: Any) -> T:
    async def main() -> T:
        async with httpx.AsyncClient(timeout=10) as http:
            return await action(BatchClient(http, emulator.base_url, KEY, **kwargs))

    return asyncio.run(main())


def posts_to(emulator: Emulator, suffix: str) -> list[Any]:
    return [r for r in emulator.requests() if r.method == "POST" and r.path.endswith(suffix)]


def test_create_get_list_cancel_round_trip(emulator: Emulator) -> None:
    async def action(client: BatchClient) -> Any:
        made = await client.create_batch("cell 3 at 10:00")
        got = await client.get_batch(made.batch_id)
        listed, token = await client.list_batches()
        cancelled = await client.cancel_batch(made.batch_id)
        return made, got, listed, token, cancelled

    made, got, listed, token, cancelled = run(emulator, action)
    assert made.name == "cell 3 at 10:00" and made.batch_id.startswith("batch_")
    assert got == made and not got.done and not got.cancelled
    assert [b.batch_id for b in listed] == [made.batch_id] and token is None
    assert cancelled.cancelled and cancelled.cancel_time == time.strftime("%Y-%m-%d", time.gmtime())


def test_adds_are_chunked_by_count_and_by_size(emulator: Emulator) -> None:
    emulator.batches.max_items_per_add = 1000
    many = items(2500)

    async def action(client: BatchClient) -> Any:
        batch = await client.create_batch("chunks")
        calls = await client.add_requests(batch.batch_id, many)
        return calls, await client.get_batch(batch.batch_id)

    calls, info = run(emulator, action)
    assert calls == 3 and info.num_requests == 2500
    sizes = [len(r.body["batch_requests"]) for r in posts_to(emulator, "/requests")]
    assert sizes == [1000, 1000, 500]
    sent = posts_to(emulator, "/requests")[0].body["batch_requests"][0]
    assert sent == {"batch_request_id": "g-00000", "batch_request": {"chat_get_completion": {
        "model": "grok-4.3", "messages": [{"role": "user", "content": "q0 [[latency=0]]"}]}}}
    emulator.reset_counters()
    emulator.batches.max_add_bytes = 4000  # the server enforces the limit the client chunks to

    async def small(client: BatchClient) -> int:
        batch = await client.create_batch("by size")
        return await client.add_requests(batch.batch_id, items(100))

    calls = run(emulator, small, max_bytes=4000)
    raw_sizes = [len(json.dumps(r.body).encode()) for r in posts_to(emulator, "/requests")]
    assert calls == len(raw_sizes) > 1 and max(raw_sizes) <= 4000
    assert sum(len(r.body["batch_requests"]) for r in posts_to(emulator, "/requests")) == 100


def test_a_request_over_the_size_limit_is_refused_with_nothing_sent(emulator: Emulator) -> None:
    batch_id = run(emulator, lambda c: c.create_batch("x")).batch_id
    huge = [*items(3), ("huge", body(9, extra="word " * 2000))]
    with pytest.raises(InvalidRequest, match=r"huge is .* bytes: over the 5000-byte limit"):
        run(emulator, lambda c: c.add_requests(batch_id, huge), max_bytes=5000)
    assert posts_to(emulator, "/requests") == []
    assert list(chunk(items(3), 2, 10_000)) and len(chunk(items(3), 2, 10_000)) == 2


def test_429_on_adds_is_honoured_and_re_adds_are_idempotent(emulator: Emulator) -> None:
    emulator.batches.add_calls_per_window, emulator.batches.add_window = 1, 0.6
    batch_id = run(emulator, lambda c: c.create_batch("rate")).batch_id
    started = time.monotonic()
    calls = run(emulator, lambda c: c.add_requests(batch_id, items(30)), max_items=10)
    elapsed = time.monotonic() - started
    statuses = [r.status for r in posts_to(emulator, "/requests")]
    assert calls == 3 and statuses.count(200) == 3 and 429 in statuses
    assert elapsed >= 1.0  # two waits of about 0.6 s each, as Retry-After said
    run(emulator, lambda c: c.add_requests(batch_id, items(30)), max_items=30)  # a restart re-adds
    assert run(emulator, lambda c: c.get_batch(batch_id)).num_requests == 30


def test_dropped_connections_on_adds_are_retried(emulator: Emulator) -> None:
    batch_id = run(emulator, lambda c: c.create_batch("drops")).batch_id
    emulator.configure({"drop_rate": 0.5, "faults_apply_to": "post", "seed": 7})
    run(emulator, lambda c: c.add_requests(batch_id, items(50)), max_items=5, attempts=12,
        retry_base=0.01)
    emulator.configure({"drop_rate": 0.0})
    statuses = [r.status for r in posts_to(emulator, "/requests")]
    assert 0 in statuses and statuses.count(200) == 10
    assert run(emulator, lambda c: c.get_batch(batch_id)).num_requests == 50


def test_results_are_paged_until_the_token_runs_out(emulator: Emulator) -> None:
    async def action(client: BatchClient) -> Any:
        batch = await client.create_batch("pages")
        await client.add_requests(batch.batch_id, items(25))
        return [r async for r in client.iter_results(batch.batch_id, limit=7)]

    results = run(emulator, action)
    assert [r.batch_request_id for r in results] == [f"g-{i:05d}" for i in range(25)]
    assert all(r.completion and r.error is None for r in results)
    assert all(isinstance(r.cost_in_usd_ticks, int) and r.cost_in_usd_ticks > 0 for r in results)
    gets = [r for r in emulator.requests() if r.path.endswith("/results")]
    assert len(gets) == 4  # 7 + 7 + 7 + 4
    assert json.loads(results[0].raw_text)["batch_request_id"] == "g-00000"


def test_per_item_failures_become_one_line_errors(emulator: Emulator) -> None:
    async def action(client: BatchClient) -> Any:
        batch = await client.create_batch("errors")
        await client.add_requests(batch.batch_id, [
            ("neg", {**body(1, extra="[[latency=0]]"), "max_tokens": -5}),
            ("fail", body(2, extra="[[latency=0]] [[fail=500]]")),
        ])
        return [r async for r in client.iter_results(batch.batch_id)]

    fail, neg = run(emulator, action)  # sorted by id
    assert neg.error == "Maximum number of tokens max_tokens must be positive but max_tokens = -5"
    assert fail.error == "Emulated failure requested by [[fail=500]]." and fail.completion is None
    shapes = [
        {"batch_request_id": "a", "batch_result": {"error": "Batch cancelled"}},
        {"batch_request_id": "b", "batch_result": {"error": {"code": "invalid_request",
                                                              "message": "bad\nthing"}}},
        {"batch_request_id": "c", "error_message": "Failed to download the image"},
        {"batch_request_id": "d", "batch_result": {"error_message": "Top level? no, nested"}},
        {"batch_request_id": "e", "batch_result": {}},
    ]
    parsed = [parse_result(s) for s in shapes]
    assert [p.error for p in parsed] == [
        "Batch cancelled", "invalid_request: bad thing", "Failed to download the image",
        "Top level? no, nested", "The batch result has neither a response nor an error."]
    assert parsed[0].cancelled and not parsed[1].cancelled
    for name in ("batch_results_page.json", "batch_results_error_lines_live.json"):
        for row in json.loads((EXAMPLES / name).read_text())["results"]:
            assert parse_result(row).batch_request_id == row["batch_request_id"]


def test_a_model_that_is_not_batch_enabled_is_one_clear_line(emulator: Emulator) -> None:
    batch_id = run(emulator, lambda c: c.create_batch("no")).batch_id
    with pytest.raises(BatchModelNotSupported) as caught:
        run(emulator, lambda c: c.add_requests(batch_id, items(3, model="grok-3-mini")))
    message = str(caught.value)
    assert "\n" not in message and message.startswith(
        "Model grok-3-mini is not supported for batch processing. This model is not batch-enabled")
    assert caught.value.status == 400
    assert len(posts_to(emulator, "/requests")) == 1  # a 400 is final: not retried


def test_add_after_cancel_and_transport_checks(emulator: Emulator) -> None:
    batch_id = run(emulator, lambda c: c.create_batch("c")).batch_id
    run(emulator, lambda c: c.cancel_batch(batch_id))
    with pytest.raises(PermissionDenied, match="cancelled batch"):
        run(emulator, lambda c: c.add_requests(batch_id, items(1)))
    with pytest.raises(InsecureTransport):
        BatchClient(httpx.AsyncClient(), "http://api.example.com/v1", KEY)
    assert KEY not in repr(BatchClient(httpx.AsyncClient(), emulator.base_url, KEY))


def test_batch_objects_parse_from_the_examples() -> None:
    live = parse_batch(json.loads(
        (EXAMPLES / "batch_get_response_live_filebased_completed.json").read_text()))
    assert live.done and live.num_success == 8 and live.expire_time == "2026-09-27"
    cancelled = parse_batch(json.loads((EXAMPLES / "batch_cancel_response.json").read_text()))
    assert cancelled.cancelled and cancelled.num_finished == 1
    rfc = parse_batch({"batch_id": "batch_1", "name": "n", "create_time": "2026-08-28T10:00:00Z",
                       "state": {"num_requests": 2, "num_pending": 2}})
    assert rfc.create_time == "2026-08-28T10:00:00Z" and not rfc.done and rfc.num_success == 0
