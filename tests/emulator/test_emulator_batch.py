"""The emulator's Batch API, over real loopback HTTP, pinned to BATCH.md and its examples.

The batch client, engine and benchmarks trust this as a stand-in for api.x.ai's Batch API, so
every body is validated against the reconstructed spec (tests/xai/batch/openapi-batches.json)
and compared key by key with xAI's example bodies (tests/xai/batch/examples/).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import XAI_DATA
from xai_defer_magic.emulator import Emulator, Faults

KEY = "xai-test-key-0123456789abcdefyz"
BATCH_DATA = XAI_DATA / "batch"
EXAMPLES = BATCH_DATA / "examples"
# Which schema each example body is an instance of.
EXAMPLE_SCHEMAS = {
    "batch_create_request.json": "CreateBatchRequest",
    "batch_add_requests_request.json": "AddBatchRequestsRequest",
    "batch_add_requests_request_guide_mixed.json": "AddBatchRequestsRequest",
    "batch_create_response.json": "Batch",
    "batch_get_response.json": "Batch",
    "batch_get_response_live_filebased_completed.json": "Batch",
    "batch_cancel_response.json": "Batch",
    "batch_list_response.json": "ListBatchesResponse",
    "batch_requests_page.json": "ListBatchRequestMetadataResponse",
    "batch_results_page.json": "ListBatchResultsResponse",
    "batch_results_error_lines_live.json": "ListBatchResultsResponse",
    "error_400_bad_api_key_batch_live.json": "Error",
}


pytestmark = pytest.mark.emulator(latency=1000.0)


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text())


def chat(prompt: str = "What is 101*3?", model: str = "grok-4.3", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], **extra}


def entry(rid: str | None, body: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {"batch_request": {"chat_get_completion": body}}
    if rid is not None:
        item["batch_request_id"] = rid
    return item


@pytest.fixture(scope="module")
def validators() -> dict[str, Any]:
    import jsonschema

    spec = json.loads((BATCH_DATA / "openapi-batches.json").read_text())
    return {
        name: jsonschema.Draft202012Validator(
            {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        )
        for name in spec["components"]["schemas"]
    }


def check(validators: dict[str, Any], schema: str, body: Any) -> None:
    errors = [e.message for e in validators[schema].iter_errors(body)]
    assert not errors, (schema, errors, body)


@pytest.fixture
def api(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, headers={"Authorization": f"Bearer {KEY}"},
                      timeout=10) as client:
        yield client


def create(api: httpx.Client, name: str = "My New Batch") -> str:
    response = api.post("/batches", json={"name": name})
    assert response.status_code == 200, response.text
    return str(response.json()["batch_id"])


def add(api: httpx.Client, batch_id: str, *entries: dict[str, Any]) -> httpx.Response:
    return api.post(f"/batches/{batch_id}/requests", json={"batch_requests": list(entries)})


def state(api: httpx.Client, batch_id: str) -> dict[str, int]:
    response = api.get(f"/batches/{batch_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["state"])


def all_results(api: httpx.Client, batch_id: str, limit: int = 1000) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if token:
            params["pagination_token"] = token
        page = api.get(f"/batches/{batch_id}/results", params=params).json()
        rows += page["results"]
        token = page["pagination_token"]
        if not token:
            return rows


# --- the examples and the emulator's bodies -------------------------------------------------


def test_every_example_validates_against_the_reconstructed_spec(validators: dict[str, Any]) -> None:
    for name, schema in EXAMPLE_SCHEMAS.items():
        check(validators, schema, example(name))
    batch_examples = {p.name for p in EXAMPLES.glob("*batch*.json")}
    assert set(EXAMPLE_SCHEMAS) == batch_examples - {"batch_state_guide_poll_snippet.json"}


def same_keys(ours: Any, theirs: Any, where: str = "$") -> None:
    """Our body has the example's keys (recursively, first list items) and JSON types."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        missing = set(theirs) - set(ours)
        assert not missing, (where, missing)
        for key in theirs:
            if theirs[key] is not None and ours[key] is not None:
                same_keys(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list) and theirs and ours:
        same_keys(ours[0], theirs[0], f"{where}[0]")
    elif theirs is not None:
        assert type(ours) is type(theirs), (where, ours, theirs)


def test_emulator_bodies_match_the_examples_and_the_spec(
    emulator: Emulator, api: httpx.Client, validators: dict[str, Any]
) -> None:
    created = api.post("/batches", json=example("batch_create_request.json")).json()
    same_keys(created, example("batch_create_response.json"))
    assert created["batch_id"].startswith("batch_")
    assert created["create_time"] == time.strftime("%Y-%m-%d", time.gmtime())
    batch_id = created["batch_id"]
    response = api.post(f"/batches/{batch_id}/requests",
                        json=example("batch_add_requests_request.json"))  # the docs' own body
    assert response.status_code == 200 and response.json() == {}
    emulator.batches.complete(batch_id)
    bodies = {
        "Batch": api.get(f"/batches/{batch_id}").json(),
        "ListBatchesResponse": api.get("/batches").json(),
        "ListBatchRequestMetadataResponse": api.get(f"/batches/{batch_id}/requests").json(),
        "ListBatchResultsResponse": api.get(f"/batches/{batch_id}/results").json(),
    }
    bodies_cancel = api.post(f"/batches/{batch_id}:cancel").json()
    for schema, body in [*bodies.items(), ("Batch", created), ("Batch", bodies_cancel)]:
        check(validators, schema, body)
    same_keys(bodies["Batch"], example("batch_get_response.json"))
    same_keys(bodies["ListBatchesResponse"], example("batch_list_response.json"))
    same_keys(bodies["ListBatchRequestMetadataResponse"], example("batch_requests_page.json"))
    same_keys(bodies["ListBatchResultsResponse"], example("batch_results_page.json"))
    same_keys(bodies_cancel, example("batch_cancel_response.json"))
    assert bodies_cancel["state"] == {"num_requests": 1, "num_pending": 0, "num_success": 1,
                                      "num_error": 0, "num_cancelled": 0}
    meta = bodies["ListBatchRequestMetadataResponse"]["batch_request_metadata"][0]
    assert (meta["batch_request_id"], meta["state"]) == ("test_request_0", "succeeded")
    assert meta["endpoint"] == "xai_api.Chat/GetCompletion"
    created_day = bodies["Batch"]["create_time"]
    expires = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
    assert bodies["Batch"]["expire_time"] == expires and created_day != expires


def test_error_bodies_use_the_envelope(api: httpx.Client, validators: dict[str, Any]) -> None:
    missing = api.get("/batches/batch_nope")
    assert missing.status_code == 404
    check(validators, "Error", missing.json())
    assert "Cannot find batch" in missing.json()["error"]
    assert api.post("/batches/batch_nope/cancel").status_code == 404  # the colon is literal
    with Emulator(api_key=KEY) as strict:
        wrong = httpx.post(strict.base_url + "/batches", json={"name": "x"},
                           headers={"Authorization": "Bearer xai-wrong-key-zzzzzzzzzzz"})
        same_keys(wrong.json(), example("error_400_bad_api_key_batch_live.json"))
        assert wrong.status_code == 400 and "Incorrect API key" in wrong.json()["error"]
        assert httpx.get(strict.base_url + "/batches").status_code == 401


# --- states, processing time, paging ----------------------------------------------------------


def test_processing_time_follows_latency_and_time_scale() -> None:
    with Emulator(latency=20.0, time_scale=100.0) as emulator, httpx.Client(
        base_url=emulator.base_url, headers={"Authorization": f"Bearer {KEY}"}
    ) as client:
        batch_id = create(client)
        assert add(client, batch_id, entry("a", chat()), entry("b", chat("x [[latency=0]]"))
                   ).status_code == 200
        first = state(client, batch_id)
        assert (first["num_pending"], first["num_success"]) == (1, 1)  # the directive wins
        assert [r["batch_request_id"] for r in all_results(client, batch_id)] == ["b"]
        time.sleep(0.3)  # 30 emulated seconds
        assert state(client, batch_id) == {"num_requests": 2, "num_pending": 0,
                                           "num_success": 2, "num_error": 0, "num_cancelled": 0}


def test_results_are_sorted_paged_and_re_readable(emulator: Emulator, api: httpx.Client) -> None:
    batch_id = create(api)
    ids = [f"item-{i:02d}" for i in range(25)]
    assert add(api, batch_id, *[entry(i, chat(f"q {i} [[latency=0]]")) for i in reversed(ids)]
               ).status_code == 200
    pages = []
    token = None
    while True:
        params: dict[str, Any] = {"limit": 10, **({"pagination_token": token} if token else {})}
        page = api.get(f"/batches/{batch_id}/results", params=params).json()
        pages.append([r["batch_request_id"] for r in page["results"]])
        token = page["pagination_token"]
        if not token:
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for page in pages for i in page] == ids  # sorted by id, not by order of adding
    again = [r["batch_request_id"] for r in all_results(api, batch_id, limit=7)]
    assert again == ids  # reading does not consume
    alias = api.get(f"/batches/{batch_id}/results", params={"page_size": 3}).json()
    assert len(alias["results"]) == 3
    assert len(api.get(f"/batches/{batch_id}/results").json()["results"]) == 25  # default 100
    capped = api.get(f"/batches/{batch_id}/requests", params={"limit": 5000}).json()
    assert len(capped["batch_request_metadata"]) == 25
    bad = api.get(f"/batches/{batch_id}/results", params={"pagination_token": "!!"})
    assert bad.status_code == 400
    assert api.get(f"/batches/{batch_id}/results", params={"limit": 0}).status_code == 400


def test_results_stay_readable_for_30_days_only(emulator: Emulator, api: httpx.Client) -> None:
    batch_id = create(api)
    add(api, batch_id, entry("a", chat("[[latency=0]]")))
    assert len(all_results(api, batch_id)) == 1
    emulator.batches.expire(batch_id)
    assert api.get(f"/batches/{batch_id}").status_code == 404
    assert api.get(f"/batches/{batch_id}/results").status_code == 404


def test_list_pages_through_the_team_batches(api: httpx.Client) -> None:
    made = {create(api, f"b{i}") for i in range(5)}
    seen: list[str] = []
    token = None
    while True:
        page = api.get("/batches", params={"limit": 2, **({"pagination_token": token}
                                                         if token else {})}).json()
        seen += [b["batch_id"] for b in page["batches"]]
        token = page["pagination_token"]
        if not token:
            break
    assert sorted(seen) == sorted(made) and len(seen) == 5


# --- adds: atomic, idempotent, limited ----------------------------------------------------------


def test_re_adding_the_same_id_is_idempotent_and_different_content_is_412(
    emulator: Emulator, api: httpx.Client
) -> None:
    batch_id = create(api)
    assert add(api, batch_id, entry("text-1", chat("one")), entry("text-2", chat("two"))
               ).status_code == 200
    assert add(api, batch_id, entry("text-1", chat("one"))).status_code == 200
    assert state(api, batch_id)["num_requests"] == 2
    changed = add(api, batch_id, entry("text-3", chat("three")), entry("text-1", chat("ONE")))
    assert changed.status_code == 412
    assert changed.json()["error"] == (
        "batch_request_id 'text-1' content differs from originally submitted")
    assert state(api, batch_id)["num_requests"] == 2  # atomic: text-3 was not admitted either
    generated = add(api, batch_id, entry(None, chat("no id")))
    assert generated.status_code == 200
    ids = set(emulator.batches.items(batch_id))
    assert len(ids) == 3 and any(i.startswith("batch_request_") for i in ids)


def test_a_model_that_is_not_batch_enabled_rejects_the_whole_call(api: httpx.Client) -> None:
    batch_id = create(api)
    refused = add(api, batch_id, entry("ok", chat()), entry("no", chat(model="grok-3-mini")))
    assert refused.status_code == 400
    assert refused.json() == {"code": "Client specified an invalid argument",
                              "error": "Model grok-3-mini is not supported for batch processing."}
    assert state(api, batch_id)["num_requests"] == 0
    unknown = add(api, batch_id, entry("x", chat(model="grok-nonexistent")))
    assert unknown.status_code == 400
    for model in ("grok-4.3", "grok-4.20-0309-reasoning", "grok-4.20-0309-non-reasoning",
                  "grok-4.20-multi-agent-0309", "grok-4"):
        assert add(api, batch_id, entry(model, chat(model=model))).status_code == 200, model


def test_chunk_limits_and_the_add_call_rate_limit(emulator: Emulator, api: httpx.Client) -> None:
    batch_id = create(api)
    emulator.batches.add_calls_per_window, emulator.batches.add_window = 2, 30.0
    assert add(api, batch_id, entry("a", chat())).status_code == 200
    assert add(api, batch_id, entry("b", chat())).status_code == 200
    limited = add(api, batch_id, entry("c", chat()))
    assert limited.status_code == 429
    assert 0 < float(limited.headers["Retry-After"]) <= 30
    assert limited.json()["code"] == "Some resource has been exhausted"
    assert state(api, batch_id)["num_requests"] == 2
    emulator.batches.add_calls_per_window = 1000
    emulator.batches.max_items_per_add = 3
    too_many = add(api, batch_id, *[entry(f"r{i}", chat()) for i in range(4)])
    assert too_many.status_code == 400 and "At most 3" in too_many.json()["error"]
    emulator.batches.max_add_bytes = 2000
    too_big = add(api, batch_id, entry("big", chat("word " * 500)))
    assert too_big.status_code == 413
    assert state(api, batch_id)["num_requests"] == 2


def test_add_after_cancel_is_403(api: httpx.Client) -> None:
    batch_id = create(api)
    api.post(f"/batches/{batch_id}:cancel")
    refused = add(api, batch_id, entry("late", chat()))
    assert refused.status_code == 403
    assert refused.json()["code"] == (
        "The caller does not have permission to execute the specified operation")


# --- cancel and its race, per-item errors, cost ---------------------------------------------------


def test_cancel_keeps_done_results_and_cancels_the_rest(
    emulator: Emulator, api: httpx.Client, validators: dict[str, Any]
) -> None:
    batch_id = create(api)
    now = chat("[[latency=0]]")
    add(api, batch_id, entry("done-1", now), entry("done-2", now), entry("slow-1", chat()),
        entry("slow-2", chat()))
    cancelled = api.post(f"/batches/{batch_id}:cancel").json()
    assert cancelled["cancel_time"] is not None
    assert cancelled["state"] == {"num_requests": 4, "num_pending": 0, "num_success": 2,
                                  "num_error": 0, "num_cancelled": 2}
    rows = {r["batch_request_id"]: r["batch_result"] for r in all_results(api, batch_id)}
    assert rows["slow-1"] == rows["slow-2"] == {"error": "Batch cancelled"}
    assert "chat_get_completion" in rows["done-1"]["response"]
    again = api.post(f"/batches/{batch_id}:cancel").json()  # twice: unchanged
    assert again["state"] == cancelled["state"] and again["cancel_time"] == cancelled["cancel_time"]
    check(validators, "ListBatchResultsResponse",
          api.get(f"/batches/{batch_id}/results").json())


def test_work_in_flight_at_cancel_still_lands(api: httpx.Client) -> None:
    """The live race (BATCH.md §2.7): cancelled at once, an answer a moment later."""
    with Emulator(latency=1000.0, time_scale=10.0) as emulator, httpx.Client(
        base_url=emulator.base_url, headers={"Authorization": f"Bearer {KEY}"}
    ) as client:
        emulator.batches.cancel_grace = 5.0
        batch_id = create(client)
        add(client, batch_id, entry("in-flight", chat("[[latency=2]]")), entry("queued", chat()))
        at_cancel = client.post(f"/batches/{batch_id}:cancel").json()["state"]
        assert (at_cancel["num_cancelled"], at_cancel["num_success"]) == (2, 0)
        time.sleep(0.4)  # 4 emulated seconds: the in-flight one is due
        later = state(client, batch_id)
        assert (later["num_cancelled"], later["num_success"]) == (1, 1)  # not monotonic
        rows = {r["batch_request_id"]: r["batch_result"] for r in all_results(client, batch_id)}
        assert "response" in rows["in-flight"] and rows["queued"] == {"error": "Batch cancelled"}


def test_per_item_failures_are_bare_error_strings(
    api: httpx.Client, emulator: Emulator, validators: dict[str, Any]
) -> None:
    batch_id = create(api)
    add(api, batch_id, entry("mixed_003", chat("[[latency=0]]", max_tokens=-5)),
        entry("failing", chat("[[latency=0]] [[fail=500]]")),
        entry("no-messages", {"model": "grok-4.3", "messages": [], "max_tokens": 4}),
        entry("fine", chat("[[latency=0]]")))
    emulator.batches.complete(batch_id)
    page = api.get(f"/batches/{batch_id}/results").json()
    check(validators, "ListBatchResultsResponse", page)
    rows = {r["batch_request_id"]: r["batch_result"] for r in page["results"]}
    live = example("batch_results_error_lines_live.json")["results"][0]["batch_result"]
    assert rows["mixed_003"] == live  # the live capture's exact text
    assert rows["failing"] == {"error": "Emulated failure requested by [[fail=500]]."}
    assert rows["no-messages"] == {"error": "At least one message is required."}
    assert set(rows["fine"]) == {"response"}
    assert state(api, batch_id) == {"num_requests": 4, "num_pending": 0, "num_success": 1,
                                    "num_error": 3, "num_cancelled": 0}


def usage_of(row: dict[str, Any]) -> dict[str, Any]:
    return dict(row["batch_result"]["response"]["chat_get_completion"]["usage"])


def test_cost_is_charged_at_the_batch_price(emulator: Emulator, api: httpx.Client) -> None:
    batch_id = create(api)
    body = chat("Price this request please [[latency=0]]", model="grok-4")
    add(api, batch_id, entry("retired-slug", body),
        entry("g43", chat("Price this one [[latency=0]]")))
    rows = {r["batch_request_id"]: r for r in all_results(api, batch_id)}
    direct = api.post("/chat/completions", json=body).json()["usage"]  # the real-time price
    batch = usage_of(rows["retired-slug"])
    assert batch["prompt_tokens"] == direct["prompt_tokens"]
    assert abs(batch["cost_in_usd_ticks"] - 0.8 * direct["cost_in_usd_ticks"]) <= 1
    g43 = usage_of(rows["g43"])
    output = g43["completion_tokens"] + g43["completion_tokens_details"]["reasoning_tokens"]
    full_usd = (g43["prompt_tokens"] * 1.25 + output * 2.50) / 1e6  # grok-4.3's price list
    assert g43["cost_in_usd_ticks"] == round(full_usd * 0.8 * 1e10)


# --- faults -----------------------------------------------------------------------------------


def test_faults_apply_to_the_batch_endpoints(emulator: Emulator, api: httpx.Client) -> None:
    batch_id = create(api)
    emulator.configure({"error_5xx_rate": 1.0, "faults_apply_to": "get"})
    assert api.get(f"/batches/{batch_id}").status_code in (500, 502, 503)
    assert add(api, batch_id, entry("a", chat())).status_code == 200  # posts untouched
    emulator.configure({"error_5xx_rate": 0.0, "drop_rate": 1.0})
    with pytest.raises(httpx.TransportError):
        api.get(f"/batches/{batch_id}/results")
    emulator.configure({"drop_rate": 0.0, "faults_apply_to": "post", "burst_429_every": 1,
                   "burst_429_length": 1, "retry_after": 2.5})
    limited = add(api, batch_id, entry("b", chat()))
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2.5"
    methods = [(r.method, r.path, r.status) for r in emulator.requests()]
    assert ("POST", f"/v1/batches/{batch_id}/requests", 429) in methods
    assert ("GET", f"/v1/batches/{batch_id}/results", 0) in methods  # recorded as dropped
    emulator.reset(faults=True)
    assert emulator.faults == Faults()
    assert state(api, batch_id)["num_requests"] == 1
