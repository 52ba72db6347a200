"""What a request costs: from the answer's ticks, from catalogue prices, or before sending.

xAI's answers carry ``usage.cost_in_usd_ticks`` since 2026, but older servers, proxies and
journaled bodies may not; then the cost is computed from the catalogue's prices and marked as
estimated. Before sending, :func:`estimate_request_cost` prices a request from its prompt tokens
(``POST /v1/tokenize-text``, or a local estimate) and its ``max_completion_tokens``, for
spending ceilings.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from xai_defer_magic.core.catalogue import Catalogue, LanguageModel
from xai_defer_magic.core.completion import Completion, Usage
from xai_defer_magic.core.images import image_tokens


@dataclass(frozen=True)
class Cost:
    usd: float | None
    estimated: bool = False


def usage_cost_usd(usage: Usage, model: LanguageModel) -> float | None:
    """Uncached prompt tokens at the input price, cached ones at the cached price, completion
    plus reasoning tokens at the output price; the long-context tier for the whole request
    when the prompt reaches its threshold. None without token counts or prices."""
    if usage.prompt_tokens is None and usage.completion_tokens is None:
        return None
    prompt = usage.prompt_tokens or 0
    cached = min(usage.cached_tokens or 0, prompt)
    price_in, price_cached, price_out = model.prices(prompt)
    if price_in is None or price_out is None:
        return None
    if price_cached is None:  # no cached price listed: cached tokens bill as input
        price_cached = price_in
    output = (usage.completion_tokens or 0) + (usage.reasoning_tokens or 0)
    return ((prompt - cached) * price_in + cached * price_cached + output * price_out) / 1e6


def completion_cost(
    completion: Completion, requested: str, catalogue: Catalogue | None
) -> Cost:
    """The billed cost when the body has ticks, else an estimate from the served model's prices."""
    if completion.usage.cost_usd is not None:
        return Cost(completion.usage.cost_usd)
    if catalogue is None:
        return Cost(None)
    model = catalogue.find(completion.model) or catalogue.find(requested)
    usd = usage_cost_usd(completion.usage, model) if model is not None else None
    return Cost(usd, estimated=usd is not None)


# --- before sending -------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    exact: bool  # counted by the server's tokenizer, not estimated locally


def local_token_estimate(text: str) -> int:
    """About four characters per token, rounded up: the usual rule of thumb for English."""
    return math.ceil(len(text) / 4)


RemoteCounter = Callable[[str, str], int]  # (text, model) -> tokens; raises when unavailable


class Tokenizer:
    """Counts tokens with ``POST /v1/tokenize-text``, cached per (model, text); counts locally
    when the server cannot (no route, no network), and asks again only after ``retry_after``."""

    def __init__(self, remote: RemoteCounter | None, retry_after: float = 60.0) -> None:
        self._remote = remote
        self._retry_after = retry_after
        self._failed_at: float | None = None
        self._cache: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def count(self, text: str, model: str) -> TokenCount:
        with self._lock:
            known = self._cache.get((model, text))
        if known is not None:
            return TokenCount(known, exact=True)
        if not text:
            return TokenCount(0, exact=True)
        if self._remote is not None and not self._resting():
            try:
                tokens = self._remote(text, model)
            except Exception:
                self._failed_at = time.monotonic()
            else:
                with self._lock:
                    self._cache[(model, text)] = tokens
                return TokenCount(tokens, exact=True)
        return TokenCount(local_token_estimate(text), exact=False)

    def _resting(self) -> bool:
        failed = self._failed_at
        return failed is not None and time.monotonic() - failed < self._retry_after


@dataclass(frozen=True)
class CostEstimate:
    """A request's price before it is sent: an upper bound for input, a bound for output.

    Cached prompt tokens are unknown before sending, so every prompt token is priced at the
    input price. Reasoning tokens are not bounded by ``max_completion_tokens`` and are not in
    ``output_usd``; without ``max_completion_tokens`` the output is not priced at all.
    """

    model: str
    priced_as: str  # the catalogue model whose prices were used
    prompt_tokens: int
    prompt_tokens_exact: bool
    max_completion_tokens: int | None
    input_usd: float
    output_usd: float | None

    @property
    def total_usd(self) -> float:
        return self.input_usd + (self.output_usd or 0.0)


def prompt_texts(request_body: Mapping[str, Any]) -> list[str]:
    """The text of every message (string content, or the text parts of a list of parts)."""
    texts = []
    for message in request_body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [p["text"] for p in content
                      if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return texts


def estimate_request_cost(
    request_body: Mapping[str, Any], catalogue: Catalogue, tokenizer: Tokenizer
) -> CostEstimate | None:
    """Prompt tokens at the input price plus ``max_completion_tokens`` at the output price.

    A model the catalogue does not list (a retired slug, say) is priced as the catalogue's most
    expensive model, so a spending ceiling errs on the safe side. None for an empty catalogue.
    """
    name = str(request_body.get("model") or "")
    model = catalogue.find(name) or _most_expensive(catalogue)
    if model is None:
        return None
    counts = [tokenizer.count(text, name) for text in prompt_texts(request_body)]
    pictures = image_tokens(dict(request_body))  # the README's rule: 256 per 448 px tile
    prompt = sum(c.tokens for c in counts) + pictures
    limit = request_body.get("max_completion_tokens", request_body.get("max_tokens"))
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
    price_in, _cached, price_out = model.prices(prompt)
    return CostEstimate(
        model=name, priced_as=model.id, prompt_tokens=prompt,
        prompt_tokens_exact=all(c.exact for c in counts), max_completion_tokens=limit,
        input_usd=((prompt - pictures) * (price_in or 0.0)
                   + pictures * (model.image_input_usd_per_m or price_in or 0.0)) / 1e6,
        output_usd=None if limit is None else limit * (price_out or 0.0) / 1e6,
    )


def _most_expensive(catalogue: Catalogue) -> LanguageModel | None:
    priced = [m for m in catalogue if m.input_usd_per_m is not None]
    return max(priced, key=lambda m: (m.input_usd_per_m or 0) + (m.output_usd_per_m or 0),
               default=None)
