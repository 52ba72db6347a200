"""``RequestOptions``: built once from ``defer()`` keywords (or a magic line, see
``tests/magics/test_options_from_line.py``), valid by construction, frozen, and filled from
``%config GrokDefer.*`` in one place."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from xai_defer_magic.core.options import DEFAULT_OPTIONS, RequestOptions
from xai_defer_magic.core.request import build_request
from xai_defer_magic.core.structured import Schema
from xai_defer_magic.errors import InvalidArgument

SCHEMA = {"title": "Answer", "type": "object", "properties": {"a": {"type": "string"}}}


@dataclass
class Defaults:
    model: str = "grok-4.3"
    timeout: float | None = None
    max_cost_usd: float | None = None
    reuse: bool = True


def test_keywords_are_checked_and_normalised() -> None:
    options = RequestOptions(model=" grok-3-mini ", temperature="0.5", max_tokens="20",
                             timeout="3", max_cost="1.5", schema=SCHEMA, fresh=1)  # type: ignore[arg-type]
    assert options.model == "grok-3-mini" and options.temperature == 0.5
    assert options.max_tokens == 20 and options.timeout == 3.0 and options.max_cost == 1.5
    assert isinstance(options.schema, Schema) and options.schema.name == "Answer"
    assert options.fresh is True


def test_nothing_set_means_every_default() -> None:
    assert RequestOptions() == DEFAULT_OPTIONS
    assert all(getattr(DEFAULT_OPTIONS, f.name) in (None, False)
               for f in dataclasses.fields(RequestOptions))


@pytest.mark.parametrize(("values", "word"), [
    ({"model": ""}, "model"),
    ({"model": "grok 4"}, "model"),
    ({"system": "  "}, "--system"),
    ({"temperature": 3}, "--temperature"),
    ({"temperature": "hot"}, "--temperature"),
    ({"max_tokens": 0}, "--max-tokens"),
    ({"max_tokens": "2.5"}, "--max-tokens"),
    ({"reasoning_effort": "very high"}, "--reasoning-effort"),
    ({"timeout": -1}, "--timeout"),
    ({"max_cost": "lots"}, "--max-cost"),
    ({"max_cost": 0}, "--max-cost"),
    ({"schema": 42}, "--schema"),
])
def test_a_bad_value_is_one_line(values: dict[str, Any], word: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        RequestOptions(**values)
    assert word in str(refused.value) and "\n" not in str(refused.value)


def test_frozen() -> None:
    options = RequestOptions(temperature=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.temperature = 1.0  # type: ignore[misc]


def test_replace_checks_again() -> None:
    with pytest.raises(InvalidArgument, match="--temperature"):
        dataclasses.replace(RequestOptions(), temperature=9)


def test_defaults_fill_only_what_is_unset() -> None:
    defaults = Defaults(model="grok-3-mini", timeout=60.0, max_cost_usd=2.0)
    assert RequestOptions().resolved(defaults) == RequestOptions(
        model="grok-3-mini", timeout=60.0, max_cost=2.0)
    mine = RequestOptions(model="grok-4.3", timeout=5, max_cost=0.5)
    assert mine.resolved(defaults) == mine
    assert RequestOptions().resolved(Defaults(reuse=False)).fresh is True
    with pytest.raises(InvalidArgument, match="model"):
        RequestOptions().resolved(Defaults(model=""))  # %config GrokDefer.model = ''


def test_the_request_body_carries_the_options() -> None:
    options = RequestOptions(model="grok-4.3", system="Be brief.", temperature=0.2,
                             max_tokens=9, reasoning_effort="low", schema=SCHEMA)
    body = build_request("Hi", options)
    assert body["model"] == "grok-4.3" and body["messages"][0] == {
        "role": "system", "content": "Be brief."}
    assert body["temperature"] == 0.2 and body["max_completion_tokens"] == 9
    assert body["reasoning_effort"] == "low"
    assert body["response_format"]["json_schema"]["name"] == "Answer"
    with pytest.raises(InvalidArgument):
        build_request("Hi", RequestOptions())  # unresolved: no model yet
