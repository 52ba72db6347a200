"""Structured outputs in the emulator: a ``response_format`` json_schema request gets JSON
that validates against its schema, as xAI's structured outputs guarantee.

The instance is the smallest faithful one (every property, enums honoured, bounds respected,
``$ref``/``$defs`` as pydantic writes them) with values seeded by the prompt, so the same
request always gets the same answer.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from . import answers, catalogue

_WORDS = ("alpha", "bravo", "delta", "echo", "kilo", "lima", "oscar", "sierra", "tango", "zulu")
_MAX_DEPTH = 8


def schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a request asks its answer to follow, or None."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return schema if isinstance(schema, dict) else None


def apply(body: dict[str, Any], completion: dict[str, Any]) -> dict[str, Any]:
    """Replace the answer of a json_schema request by a conforming JSON document."""
    schema = schema_of(body)
    if schema is None:
        return completion
    seed = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).digest()
    content = json.dumps(instance(schema, random.Random(seed)), ensure_ascii=False)
    completion["choices"][0]["message"]["content"] = content
    usage, resolution = completion.get("usage") or {}, catalogue.resolve(str(body.get("model")))
    if usage and resolution is not None:  # bill the JSON actually returned
        reasoning = usage["total_tokens"] - usage["prompt_tokens"] - usage["completion_tokens"]
        usage["completion_tokens"] = answers.count_tokens(content)
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"] + reasoning
        usage["cost_in_usd_ticks"] = catalogue.cost_ticks(
            resolution.model, usage["prompt_tokens"],
            usage["prompt_tokens_details"]["cached_tokens"], usage["completion_tokens"] + reasoning)
    return completion


def instance(schema: dict[str, Any], rng: random.Random, root: dict[str, Any] | None = None,
             depth: int = 0) -> Any:
    """A value that validates against ``schema`` (a practical subset of JSON Schema)."""
    root = schema if root is None else root
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return instance(_resolve(ref, root), rng, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            concrete = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
            return instance((concrete or options)[0], rng, root, depth + 1)
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        return instance(schema["allOf"][0], rng, root, depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    return _of_type(str(kind), schema, rng, root, depth)


def _of_type(kind: str, schema: dict[str, Any], rng: random.Random, root: dict[str, Any],
             depth: int) -> Any:
    if kind == "object":
        properties = schema.get("properties") or {}
        if depth > _MAX_DEPTH:
            properties = {k: properties[k] for k in schema.get("required") or [] if k in properties}
        return {name: instance(sub, rng, root, depth + 1) for name, sub in properties.items()
                if isinstance(sub, dict)}
    if kind == "array":
        count = max(int(schema.get("minItems", 1 if depth <= _MAX_DEPTH else 0)), 0)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        items: dict[str, Any] = schema["items"] if isinstance(schema.get("items"), dict) else {}
        return [instance(items, rng, root, depth + 1) for _ in range(count)]
    if kind == "integer":
        low = int(schema.get("minimum", 0))
        high = int(schema.get("maximum", low + 9))
        return rng.randint(low, max(low, high))
    if kind == "number":
        floor = float(schema.get("minimum", 0.0))
        ceiling = float(schema.get("maximum", floor + 1.0))
        return round(rng.uniform(floor, max(floor, ceiling)), 3)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    text = f"emulated {rng.choice(_WORDS)}"
    low = int(schema.get("minLength", 0))
    if len(text) < low:
        text = text + "x" * (low - len(text))
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text


def _resolve(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    """A local ``#/...`` reference (pydantic puts nested models and enums in ``$defs``)."""
    node: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}
