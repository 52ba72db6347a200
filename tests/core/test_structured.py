"""--schema: response_format, validation of dict and pydantic schemas, the emulator's JSON."""

from __future__ import annotations

import json
import random

import jsonschema
import pytest
from pydantic import BaseModel

from xai_defer_magic.core.structured import (
    _minimal_check,
    parse_answer,
    resolve_schema,
)
from xai_defer_magic.emulator import structured as emulated
from xai_defer_magic.errors import InvalidArgument

LABEL = {"type": "object", "title": "Label",
         "properties": {"label": {"type": "string", "enum": ["pos", "neg"]},
                        "score": {"type": "integer", "minimum": 1, "maximum": 5}},
         "required": ["label", "score"], "additionalProperties": False}


class Review(BaseModel):
    label: str
    score: int
    tags: list[str]


def test_response_format_is_xais_json_schema_shape() -> None:
    fmt = resolve_schema(LABEL, "LABEL").response_format()
    assert fmt == {"type": "json_schema",
                   "json_schema": {"name": "Label", "schema": LABEL, "strict": True}}
    assert resolve_schema(Review).response_format()["json_schema"]["name"] == "Review"


def test_not_a_schema_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="pydantic model class or a JSON-schema dict"):
        resolve_schema(42, "n")


def test_dict_schema_answers_validate_or_say_why() -> None:
    schema = resolve_schema(LABEL)
    assert parse_answer(schema, '{"label": "pos", "score": 4}') == ({"label": "pos", "score": 4},
                                                                   None)
    parsed, error = parse_answer(schema, '{"label": "maybe", "score": 4}')
    assert parsed is None and error and "maybe" in error
    parsed, error = parse_answer(schema, "not json")
    assert parsed is None and error and "not JSON" in error


def test_minimal_check_without_jsonschema_catches_type_enum_and_required() -> None:
    assert _minimal_check({"label": "pos", "score": 2}, LABEL, "$") is None
    assert "missing required field 'score'" in (_minimal_check({"label": "pos"}, LABEL, "$") or "")
    assert "not one of" in (_minimal_check({"label": "x", "score": 1}, LABEL, "$") or "")
    assert "expected integer" in (_minimal_check({"label": "pos", "score": True}, LABEL, "$") or "")


def test_pydantic_answers_become_instances() -> None:
    parsed, error = parse_answer(resolve_schema(Review), '{"label": "a", "score": 1, "tags": []}')
    assert error is None and isinstance(parsed, Review) and parsed.score == 1
    parsed, error = parse_answer(resolve_schema(Review), '{"label": "a"}')
    assert parsed is None and error and "score" in error


@pytest.mark.parametrize("schema", [LABEL, Review.model_json_schema(), {
    "type": "object", "required": ["kind", "items", "maybe"],
    "properties": {"kind": {"const": "x"}, "items": {"type": "array", "minItems": 2,
                                                       "items": {"$ref": "#/$defs/Thing"}},
                   "maybe": {"anyOf": [{"type": "null"}, {"type": "number"}]}},
    "$defs": {"Thing": {"type": "object", "properties": {"n": {"type": "integer"}},
                        "required": ["n"]}}}])
def test_emulator_instances_validate_and_are_deterministic(schema: dict) -> None:
    first = emulated.instance(schema, random.Random(b"p"))
    jsonschema.validate(first, schema)
    assert emulated.instance(schema, random.Random(b"p")) == first


def test_emulator_answers_a_json_schema_request_with_conforming_json(emulator) -> None:
    import httpx

    body = {"model": "grok-3", "messages": [{"role": "user", "content": "Rate this"}],
            "response_format": resolve_schema(LABEL).response_format()}
    answer = httpx.post(emulator.base_url + "/chat/completions", json=body,
                        headers={"Authorization": "Bearer k"}).json()
    content = answer["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), LABEL)
    assert answer["usage"]["completion_tokens"] < 20  # billed for the JSON returned
