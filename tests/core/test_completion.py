"""``parse_completion`` on every real body in tests/xai/fixtures, and on the broken ones.

Bodies differ across API generations; a parser that rejects an old or new shape would turn a
fetched-once answer into a lost one, so every documented shape must parse.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import XAI_DATA
from xai_defer_magic.core.completion import (
    TICKS_PER_USD,
    Usage,
    parse_completion,
    parse_completion_text,
)
from xai_defer_magic.errors import MalformedResponse

FIXTURES = XAI_DATA / "fixtures"
BODIES = sorted(p.name for p in FIXTURES.glob("*.json") if not p.name.startswith("error_"))


def load(name: str) -> dict[str, Any]:
    value = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert isinstance(value, dict)
    return value


def test_fixture_set_is_the_expected_one() -> None:
    assert len(BODIES) == 5, BODIES


@pytest.mark.parametrize("name", BODIES)
def test_every_fixture_parses(name: str) -> None:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    completion = parse_completion_text(text)
    body = json.loads(text)
    assert completion.content == body["choices"][0]["message"]["content"] and completion.content
    assert completion.finish_reason == "stop"
    assert completion.model == body["model"]
    assert completion.raw == body
    assert completion.usage.prompt_tokens == body["usage"]["prompt_tokens"]
    assert completion.usage.total_tokens == body["usage"]["total_tokens"]
    assert completion.usage.cached_tokens is not None
    assert completion.reasoning_content is None  # none of the captures carries a trace


@pytest.mark.parametrize(
    ("name", "reasoning", "cached", "model"),
    [
        ("chat_completion_200_real_grok4.json", 250, 679, "grok-4-0709"),
        ("deferred_get_200_docs_guide_grok4.json", 304, 4, "grok-4"),
    ],
)
def test_grok4_reports_reasoning_tokens_without_reasoning_content(
    name: str, reasoning: int, cached: int, model: str
) -> None:
    completion = parse_completion(load(name))
    assert completion.reasoning_content is None
    assert completion.usage.reasoning_tokens == reasoning
    assert completion.usage.cached_tokens == cached
    assert completion.model == model
    usage = completion.usage
    assert usage.prompt_tokens is not None and usage.completion_tokens is not None
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens + reasoning


def test_old_top_level_reasoning_tokens_accepted() -> None:
    body = load("deferred_get_200_olddocs_grok3beta.json")
    assert "completion_tokens_details" not in body["usage"]
    assert parse_completion(body).usage.reasoning_tokens == 0
    body["usage"]["reasoning_tokens"] = 17
    assert parse_completion(body).usage.reasoning_tokens == 17


def test_nested_reasoning_tokens_win_over_top_level() -> None:
    usage = Usage.from_dict({"reasoning_tokens": 1,
                             "completion_tokens_details": {"reasoning_tokens": 9}})
    assert usage.reasoning_tokens == 9


def test_cached_tokens() -> None:
    completion = parse_completion(load("chat_completion_200_real_grok3.json"))
    assert completion.usage.cached_tokens == 5
    assert completion.usage.reasoning_tokens == 0
    assert completion.usage.completion_tokens == 4


def test_cost_in_usd_ticks_is_converted_to_usd() -> None:
    assert TICKS_PER_USD == 10_000_000_000
    body = load("deferred_get_200_docs_guide_grok4.json")
    body["usage"]["cost_in_usd_ticks"] = 37_450_000  # 0.003745 USD
    assert parse_completion(body).usage.cost_usd == pytest.approx(0.003745)
    body["usage"]["cost_in_usd_ticks"] = 25 * TICKS_PER_USD
    assert parse_completion(body).usage.cost_usd == pytest.approx(25.0)
    body["usage"]["cost_in_usd_ticks"] = 0
    assert parse_completion(body).usage.cost_usd == 0.0


@pytest.mark.parametrize("name", BODIES)
def test_absent_cost_is_none(name: str) -> None:
    assert parse_completion(load(name)).usage.cost_usd is None


@pytest.mark.parametrize("ticks", ["123", True, None, 1.5, [1]])
def test_unusable_cost_is_none(ticks: Any) -> None:
    body = load("chat_completion_200_real_grok3.json")
    body["usage"]["cost_in_usd_ticks"] = ticks
    assert parse_completion(body).usage.cost_usd is None


def test_reasoning_content_and_citations_are_kept() -> None:
    body = load("chat_completion_200_real_grok3.json")
    body["choices"][0]["message"]["reasoning_content"] = "First, think."
    body["citations"] = ["https://x.ai", 3, None]
    completion = parse_completion(body)
    assert completion.reasoning_content == "First, think."
    assert completion.citations == ["https://x.ai"]


def test_missing_usage_parses_with_empty_usage() -> None:
    body = load("chat_completion_200_real_grok3.json")
    del body["usage"]
    assert parse_completion(body).usage == Usage()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"choices": []},
        {"choices": None},
        {"choices": ["text"]},
        {"choices": [{"index": 0}]},
        {"choices": [{"message": "hi"}]},
        [],
        "a string",
        None,
    ],
)
def test_missing_choices_or_message_is_malformed(body: Any) -> None:
    with pytest.raises(MalformedResponse) as raised:
        parse_completion(body)
    assert raised.value.final


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<html>\n<body>\n<h1>502 Bad Gateway</h1>\n</body>\n</html>\n",
        '{"choices": [',
        "not json at all\nsecond line\n" + "x" * 500,
    ],
)
def test_non_json_is_malformed_with_one_line(text: str) -> None:
    with pytest.raises(MalformedResponse) as raised:
        parse_completion_text(text)
    message = str(raised.value)
    assert "\n" not in message and "not JSON" in message
    assert len(message) < 200
