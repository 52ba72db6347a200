"""The offline emulator speaks xAI's deferred protocol faithfully, over real loopback HTTP.

Other test modules and the benchmarks trust the emulator as a stand-in for api.x.ai, so these
tests pin its wire behaviour to DESIGN §2, the OpenAPI spec and the captured fixtures.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import XAI_DATA
from xai_defer_magic.core.completion import TICKS_PER_USD, parse_completion
from xai_defer_magic.emulator import Emulator, Faults
from xai_defer_magic.emulator.answers import EMULATED_LINE, XSS_SCRIPT

KEY = "xai-test-key-0123456789abcdefyz"
DEFERRED = "/chat/deferred-completion/"


FIXTURES = XAI_DATA / "fixtures"


pytestmark = pytest.mark.emulator(latency=1000.0)


def chat(
    prompt: str = "Summarise deferred completions.",
    model: str = "grok-4.3",
    deferred: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """A well-formed ChatRequest body: each one built here is checked against xAI's spec."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": prompt},
        ],
        **extra,
    }
    if deferred:
        body["deferred"] = True
    errors = [e.message for e in schema_validators()["ChatRequest"].iter_errors(body)]
    assert not errors, (body, errors)
    return body


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=emulator.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    ) as c:
        yield c


def submit(client: httpx.Client, body: dict[str, Any] | None = None) -> str:
    response = client.post("/chat/completions", json=body or chat())
    assert response.status_code == 200, response.text
    return str(response.json()["request_id"])


def fetch(emulator: Emulator, client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """Submit deferred, force completion, and return the 200 body."""
    request_id = submit(client, body)
    emulator.complete(request_id)
    response = client.get(DEFERRED + request_id)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_error(response: httpx.Response, status: int, code: str, *needles: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "error"}
    assert body["code"] == code
    for needle in needles:
        assert needle in body["error"]


# --- the happy path -------------------------------------------------------------------------


def test_deferred_post_returns_only_a_request_id(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json=chat())
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"request_id"}
    assert str(uuid.UUID(body["request_id"])) == body["request_id"]


def test_pending_poll_is_202_with_an_empty_body(emulator: Emulator, client: httpx.Client) -> None:
    request_id = submit(client)
    response = client.get(DEFERRED + request_id)
    assert response.status_code == 202
    assert response.content == b""
    assert response.headers["content-length"] == "0"
    assert "content-type" not in response.headers
    assert emulator.stats()["jobs"]["pending"] == 1


def test_result_is_delivered_exactly_once(emulator: Emulator, client: httpx.Client) -> None:
    request_id = submit(client)
    assert client.get(DEFERRED + request_id).status_code == 202
    emulator.complete(request_id)
    first = client.get(DEFERRED + request_id)
    assert first.status_code == 200
    assert first.json()["id"] == request_id
    assert parse_completion(first.json()).content.startswith(EMULATED_LINE)
    for _ in range(2):
        assert_error(
            client.get(DEFERRED + request_id), 404, "Some requested entity was not found",
            "No deferred completion could be found with the given request_id.",
        )
    assert emulator.get_count(request_id) == 4
    assert emulator.delivered_count(request_id) == 1
    assert emulator.gets_after_delivery(request_id) == 2
    assert emulator.job_ids() == [request_id]


def test_unknown_id_is_404(emulator: Emulator, client: httpx.Client) -> None:
    response = client.get(DEFERRED + str(uuid.uuid4()))
    assert_error(response, 404, "Some requested entity was not found", "No deferred completion")


def test_non_deferred_post_answers_at_once(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json=chat(deferred=False))
    assert response.status_code == 200
    assert response.json()["object"] == "chat.completion"


def test_unknown_route_is_404_no_handler(client: httpx.Client) -> None:
    for response in (client.get("/nope"), client.post("/chat/deferred-completion/x", json={})):
        assert_error(response, 404, "Some requested entity was not found",
                     "No handler found on route")


def test_keep_alive_reuses_one_connection(emulator: Emulator, client: httpx.Client) -> None:
    request_id = submit(client)
    for _ in range(5):
        client.get(DEFERRED + request_id)
    assert emulator.stats()["max_concurrent_connections"] == 1


def test_many_concurrent_jobs_are_each_delivered_once(client: httpx.Client) -> None:
    with Emulator(latency=(0.0, 0.2)) as emulator:
        base = emulator.base_url
        ids: list[str] = []

        def work() -> None:
            with httpx.Client(base_url=base, headers={"Authorization": "Bearer k-123"}) as c:
                request_id = c.post("/chat/completions", json=chat()).json()["request_id"]
                ids.append(request_id)
                while c.get(DEFERRED + request_id).status_code == 202:
                    time.sleep(0.02)
                assert c.get(DEFERRED + request_id).status_code == 404

        threads = [threading.Thread(target=work) for _ in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        stats = emulator.stats()
        assert len(ids) == 40 and stats["jobs"]["delivered"] == 40
        assert all(emulator.delivered_count(i) == 1 for i in ids)
        assert stats["gets_per_id"]["delivered_max"] == 1
        assert stats["max_concurrent_connections"] > 1


# --- time -----------------------------------------------------------------------------------


def test_ttl_expiry_makes_a_result_gone() -> None:
    with Emulator(latency=0.0, ttl=5.0, time_scale=100.0) as emulator, httpx.Client(
        base_url=emulator.base_url, headers={"Authorization": f"Bearer {KEY}"}
    ) as c:
        request_id = submit(c)
        time.sleep(0.1)  # 10 emulated seconds > ttl
        assert c.get(DEFERRED + request_id).status_code == 404
        assert emulator.delivered_count(request_id) == 0
        assert emulator.stats()["jobs"]["expired"] == 1


def test_expire_control(emulator: Emulator, client: httpx.Client) -> None:
    request_id = submit(client)
    emulator.complete(request_id)
    emulator.expire(request_id)
    assert client.get(DEFERRED + request_id).status_code == 404


def test_time_scale_speeds_up_latency() -> None:
    with Emulator(latency=60.0, time_scale=600.0) as emulator, httpx.Client(
        base_url=emulator.base_url, headers={"Authorization": f"Bearer {KEY}"}
    ) as c:
        request_id = submit(c)
        assert c.get(DEFERRED + request_id).status_code == 202
        time.sleep(0.15)  # 90 emulated seconds
        assert c.get(DEFERRED + request_id).status_code == 200


def test_latency_directive_overrides_per_job(emulator: Emulator, client: httpx.Client) -> None:
    quick = submit(client, chat("Hurry [[latency=0]]"))
    slow = submit(client, chat("Take your time [[latency=5]]"))
    emulator.latency = 0.0  # applies to new jobs only
    assert client.get(DEFERRED + quick).status_code == 200
    assert client.get(DEFERRED + slow).status_code == 202
    assert emulator.latency == 0.0


# --- request errors -------------------------------------------------------------------------


def test_missing_or_garbled_authorization_is_401(client: httpx.Client) -> None:
    base = str(client.base_url)
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        with httpx.Client(base_url=base, headers=headers) as c:
            for response in (c.post("/chat/completions", json=chat()), c.get(DEFERRED + "x")):
                assert_error(
                    response, 401, "The request does not have valid authentication credentials",
                    "Request had invalid authentication credentials",
                )


def test_wrong_key_is_400_with_a_masked_key() -> None:
    wrong = "xai-WRONGKEY-abcdefghijklmnopyz"
    with Emulator(api_key=KEY) as emulator:
        with httpx.Client(base_url=emulator.base_url,
                          headers={"Authorization": f"Bearer {wrong}"}) as c:
            response = c.post("/chat/completions", json=chat())
            assert_error(
                response, 400, "Client specified an invalid argument",
                "Incorrect API key provided: xa***yz. You can obtain an API key from "
                "https://console.x.ai.",
            )
            assert wrong not in response.text and "WRONGKEY" not in response.text
            assert c.get(DEFERRED + "x").status_code == 400
        with httpx.Client(base_url=emulator.base_url,
                          headers={"Authorization": f"Bearer {KEY}"}) as c:
            assert c.post("/chat/completions", json=chat()).status_code == 200
        assert all(KEY not in repr(r) for r in emulator.requests())


def test_body_that_is_not_json_is_400(client: httpx.Client) -> None:
    response = client.post("/chat/completions", content=b"{not json",
                           headers={"Content-Type": "application/json"})
    assert_error(response, 400, "Client specified an invalid argument", "JSON")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "missing field `model`"),
        ({"model": "grok-4"}, "missing field `messages`"),
        ({"model": "grok-4", "messages": "hi"}, "messages"),
        ({"model": "grok-4", "messages": [{"role": "robot", "content": "hi"}]}, "robot"),
        ({"model": "grok-4", "messages": [{"content": "hi"}]}, "role"),
        ({"model": "grok-4", "messages": [{"role": "user"}]}, "content"),
        ({"model": "grok-4", "messages": [{"role": "user", "content": "x"}], "temperature": 3},
         "temperature"),
        ({"model": "grok-4", "messages": [{"role": "user", "content": "x"}], "temperature": "1"},
         "temperature"),
        ({"model": "grok-4", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
         "max_tokens"),
        ({"model": "grok-4", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5},
         "max_tokens"),
        ({"model": "grok-4.3", "messages": [{"role": "user", "content": "x"}],
          "max_completion_tokens": 0}, "max_completion_tokens"),
        ([1, 2], "object"),
    ],
)
def test_invalid_body_is_422(client: httpx.Client, body: Any, needle: str) -> None:
    response = client.post("/chat/completions", json=body)
    assert_error(response, 422, "Client specified an invalid argument", needle)


def test_search_parameters_is_410(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json=chat(search_parameters={"mode": "auto"}))
    assert_error(
        response, 410, "The requested resource is no longer available",
        "Live search is deprecated. Please switch to the Agent Tools API: "
        "https://docs.x.ai/docs/guides/tools/overview",
    )


def test_stream_with_deferred_is_400(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json=chat(stream=True))
    assert_error(response, 400, "Client specified an invalid argument", "stream")


def test_reasoning_effort_rules(emulator: Emulator, client: httpx.Client) -> None:
    for effort in ("none", "low", "medium", "high", "xhigh"):
        submit(client, chat(model="grok-4.3", reasoning_effort=effort))
    for effort in ("low", "high"):
        submit(client, chat(model="grok-3-mini", reasoning_effort=effort))
    submit(client, chat(model="grok-4", reasoning_effort="xhigh"))  # served by grok-4.3
    response = client.post("/chat/completions",
                           json=chat(model="grok-4.20-0309-non-reasoning", reasoning_effort="low"))
    assert_error(response, 400, "Client specified an invalid argument",
                 "Model grok-4.20-0309-non-reasoning does not support parameter reasoningEffort.")
    for model, effort in (("grok-3-mini", "xhigh"), ("grok-3-mini", "medium"),
                          ("grok-4.3", "max")):
        bad = client.post("/chat/completions", json=chat(model=model, reasoning_effort=effort))
        assert_error(bad, 400, "Client specified an invalid argument", effort, model)
    low = fetch(emulator, client, chat("Same prompt", model="grok-3-mini", reasoning_effort="low"))
    high = fetch(emulator, client,
                 chat("Same prompt", model="grok-3-mini", reasoning_effort="high"))
    reasoning = [b["usage"]["completion_tokens_details"]["reasoning_tokens"] for b in (low, high)]
    assert reasoning[0] < reasoning[1]
    hidden = [fetch(emulator, client, chat("Same prompt", reasoning_effort=e))["usage"][
        "completion_tokens_details"]["reasoning_tokens"] for e in ("none", "low", "xhigh")]
    assert hidden[0] == 0 < hidden[1] < hidden[2]


def test_unknown_model_is_404(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json=chat(model="grok-beta"))
    assert_error(response, 404, "Some requested entity was not found",
                 "The model grok-beta does not exist or your team")


def test_fail_directive(client: httpx.Client) -> None:
    assert client.post("/chat/completions", json=chat("x [[fail=500]]")).status_code == 500
    limited = client.post("/chat/completions", json=chat("x [[fail=429]]"))
    assert_error(limited, 429, "Some resource has been exhausted", "Rate limit")


# --- answers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "resolved", "has_reasoning_content", "reasons"),
    [
        ("grok-4.3", "grok-4.3", False, True),
        ("grok-4.3-latest", "grok-4.3", False, True),
        ("grok-4", "grok-4.3", False, True),  # retired 2026-05-15: grok-4.3 at low effort
        ("grok-4-0709", "grok-4.3", False, True),
        ("grok-4-1-fast-non-reasoning", "grok-4.3", False, False),  # ... at none
        ("grok-3", "grok-4.3", False, False),
        ("grok-code-fast-1", "grok-4.3", False, True),
        ("grok-4.20-0309-reasoning", "grok-4.20-0309-reasoning", False, True),
        ("grok-4.20-non-reasoning", "grok-4.20-0309-non-reasoning", False, False),
        ("grok-4.20-multi-agent-0309", "grok-4.20-multi-agent-0309", False, True),
        ("grok-3-mini", "grok-3-mini", True, True),
    ],
)
def test_models_usage_and_cost(
    emulator: Emulator, client: httpx.Client, requested: str, resolved: str,
    has_reasoning_content: bool, reasons: bool,
) -> None:
    body = fetch(emulator, client, chat(model=requested))
    assert body["model"] == resolved
    message = body["choices"][0]["message"]
    assert ("reasoning_content" in message) is has_reasoning_content
    if has_reasoning_content:
        assert message["reasoning_content"].startswith("Emulated reasoning:")
        assert message["reasoning_content"].count("\n") >= 3
    usage = body["usage"]
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    assert (reasoning > 0) is reasons
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] + reasoning
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    assert 0 < cached < usage["prompt_tokens"] == usage["prompt_tokens_details"]["text_tokens"]
    listed = client.get(f"/language-models/{resolved}").json()  # prices per token, 1e-10 USD
    expected_ticks = (
        (usage["prompt_tokens"] - cached) * listed["prompt_text_token_price"]
        + cached * listed["cached_prompt_text_token_price"]
        + (usage["completion_tokens"] + reasoning) * listed["completion_text_token_price"]
    )
    assert isinstance(usage["cost_in_usd_ticks"], int)
    assert usage["cost_in_usd_ticks"] == expected_ticks
    parsed = parse_completion(body)
    assert parsed.usage.reasoning_tokens == reasoning
    assert parsed.usage.cost_usd == pytest.approx(expected_ticks / TICKS_PER_USD)
    assert parsed.finish_reason == "stop"


def test_retired_slugs_bill_at_grok_4_3s_price(emulator: Emulator, client: httpx.Client) -> None:
    retired = fetch(emulator, client, chat("Price me", model="grok-4-0709"))
    current = fetch(emulator, client, chat("Price me", model="grok-4.3"))
    assert retired["model"] == current["model"] == "grok-4.3"
    assert retired["usage"] == current["usage"]  # same tokens, same price: the same bill


def test_long_context_tier_prices_the_whole_request(
    emulator: Emulator, client: httpx.Client
) -> None:
    from xai_defer_magic.emulator import catalogue

    model = catalogue.GROK_4_3
    threshold = model.long_context_threshold
    assert catalogue.cost_ticks(model, threshold - 1, 0, 10) == (
        (threshold - 1) * 12500 + 10 * 25000)
    assert catalogue.cost_ticks(model, threshold, 100, 10) == (
        (threshold - 100) * 25000 + 100 * 4000 + 10 * 50000)


def test_answer_is_markdown_and_deterministic(emulator: Emulator, client: httpx.Client) -> None:
    first = fetch(emulator, client, chat("Compare polling strategies"))
    second = fetch(emulator, client, chat("Compare polling strategies"))
    other = fetch(emulator, client, chat("Something else entirely"))
    text = first["choices"][0]["message"]["content"]
    assert text == second["choices"][0]["message"]["content"]
    assert text != other["choices"][0]["message"]["content"]
    assert text.startswith(EMULATED_LINE)
    assert "## Re: “Compare polling strategies”" in text
    assert "\n- " in text and "```python\n" in text and "|---|---|" in text
    assert "<script" not in text


def test_max_tokens_truncates_with_finish_reason_length(
    emulator: Emulator, client: httpx.Client
) -> None:
    for limit in ({"max_completion_tokens": 12}, {"max_tokens": 12}):  # max_tokens: deprecated
        body = fetch(emulator, client, chat(**limit))
        assert body["choices"][0]["finish_reason"] == "length"
        assert 0 < body["usage"]["completion_tokens"] <= 12


def test_xss_marker_puts_hostile_html_in_content_and_reasoning(
    emulator: Emulator, client: httpx.Client
) -> None:
    body = fetch(emulator, client, chat("Render me [[xss]]", model="grok-3-mini"))
    message = body["choices"][0]["message"]
    for text in (message["content"], message["reasoning_content"]):
        for payload in (XSS_SCRIPT, '<img src=x onerror="window.__xss=1">',
                        "[click me](javascript:window.__xss=1)", "<b>bold html</b>"):
            assert payload in text


def test_math_marker_answers_with_the_four_forms_and_currency(
    emulator: Emulator, client: httpx.Client
) -> None:
    body = fetch(emulator, client, chat("A sum [[math]]", model="grok-3-mini"))
    message = body["choices"][0]["message"]
    for form in ("$a_1 + b_2$", "\\(x_i^2\\)", "$$\\int_0^1 x_1\\,dx$$",
                 "\\[ \\sum_{i=1}^{n} i = \\frac{n(n+1)}{2} \\]", "it costs $5 and $10"):
        assert form in message["content"]
    assert "\\(" in message["reasoning_content"]
    assert "__xss" not in message["content"]  # hostile TeX only with [[xss]]
    hostile = fetch(emulator, client, chat("A sum [[math]] [[xss]]"))
    assert "$\\href{javascript:" in hostile["choices"][0]["message"]["content"]
    asked = fetch(emulator, client, chat("The closed form of 1 + … + n, in LaTeX please"))
    assert "\\frac{n(n+1)}{2}" in asked["choices"][0]["message"]["content"]
    plain = fetch(emulator, client, chat("A sum, no formulas"))
    assert "### Math" not in plain["choices"][0]["message"]["content"]


def test_requests_are_recorded_without_the_key(emulator: Emulator, client: httpx.Client) -> None:
    request_id = submit(client)
    client.get(DEFERRED + request_id)
    records = emulator.requests()
    assert [(r.method, r.status, r.request_id) for r in records] == [
        ("POST", 200, request_id), ("GET", 202, request_id)
    ]
    assert records[0].body["model"] == "grok-4.3"
    assert records[0].path == "/v1/chat/completions"
    assert KEY not in repr(records)
    emulator.reset_counters()
    assert emulator.requests() == [] and emulator.stats()["total"] == 0


# --- faults ---------------------------------------------------------------------------------


def test_5xx_rate_one_fails_every_request(emulator: Emulator, client: httpx.Client) -> None:
    emulator.faults.error_5xx_rate = 1.0
    emulator.faults.seed = 7
    responses = [client.post("/chat/completions", json=chat()) for _ in range(20)]
    assert {r.status_code for r in responses} <= {500, 502, 503}
    html = [r for r in responses if r.headers["content-type"].startswith("text/html")]
    assert html and all(r.status_code == 502 and "502 Bad Gateway" in r.text for r in html)
    for r in responses:
        if r.headers["content-type"] == "application/json":
            assert set(r.json()) == {"code", "error"}
    assert emulator.job_ids() == []


def test_drop_rate_one_closes_without_answer(emulator: Emulator, client: httpx.Client) -> None:
    emulator.faults.drop_rate = 1.0
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post("/chat/completions", json=chat())
    assert emulator.stats()["dropped"] == 1


def test_faults_can_target_gets_only(emulator: Emulator, client: httpx.Client) -> None:
    emulator.faults.error_5xx_rate = 1.0
    emulator.faults.faults_apply_to = "get"
    request_id = submit(client)
    assert client.get(DEFERRED + request_id).status_code >= 500
    assert emulator.get_count(request_id) == 1


@pytest.mark.parametrize("retry_after", [1.0, None])
def test_429_bursts(emulator: Emulator, client: httpx.Client, retry_after: float | None) -> None:
    emulator.faults.burst_429_every = 4
    emulator.faults.burst_429_length = 2
    emulator.faults.retry_after = retry_after
    request_id = submit(client)  # request 1
    statuses = [client.get(DEFERRED + request_id) for _ in range(8)]  # requests 2..9
    assert [r.status_code for r in statuses] == [202, 202, 429, 429, 202, 202, 429, 429]
    limited = statuses[2]
    assert_error(limited, 429, "Some resource has been exhausted", "Rate limit exceeded")
    assert "credits" not in limited.text  # must not look like a billing stop
    assert limited.headers.get("retry-after") == (None if retry_after is None else "1")


@pytest.mark.parametrize("status", [429, 403])
def test_billing_exhausted_bodies(emulator: Emulator, client: httpx.Client, status: int) -> None:
    emulator.faults.billing_exhausted = True
    emulator.faults.billing_status = status
    response = client.post("/chat/completions", json=chat())
    assert response.status_code == status
    body = response.json()
    name = f"error_{status}_credits_exhausted_body.json"
    fixture = json.loads((FIXTURES / name).read_text())
    assert body["code"] == fixture["code"]
    tail = fixture["error"].split(" has either", 1)[1]
    assert body["error"].endswith(tail)
    assert "used all available credits" in body["error"]
    assert client.get(DEFERRED + "x").status_code == status


def test_slow_fault_delays_the_answer(emulator: Emulator, client: httpx.Client) -> None:
    emulator.faults.slow_rate = 1.0
    emulator.faults.slow_seconds = 0.2
    started = time.monotonic()
    assert client.post("/chat/completions", json=chat()).status_code == 200
    assert time.monotonic() - started >= 0.2


# --- admin ----------------------------------------------------------------------------------


def test_admin_endpoints(emulator: Emulator, client: httpx.Client) -> None:
    admin = httpx.Client(base_url=emulator.base_url.removesuffix("/v1"))  # no auth needed
    config = admin.post("/_emulator/config", json={"latency": [0, 0], "drop_rate": 0.0,
                                                   "retry_after": None, "time_scale": 2})
    assert config.status_code == 200
    assert config.json()["latency"] == 0.0 and config.json()["time_scale"] == 2
    assert emulator.faults.retry_after is None
    request_id = submit(client)
    assert client.get(DEFERRED + request_id).status_code == 200
    stats = admin.get("/_emulator/stats").json()
    assert stats["ids"][request_id] == {"gets": 1, "delivered": 1, "gets_after_delivery": 0}
    assert stats["by_method_status"] == {"GET 200": 1, "POST 200": 1}
    bad = admin.post("/_emulator/config", json={"drop_rate": 2})
    assert bad.status_code == 400 and emulator.faults.drop_rate == 0.0
    assert admin.post("/_emulator/config", json={"nope": 1}).status_code == 400
    admin.post("/_emulator/config", json={"latency": 1000})
    pending = submit(client)
    assert admin.post(f"/_emulator/complete/{pending}").status_code == 200
    assert client.get(DEFERRED + pending).status_code == 200
    assert admin.post("/_emulator/complete/unknown").status_code == 404
    assert admin.post("/_emulator/reset", json={"jobs": True}).status_code == 200
    assert admin.get("/_emulator/stats").json()["total"] == 0
    assert emulator.job_ids() == []
    admin.close()


# --- the CLI --------------------------------------------------------------------------------


def test_cli_prints_base_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "url"
    env = {**os.environ, "XAI_EMULATOR_KEY": KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "xai_defer_magic.emulator", "--latency", "0",
         "--port-file", str(port_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("XAI_BASE_URL=http://127.0.0.1:") and line.endswith("/v1")
        base_url = line.split("=", 1)[1]
        assert port_file.read_text().strip() == base_url
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {KEY}"}) as c:
            request_id = submit(c)
            assert c.get(DEFERRED + request_id).status_code == 200
        with httpx.Client(base_url=base_url, headers={"Authorization": "Bearer other"}) as c:
            assert c.post("/chat/completions", json=chat()).status_code == 400
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_refuses_non_loopback_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "xai_defer_magic.emulator", "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr and result.stdout == ""


def test_emulator_refuses_non_loopback_host() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Emulator(host="0.0.0.0")


def test_stop_is_idempotent() -> None:
    emulator = Emulator().start()
    url = emulator.base_url
    emulator.stop()
    emulator.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/chat/completions")


# --- the OpenAPI spec -----------------------------------------------------------------------


@functools.cache
def schema_validators() -> dict[str, Any]:
    """Validators for xAI's request and response schemas (built once; read-only)."""
    import jsonschema

    spec = json.loads((XAI_DATA / "openapi.json").read_text())
    names = ("ChatRequest", "ChatResponse", "StartDeferredChatResponse")
    return {
        name: jsonschema.Draft202012Validator(
            {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        )
        for name in names
    }


@pytest.fixture
def validators() -> dict[str, Any]:
    return schema_validators()


CASES: list[tuple[str, dict[str, Any]]] = [
    ("Plain", {}), ("Short [[xss]]", {"max_completion_tokens": 5}), ("Old", {"max_tokens": 5}),
]


def test_bodies_validate_against_openapi(validators: dict[str, Any]) -> None:
    bodies: list[tuple[str, Any]] = []
    with Emulator(latency=0.0) as emulator, httpx.Client(
        base_url=emulator.base_url, headers={"Authorization": f"Bearer {KEY}"}
    ) as c:
        for model in ("grok-4.3", "grok-3-mini", "grok-4", "grok-3", "grok-4.20-0309-reasoning",
                      "grok-4.20-0309-non-reasoning", "grok-4.20-multi-agent-0309"):
            for prompt, extra in CASES:
                started = c.post("/chat/completions", json=chat(prompt, model=model, **extra))
                bodies.append(("StartDeferredChatResponse", started.json()))
                got = c.get(DEFERRED + started.json()["request_id"])
                assert got.status_code == 200
                bodies.append(("ChatResponse", got.json()))
            direct = c.post("/chat/completions", json=chat(model=model, deferred=False))
            bodies.append(("ChatResponse", direct.json()))
    for name, body in bodies:
        errors = [e.message for e in validators[name].iter_errors(body)]
        assert not errors, (name, errors)
        if name == "ChatResponse":
            parse_completion(body)


def test_request_bodies_sent_by_these_tests_validate(validators: dict[str, Any]) -> None:
    """chat() checks each body it builds; the check itself must catch a malformed one."""
    body = chat("a well-formed one")
    assert not list(validators["ChatRequest"].iter_errors(body))
    broken = {**body, "messages": "not a list"}
    assert list(validators["ChatRequest"].iter_errors(broken)), "the validator accepts anything"


def test_faults_dataclass_defaults_are_off() -> None:
    faults = Faults()
    assert (faults.error_5xx_rate, faults.drop_rate, faults.slow_rate) == (0.0, 0.0, 0.0)
    assert faults.burst_429_every == 0 and not faults.billing_exhausted
    faults.validate()
