"""The model catalogue: xAI's example bodies parsed, the emulator's bodies checked against the
spec, costs from prices (answers without ticks, and before sending), and ``%grok_models``.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
from IPython.core.error import UsageError

import xai_defer_magic
from tests.support import FAKE_KEY, XAI_DATA
from xai_defer_magic.core.catalogue import Catalogue, parse_catalogue, parse_model, redirect_note
from xai_defer_magic.core.completion import parse_completion
from xai_defer_magic.core.pricing import (
    Tokenizer,
    estimate_request_cost,
    local_token_estimate,
    usage_cost_usd,
)
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.errors import GrokDeferError
from xai_defer_magic.http.catalogue import CatalogueCache
from xai_defer_magic.journal import JobRecord
from xai_defer_magic.loop import LoopThread
from xai_defer_magic.views.models import html_table, text_table

EXAMPLES = XAI_DATA / "batch" / "examples"
SPEC = json.loads((XAI_DATA / "openapi.json").read_text(encoding="utf-8"))


def example(name: str) -> Any:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    )


# --- xAI's example bodies ------------------------------------------------------------------------


def test_language_models_example_parses_with_prices_per_million() -> None:
    catalogue = parse_catalogue(example("language_models_response.json"))
    latest, reasoning = catalogue.models
    assert latest.id == "latest" and latest.aliases == ("grok-4.3-latest",)
    assert latest.input_modalities == ("text", "image") and latest.output_modalities == ("text",)
    assert (latest.input_usd_per_m, latest.cached_input_usd_per_m, latest.output_usd_per_m) == (
        1.25, 0.20, 2.50)  # 12500 / 2000 / 25000 in 1e-10 USD per token
    assert latest.long_context_threshold is None  # 0 on the wire: no long-context tier
    assert latest.prices(10**6) == (1.25, 0.20, 2.50)
    assert reasoning.id == "grok-420-reasoning" and reasoning.aliases == ()
    assert reasoning.long_context_threshold == 128000
    assert reasoning.prices(127_999) == (2.0, 0.20, 8.0)
    assert reasoning.prices(128_000) == (4.0, 0.20, 16.0)  # cached long-context 0: standard
    assert catalogue.find("grok-4.3-latest") is latest and catalogue.find("grok-4") is None


def test_models_list_example_parses_including_a_model_without_token_prices() -> None:
    catalogue = parse_catalogue(example("models_list_response_with_pricing.json"))
    assert [m.id for m in catalogue] == ["latest", "grok-420-reasoning", "grok-imagine-image"]
    latest, reasoning, image = catalogue.models
    assert latest.context_length == 131072 and latest.output_usd_per_m == 2.50
    assert reasoning.long_context_threshold == 128000
    assert reasoning.long_context_output_usd_per_m == 16.0
    assert image.input_usd_per_m is None and image.output_usd_per_m is None
    assert "–" in text_table(catalogue, default="latest")  # no price is shown as a dash


def test_single_model_and_old_spec_examples_parse() -> None:
    one = parse_model(example("language_model_get_response.json"))
    assert one is not None and one.aliases == ("grok-4", "grok-4-latest")
    assert (one.input_usd_per_m, one.cached_input_usd_per_m, one.output_usd_per_m) == (
        2.0, 0.0, 10.0)
    old = parse_catalogue(example("language_models_response_old_openapi.json"))
    grok3 = old.find("grok-3-beta")
    assert grok3 is not None and grok3.id == "grok-3"
    assert (grok3.input_usd_per_m, grok3.output_usd_per_m) == (3.0, 15.0)  # BATCH.md §10 check
    with pytest.raises(ValueError):
        parse_catalogue({"object": "list"})


def test_redirect_wording() -> None:
    catalogue = parse_catalogue({"models": [
        {"id": "grok-4.3", "aliases": ["grok-4.3-latest"], "prompt_text_token_price": 12500,
         "cached_prompt_text_token_price": 2000, "completion_text_token_price": 25000},
    ]})
    note = redirect_note("grok-4", "grok-4.3", catalogue)
    assert note == ("grok-4 is retired: xAI redirected it to grok-4.3, billed at grok-4.3's "
                    "price: $1.25 input, $0.20 cached, $2.50 output per 1M tokens.")
    assert redirect_note("grok-4.3-latest", "grok-4.3", catalogue) is None  # an alias
    assert redirect_note("grok-4.3", "grok-4.3", catalogue) is None
    assert "grok-4.3" in (redirect_note("grok-4", "grok-4.3", None) or "")


# --- the emulator's catalogue ----------------------------------------------------------------


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(latency=0.0) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers={"Authorization": f"Bearer {FAKE_KEY}"},
                      timeout=10) as c:
        yield c


def test_emulator_catalogue_bodies_validate_against_openapi(client: httpx.Client) -> None:
    listed = client.get("/language-models")
    assert listed.status_code == 200
    checks = [("ListLanguageModelsResponse", listed.json())]
    for name in ("grok-4.3", "grok-4.3-latest", "grok-3-mini", "grok-4.20-non-reasoning"):
        one = client.get(f"/language-models/{name}")
        assert one.status_code == 200, name
        checks.append(("LanguageModel", one.json()))
    models = client.get("/models")
    checks += [("ListModelsResponse", models.json()),
               ("Model", client.get("/models/grok-4.3").json())]
    request = example("tokenize_text_request.json")
    assert not list(validator("TokenizeRequest").iter_errors(request))
    tokens = client.post("/tokenize-text", json={**request, "model": "grok-4.3"})  # not "latest"
    checks.append(("TokenizeResponse", tokens.json()))
    for schema, body in checks:
        assert not [e.message for e in validator(schema).iter_errors(body)], (schema, body)
    assert [t["string_token"] for t in tokens.json()["token_ids"]] == [
        t["string_token"] for t in example("tokenize_text_response.json")["token_ids"]]
    assert client.get("/language-models/grok-4.3-latest").json()["id"] == "grok-4.3"


def test_emulator_lineup_and_prices(client: httpx.Client) -> None:
    catalogue = parse_catalogue(client.get("/language-models").json())
    assert [m.id for m in catalogue] == [
        "grok-4.3", "grok-4.20-0309-reasoning", "grok-4.20-0309-non-reasoning",
        "grok-4.20-multi-agent-0309", "grok-3-mini"]
    grok = catalogue.find("grok-4.3")
    assert grok is not None
    assert grok.prices(199_999) == (1.25, 0.20, 2.50) and grok.prices(200_000) == (2.5, 0.4, 5.0)
    mini = catalogue.find("grok-3-mini-latest")
    assert mini is not None and (mini.input_usd_per_m, mini.output_usd_per_m) == (0.30, 0.50)
    listed = parse_catalogue(client.get("/models").json()).find("grok-4.3")
    assert listed is not None and listed.prices(0) == grok.prices(0)  # the same prices
    assert listed.context_length == 1_000_000
    for name in ("grok-4", "grok-beta"):  # retired slugs answer chats but are not listed
        missing = client.get(f"/language-models/{name}")
        assert missing.status_code == 404 and set(missing.json()) == {"code", "error"}
    assert client.post("/tokenize-text", json={"model": "grok-beta", "text": "x"}).status_code \
        == 404
    assert httpx.get(client.base_url.join("/v1/language-models")).status_code == 401  # no key


# --- costs -----------------------------------------------------------------------------------


def chat_body(client: httpx.Client, model: str, prompt: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/chat/completions", json={
        "model": model, "messages": [{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": prompt}], **extra})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_estimated_cost_equals_the_price_formula(client: httpx.Client) -> None:
    catalogue = parse_catalogue(client.get("/language-models").json())
    body = chat_body(client, "grok-4", "Price this answer, please.")
    billed = body["usage"].pop("cost_in_usd_ticks") / 1e10
    completion = parse_completion(body)
    assert completion.usage.cost_usd is None
    u = completion.usage
    assert u.prompt_tokens and u.cached_tokens and u.completion_tokens and u.reasoning_tokens
    formula = ((u.prompt_tokens - u.cached_tokens) * 1.25 + u.cached_tokens * 0.20
               + (u.completion_tokens + u.reasoning_tokens) * 2.50) / 1e6
    model = catalogue.find(completion.model)
    assert model is not None and model.id == "grok-4.3"
    assert usage_cost_usd(u, model) == pytest.approx(formula)
    assert formula == pytest.approx(billed)  # the emulator bills by the same prices


def test_long_context_tier_applies_to_the_whole_request() -> None:
    from xai_defer_magic.core.completion import Usage

    model = parse_catalogue({"models": [{
        "id": "m", "prompt_text_token_price": 12500, "cached_prompt_text_token_price": 2000,
        "completion_text_token_price": 25000, "prompt_text_token_price_long_context": 25000,
        "cached_prompt_text_token_price_long_context": 4000,
        "completion_text_token_price_long_context": 50000, "long_context_threshold": 200000,
    }]}).models[0]
    long = Usage(prompt_tokens=200_000, cached_tokens=50_000, completion_tokens=1000,
                 reasoning_tokens=500)
    assert usage_cost_usd(long, model) == pytest.approx(
        (150_000 * 2.5 + 50_000 * 0.4 + 1500 * 5.0) / 1e6)
    short = Usage(prompt_tokens=199_999, cached_tokens=0, completion_tokens=10)
    assert usage_cost_usd(short, model) == pytest.approx((199_999 * 1.25 + 10 * 2.5) / 1e6)


def test_pre_send_estimate_counts_with_the_server_and_caches(
    emu: Emulator, client: httpx.Client
) -> None:
    loop = LoopThread("test-catalogue")
    try:
        cache = CatalogueCache(loop, lambda: FAKE_KEY, lambda: emu.base_url, lambda: 10.0)
        catalogue, tokenizer = cache.get(), cache.tokenizer()
        request = {"model": "grok-4.3", "max_completion_tokens": 400, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Estimate the cost of this prompt before sending."}]}
        emu.reset_counters()
        estimate = estimate_request_cost(request, catalogue, tokenizer)
        assert estimate is not None and estimate.prompt_tokens_exact
        assert len([r for r in emu.requests() if r.path == "/v1/tokenize-text"]) == 2
        again = estimate_request_cost(request, catalogue, tokenizer)
        assert again == estimate
        assert len([r for r in emu.requests() if r.path == "/v1/tokenize-text"]) == 2  # cached
        sent = client.post("/chat/completions", json=request).json()
        assert estimate.prompt_tokens == sent["usage"]["prompt_tokens"]
        assert estimate.input_usd == pytest.approx(estimate.prompt_tokens * 1.25 / 1e6)
        assert estimate.output_usd == pytest.approx(400 * 2.50 / 1e6)
        assert estimate.total_usd == pytest.approx(estimate.input_usd + 400 * 2.50 / 1e6)
        retired = estimate_request_cost({**request, "model": "grok-4"}, catalogue, tokenizer)
        assert retired is not None and retired.priced_as == "grok-4.20-0309-reasoning"  # dearest
    finally:
        loop.stop()


def test_tokenizer_falls_back_to_a_local_estimate() -> None:
    calls: list[str] = []

    def unavailable(text: str, model: str) -> int:
        calls.append(text)
        raise ConnectionError("no route")

    tokenizer = Tokenizer(unavailable)
    text = "x" * 41
    first, second = tokenizer.count(text, "grok-4.3"), tokenizer.count(text + "y", "grok-4.3")
    assert (first.tokens, first.exact) == (math.ceil(41 / 4), False) == (11, False)
    assert second.tokens == local_token_estimate(text + "y") == 11
    assert calls == [text]  # after one failure it rests instead of asking for every text
    catalogue = Catalogue(())
    assert estimate_request_cost({"model": "m", "messages": []}, catalogue, tokenizer) is None


def test_an_answer_without_ticks_is_priced_and_marked_estimated(
    ip: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    from xai_defer_magic.runtime.runtime import get_runtime

    with httpx.Client(base_url=emulator.base_url,
                      headers={"Authorization": f"Bearer {FAKE_KEY}"}) as client:
        body = chat_body(client, "grok-3-mini", "An old server's answer.")
    usage = body["usage"]
    usage.pop("cost_in_usd_ticks")
    rid = str(uuid.uuid4())
    runtime = get_runtime()
    runtime.journal.add(JobRecord(
        request_id=rid, created_at=time.time() - 5, model="grok-3-mini",
        request={"model": "grok-3-mini", "messages": [{"role": "user", "content": "x"}]},
        base_url=emulator.base_url, status="done", response_text=json.dumps(body),
        finished_at=time.time(),
    ))
    ip.run_line_magic("grok_result", rid)
    shown = capsys.readouterr().out
    job = runtime.get(rid)
    assert job is not None and job.cost_estimated and job.cost_usd is not None
    reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
    cached = usage["prompt_tokens_details"]["cached_tokens"]
    formula = ((usage["prompt_tokens"] - cached) * 0.30 + cached * 0.075
               + (usage["completion_tokens"] + reasoning) * 0.50) / 1e6
    assert job.cost_usd == pytest.approx(formula)
    assert "(estimated)" in shown and "cost $" in shown


# --- %grok_models and models() ----------------------------------------------------------------


def test_grok_models_in_a_terminal_and_as_data(
    ip: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.run_line_magic("grok_models", "")
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["model", "aliases", "input"]
    default = next(line for line in lines if "grok-4.3-latest" in line)
    assert default.startswith("*") and "$1.25" in default and "$0.20" in default
    assert "$2.50" in default and "from 200,000 tokens: $2.50 / $0.40 / $5.00" in default
    assert "text, image" in default
    assert "* = the default, GrokDefer.model = grok-4.3" in lines[-1]
    mini = next(line for line in lines if line.lstrip().startswith("grok-3-mini"))
    assert "$0.30" in mini and "$0.075" in mini and "$0.50" in mini
    models = xai_defer_magic.models()
    assert models[0].id == "grok-4.3" and models[0].aliases == ("grok-4.3-latest",)
    assert models[0].input_usd_per_m == 1.25 and models[0].long_context_threshold == 200000
    gets = [r for r in emulator.requests() if r.path == "/v1/language-models"]
    assert len(gets) == 1, "cached per runtime"
    ip.run_line_magic("grok_models", "--refresh")
    assert len([r for r in emulator.requests() if r.path == "/v1/language-models"]) == 2
    capsys.readouterr()
    ip.run_cell('%config GrokDefer.model = "grok-3-mini-latest"')
    try:
        ip.run_line_magic("grok_models", "")
        marked = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("*")]
        assert len(marked) == 1 and "grok-3-mini" in marked[0]
    finally:
        ip.config.pop("GrokDefer", None)


def test_grok_models_failure_is_one_line(
    ip: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_API_KEY", "xai-wrong-key-for-this-test")
    emulator.api_key = FAKE_KEY
    with pytest.raises(UsageError) as raised:
        ip.run_line_magic("grok_models", "")
    message = str(raised.value)
    assert "\n" not in message and "400" in message and "API key" in message
    emulator.faults.error_5xx_rate = 1.0
    monkeypatch.setenv("XAI_API_KEY", FAKE_KEY)
    with pytest.raises(GrokDeferError) as failed:
        xai_defer_magic.models()
    assert "\n" not in str(failed.value)


def test_html_table_escapes_server_strings() -> None:
    hostile = parse_catalogue({"models": [{
        "id": "<img src=x onerror=alert(1)>", "aliases": ["<script>x</script>"],
        "input_modalities": ["te\x1bxt"], "prompt_text_token_price": 12500,
    }]})
    html = html_table(hostile, default="grok-4.3")
    assert "<img" not in html and "<script>" not in html and "&lt;img" in html
    assert "\x1b" not in text_table(hostile, default="grok-4.3")
    assert "GrokDefer.model = grok-4.3 is not listed" in text_table(hostile, "grok-4.3")

