"""The catalogue's HTTP face: ``/v1/language-models[/{id}]``, ``/v1/models[/{id}]`` and
``/v1/tokenize-text``. The facts themselves live in :mod:`.catalogue`.
"""

from __future__ import annotations

from . import catalogue
from .replies import (
    Reply,
    bad_json,
    json_reply,
    loads_or_none,
    model_not_found,
    no_route,
    unprocessable,
)

CATALOGUE_PATHS = ("/v1/language-models", "/v1/models", "/v1/tokenize-text")
_MODEL_LISTS = ("/v1/language-models", "/v1/models")


def catalogue_reply(method: str, path: str, raw: bytes) -> Reply:
    """The answer for a request under one of ``CATALOGUE_PATHS`` (after faults and auth)."""
    if method == "POST" and path == "/v1/tokenize-text":
        return _tokenize(raw)
    if method != "GET":
        return no_route()
    if path in _MODEL_LISTS:
        listed = path == "/v1/models"
        return json_reply(200, catalogue.models_list_body() if listed
                          else catalogue.language_models_body())
    prefix, _, name = path.rpartition("/")
    if prefix not in _MODEL_LISTS:
        return no_route()
    model = catalogue.find(name)
    if model is None:
        return model_not_found(name)
    entry = catalogue.model_entry_body if prefix == "/v1/models" else catalogue.language_model_body
    return json_reply(200, entry(model))


def _tokenize(raw: bytes) -> Reply:
    body = loads_or_none(raw)
    if not isinstance(body, dict):
        return bad_json()
    text, model = body.get("text", ""), body.get("model")
    if not isinstance(text, str) or not isinstance(model, (str, type(None))):
        return unprocessable("text and model: expected strings")
    if model is not None and catalogue.resolve(model) is None:
        return model_not_found(model)
    return json_reply(200, catalogue.tokenize_body(text))
