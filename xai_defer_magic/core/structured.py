"""Structured answers: ``--schema`` turns a pydantic model or a JSON schema into
``response_format``, and a finished job's text into ``job.parsed``.

A pydantic class validates with pydantic and ``job.parsed`` is an instance. A dict schema is
validated with ``jsonschema`` when it is installed, else with a small built-in check of
``type``, ``required``, ``properties``, ``items`` and ``enum``; ``job.parsed`` is then the dict.
An answer that does not parse or validate leaves the job ``done``: the raw text stays in
``job.content`` and the reason goes to ``job.parse_error`` (the tokens are paid for either way).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from xai_defer_magic.errors import InvalidArgument

_FENCED = re.compile(r"^\s*```[a-zA-Z]*\s*\n(.*)\n\s*```\s*$", re.DOTALL)
_NAME = re.compile(r"[^A-Za-z0-9_-]+")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "integer": (int,),
    "number": (int, float), "boolean": (bool,), "null": (type(None),),
}


@dataclass(frozen=True)
class Schema:
    name: str
    json_schema: dict[str, Any]
    model: Any = None  # the pydantic class, when the schema came from one

    def response_format(self) -> dict[str, Any]:
        return {"type": "json_schema",
                "json_schema": {"name": self.name, "schema": self.json_schema, "strict": True}}


def resolve_schema(value: Any, label: str = "schema") -> Schema:
    """A pydantic model class or a JSON-schema dict -> :class:`Schema` (else InvalidArgument)."""
    make_schema = getattr(value, "model_json_schema", None)
    if isinstance(value, type) and callable(make_schema):
        return Schema(_clean_name(value.__name__), make_schema(), value)
    if isinstance(value, dict):
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise InvalidArgument(f"--schema {label}: the dict is not JSON-serialisable.") from None
        title = value.get("title")
        return Schema(_clean_name(title if isinstance(title, str) and title else label), value)
    raise InvalidArgument(
        f"--schema {label} must be a pydantic model class or a JSON-schema dict, "
        f"not {type(value).__name__}."
    )


def schema_from_request(request: dict[str, Any]) -> Schema | None:
    """The schema a journaled request asked for (a job rebuilt after a restart has no class)."""
    fmt = request.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
        return None
    return Schema(str(spec.get("name") or "schema"), spec["schema"])


def parse_answer(schema: Schema, text: str) -> tuple[Any, str | None]:
    """(parsed value, None) or (None, why it does not fit the schema)."""
    match = _FENCED.match(text or "")
    raw = match.group(1) if match else (text or "")
    if schema.model is not None:
        try:
            return schema.model.model_validate_json(raw), None
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            return None, _one_line(f"{schema.name}: {exc}")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return None, f"the answer is not JSON ({exc})."
    problem = validate(data, schema.json_schema)
    return (None, problem) if problem else (data, None)


def parse_job(job: Any) -> tuple[Any, str | None]:
    """``(job.parsed, job.parse_error)``, computed once per answer and cached on the job."""
    schema = getattr(job, "schema", None) or schema_from_request(job.request)
    content = job.content if job.status == "done" else None
    if schema is None or content is None:
        return None, None
    cached = job.__dict__.get("_parsed_cache")
    if cached is not None and cached[0] is content:
        return cached[1], cached[2]
    parsed, error = parse_answer(schema, content)
    job.__dict__["_parsed_cache"] = (content, parsed, error)
    return parsed, error


def fields_of(parsed: Any) -> dict[str, Any]:
    """A parsed answer as flat ``{field: value}`` (for the card's table and ``to_pandas``)."""
    if parsed is None:
        return {}
    dump = getattr(parsed, "model_dump", None)
    data = dump(mode="json") if callable(dump) else parsed
    return dict(data) if isinstance(data, dict) else {"value": data}


def validate(data: Any, schema: dict[str, Any]) -> str | None:
    """The first way ``data`` breaks ``schema``, or None."""
    try:
        import jsonschema
    except ImportError:
        return _minimal_check(data, schema, "$")
    try:
        jsonschema.validate(data, schema)
    except jsonschema.ValidationError as exc:
        where = "$" + "".join(f"[{p!r}]" for p in exc.absolute_path)
        return _one_line(f"{where}: {exc.message}")
    except jsonschema.SchemaError as exc:
        return _one_line(f"the schema itself is invalid: {exc.message}")
    return None


def _minimal_check(data: Any, schema: dict[str, Any], where: str) -> str | None:
    kinds = schema.get("type")
    if isinstance(kinds, str):
        kinds = [kinds]
    if isinstance(kinds, list) and kinds and not any(_is_type(data, k) for k in kinds):
        return f"{where}: expected {' or '.join(map(str, kinds))}, got {type(data).__name__}."
    if "enum" in schema and data not in schema["enum"]:
        return f"{where}: {data!r} is not one of {schema['enum']!r}."
    if isinstance(data, dict):
        for key in schema.get("required") or []:
            if key not in data:
                return f"{where}: missing required field {key!r}."
        for key, sub in (schema.get("properties") or {}).items():
            if key in data and isinstance(sub, dict):
                problem = _minimal_check(data[key], sub, f"{where}[{key!r}]")
                if problem:
                    return problem
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        for index, element in enumerate(data):
            problem = _minimal_check(element, schema["items"], f"{where}[{index}]")
            if problem:
                return problem
    return None


def _is_type(data: Any, kind: str) -> bool:
    if isinstance(data, bool) and kind in ("integer", "number"):
        return False
    return isinstance(data, _JSON_TYPES.get(kind, (object,)))


def _clean_name(name: str) -> str:
    """xAI/OpenAI accept ``^[a-zA-Z0-9_-]{1,64}$`` as a schema name."""
    return (_NAME.sub("_", name).strip("_") or "schema")[:64]


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


__all__ = ["Schema", "fields_of", "parse_answer", "parse_job", "resolve_schema", "validate"]
