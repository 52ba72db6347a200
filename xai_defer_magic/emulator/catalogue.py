"""The emulator's model lineup, prices and redirects: its one source of truth (xAI as of 2026-12).

Sources (``shared/xai/CHANGES.md``, ``batch/BATCH.md`` §10-11): grok-4.3 with efforts
none/low/medium/high/xhigh (default low) at 12500/2000/25000 (1e-10 USD per token; $/1M =
value / 10,000) and 25000/4000/50000 once a prompt reaches 200k tokens; grok-3-mini with
``reasoning_content`` and efforts low/high at 3000/750/5000; the slugs retired on 2026-05-15
answering as grok-4.3 (``low`` effort for reasoning slugs, ``none`` otherwise) at its price.
The grok-4.20-0309 prices and tiers are those of xAI's docs example ``grok-420-reasoning``.
Emulator choices where xAI says nothing: the grok-4.20 models take no ``reasoning_effort``
(like grok-4-1-fast-reasoning before them), grok-4.3 hides its reasoning trace, and the
retired slugs are not listed in (nor found by) ``/v1/language-models``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any

CREATED = {"grok-4.3": 1776556800, "grok-4.20": 1773014400, "grok-3-mini": 1743724800}


@dataclass(frozen=True)
class EmulatedModel:
    """A model the emulator serves: its id, behaviour and prices in 1e-10 USD per token."""

    id: str
    aliases: tuple[str, ...] = ()
    created: int = 1776556800
    input_modalities: tuple[str, ...] = ("text",)
    reasoning: bool = False  # reports reasoning tokens
    returns_reasoning_content: bool = False  # ... and returns the trace in the message
    efforts: tuple[str, ...] = ()  # accepted reasoning_effort values; () rejects the parameter
    default_effort: str | None = None
    batch: bool = False  # accepted by the Batch API (BATCH.md §7)
    context_length: int = 131072
    prompt_price: int = 0
    cached_price: int = 0
    image_price: int = 0
    completion_price: int = 0
    long_prompt_price: int = 0  # 0: no long-context tier for this token type
    long_cached_price: int = 0
    long_completion_price: int = 0
    long_context_threshold: int = 0  # 0: no long-context tier

    @property
    def names(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)

    def tier(self, prompt_tokens: int) -> tuple[int, int, int]:
        """(input, cached, output) prices for a request of ``prompt_tokens``."""
        standard = (self.prompt_price, self.cached_price, self.completion_price)
        threshold = self.long_context_threshold
        if not threshold or prompt_tokens < threshold:
            return standard
        return (self.long_prompt_price or self.prompt_price,
                self.long_cached_price or self.cached_price,
                self.long_completion_price or self.completion_price)


GROK_4_3 = EmulatedModel(
    "grok-4.3", aliases=("grok-4.3-latest",), created=CREATED["grok-4.3"],
    input_modalities=("text", "image"), reasoning=True,
    efforts=("none", "low", "medium", "high", "xhigh"), default_effort="low", batch=True,
    context_length=1_000_000, prompt_price=12500, cached_price=2000, image_price=12500,
    completion_price=25000, long_prompt_price=25000, long_cached_price=4000,
    long_completion_price=50000, long_context_threshold=200_000,
)
_GROK_4_20 = EmulatedModel(
    "grok-4.20-0309-reasoning", aliases=("grok-4.20-reasoning",), created=CREATED["grok-4.20"],
    input_modalities=("text", "image"), reasoning=True, batch=True, context_length=2_000_000,
    prompt_price=20000, cached_price=2000, completion_price=80000, long_prompt_price=40000,
    long_completion_price=160000, long_context_threshold=128_000,
)
LINEUP: tuple[EmulatedModel, ...] = (
    GROK_4_3,
    _GROK_4_20,
    replace(_GROK_4_20, id="grok-4.20-0309-non-reasoning", aliases=("grok-4.20-non-reasoning",),
            reasoning=False),
    replace(_GROK_4_20, id="grok-4.20-multi-agent-0309", aliases=("grok-4.20-multi-agent",)),
    EmulatedModel("grok-3-mini", aliases=("grok-3-mini-latest", "grok-3-mini-beta"),
                  created=CREATED["grok-3-mini"], reasoning=True, returns_reasoning_content=True,
                  efforts=("low", "high"), prompt_price=3000, cached_price=750,
                  completion_price=5000),
)

# Retired 2026-05-15 (CHANGES.md): served by grok-4.3 at this effort, billed at its price.
RETIRED: dict[str, str] = {
    "grok-4": "low", "grok-4-latest": "low", "grok-4-0709": "low",
    "grok-4-1-fast-reasoning": "low", "grok-4-fast-reasoning": "low",
    "grok-4-1-fast-non-reasoning": "none", "grok-4-fast-non-reasoning": "none",
    "grok-code-fast-1": "low", "grok-3": "none", "grok-3-latest": "none",
}


@dataclass(frozen=True)
class Resolution:
    """What a requested name means: the model that answers and the effort it uses by default."""

    model: EmulatedModel
    default_effort: str | None
    retired: bool = False


def find(name: str) -> EmulatedModel | None:
    """A listed model by id or alias (retired slugs are not listed)."""
    return next((m for m in LINEUP if name in m.names), None)


def resolve(name: str) -> Resolution | None:
    """Map a requested model name to the model xAI would answer with, or None if unknown."""
    model = find(name)
    if model is not None:
        return Resolution(model, model.default_effort)
    if name in RETIRED:
        return Resolution(GROK_4_3, RETIRED[name], retired=True)
    return None


def effort_problem(resolution: Resolution, effort: Any) -> str | None:
    """xAI's 400 text for a ``reasoning_effort`` the answering model does not take, or None."""
    model = resolution.model
    if effort is None:
        return None
    if not model.efforts:
        return f"Model {model.id} does not support parameter reasoningEffort."
    if effort not in model.efforts:
        return (f"Invalid reasoning effort {effort!r} for model {model.id}: expected one of "
                f"{', '.join(model.efforts)}.")
    return None


def cost_ticks(model: EmulatedModel, prompt: int, cached: int, output: int) -> int:
    """Cost in USD ticks (1e-10 USD, the unit of the prices): ``output`` includes reasoning."""
    price_in, price_cached, price_out = model.tier(prompt)
    return (prompt - cached) * price_in + cached * price_cached + output * price_out


# --- bodies of /v1/language-models, /v1/models and /v1/tokenize-text --------------------------


def _fingerprint(model: EmulatedModel) -> str:
    return "fp_" + hashlib.sha256(model.id.encode()).hexdigest()[:10]


def language_model_body(model: EmulatedModel) -> dict[str, Any]:
    """One ``LanguageModel`` (BATCH.md §10): every price an integer in 1e-10 USD per token."""
    return {
        "id": model.id,
        "fingerprint": _fingerprint(model),
        "created": model.created,
        "object": "model",
        "owned_by": "xai",
        "version": "1.0",
        "input_modalities": list(model.input_modalities),
        "output_modalities": ["text"],
        "prompt_text_token_price": model.prompt_price,
        "cached_prompt_text_token_price": model.cached_price,
        "prompt_image_token_price": model.image_price,
        "completion_text_token_price": model.completion_price,
        "search_price": 0,
        "prompt_text_token_price_long_context": model.long_prompt_price,
        "cached_prompt_text_token_price_long_context": model.long_cached_price,
        "completion_text_token_price_long_context": model.long_completion_price,
        "long_context_threshold": model.long_context_threshold,
        "aliases": list(model.aliases),
    }


def language_models_body() -> dict[str, Any]:
    return {"models": [language_model_body(m) for m in LINEUP]}


def model_entry_body(model: EmulatedModel) -> dict[str, Any]:
    """One entry of the newer ``/v1/models``: OpenAI's four fields plus aliases and prices."""
    entry: dict[str, Any] = {
        "id": model.id, "aliases": list(model.aliases), "context_length": model.context_length,
        "created": model.created, "object": "model", "owned_by": "xai",
        "prompt_text_token_price": model.prompt_price,
        "cached_prompt_text_token_price": model.cached_price,
        "prompt_image_token_price": model.image_price,
        "completion_text_token_price": model.completion_price,
    }
    if model.long_context_threshold:
        entry["prompt_text_token_price_long_context"] = model.long_prompt_price
        entry["completion_text_token_price_long_context"] = model.long_completion_price
        entry["long_context_threshold"] = model.long_context_threshold
    return entry


def models_list_body() -> dict[str, Any]:
    return {"data": [model_entry_body(m) for m in LINEUP], "object": "list"}


_PIECE = re.compile(r"\s*(?:\w{1,6}|[^\w\s])|\s+")


def tokenize(text: str) -> list[str]:
    """The emulator's tokenizer: words in pieces of up to 6 characters, punctuation alone,
    leading spaces kept ("Hello world!" -> "Hello", " world", "!", as in xAI's example)."""
    return _PIECE.findall(text)


def count_prompt_tokens(text: str) -> int:
    return len(tokenize(text))


def tokenize_body(text: str) -> dict[str, Any]:
    """``{"token_ids": [{"token_id", "string_token", "token_bytes"}]}`` (BATCH.md §11)."""
    return {"token_ids": [
        {"token_id": int.from_bytes(hashlib.sha256(piece.encode()).digest()[:2], "big"),
         "string_token": piece, "token_bytes": list(piece.encode())}
        for piece in tokenize(text)
    ]}
