"""The models a key may use and their prices, read from ``GET /v1/language-models``.

xAI's lineup and prices change (CHANGES.md: the 2026-05-15 retirement, grok-4.3), so nothing
here is hard-coded: the catalogue is the server's answer, parsed tolerantly. Prices arrive as
integers in 1e-10 USD per token ("USD cents per 100 million tokens"); they are kept here in USD
per 1M tokens (value / 10,000). A long-context price of 0 means "the standard price", and a
``long_context_threshold`` of 0 means there is no long-context tier (BATCH.md §10).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

PRICE_UNITS_PER_USD_PER_M = 10_000  # 1e-10 USD per token -> USD per 1M tokens


@dataclass(frozen=True)
class LanguageModel:
    """One model of the catalogue; every price in USD per 1M tokens (None when not given)."""

    id: str
    aliases: tuple[str, ...] = ()
    input_modalities: tuple[str, ...] = ()
    output_modalities: tuple[str, ...] = ()
    input_usd_per_m: float | None = None
    cached_input_usd_per_m: float | None = None
    output_usd_per_m: float | None = None
    image_input_usd_per_m: float | None = None
    long_context_threshold: int | None = None  # prompt tokens from which the tier applies
    long_context_input_usd_per_m: float | None = None
    long_context_cached_input_usd_per_m: float | None = None
    long_context_output_usd_per_m: float | None = None
    context_length: int | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)

    def prices(self, prompt_tokens: int = 0) -> tuple[float | None, float | None, float | None]:
        """(input, cached input, output) USD per 1M tokens for a request of ``prompt_tokens``:
        the long-context tier applies to the whole request once the prompt reaches it."""
        standard = (self.input_usd_per_m, self.cached_input_usd_per_m, self.output_usd_per_m)
        if self.long_context_threshold is None or prompt_tokens < self.long_context_threshold:
            return standard
        long = (self.long_context_input_usd_per_m, self.long_context_cached_input_usd_per_m,
                self.long_context_output_usd_per_m)
        return (long[0] or standard[0], long[1] or standard[1], long[2] or standard[2])


@dataclass(frozen=True)
class Catalogue:
    """The server's models, in its order; looked up by id or alias."""

    models: tuple[LanguageModel, ...]
    base_url: str = ""

    def find(self, name: str | None) -> LanguageModel | None:
        if not name:
            return None
        return next((m for m in self.models if name in m.names), None)

    def __iter__(self) -> Iterator[LanguageModel]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)


def usd_per_m(value: Any) -> float | None:
    """A wire price (int, 1e-10 USD per token) in USD per 1M tokens; None if absent or bad."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return value / PRICE_UNITS_PER_USD_PER_M


def parse_model(entry: Any) -> LanguageModel | None:
    """A ``LanguageModel`` (or a ``/v1/models`` entry) from the wire; None without an id."""
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
        return None
    threshold = entry.get("long_context_threshold")
    context = entry.get("context_length")
    return LanguageModel(
        id=entry["id"],
        aliases=_strings(entry.get("aliases")),
        input_modalities=_strings(entry.get("input_modalities")),
        output_modalities=_strings(entry.get("output_modalities")),
        input_usd_per_m=usd_per_m(entry.get("prompt_text_token_price")),
        cached_input_usd_per_m=usd_per_m(entry.get("cached_prompt_text_token_price")),
        output_usd_per_m=usd_per_m(entry.get("completion_text_token_price")),
        image_input_usd_per_m=usd_per_m(entry.get("prompt_image_token_price")),
        long_context_threshold=threshold if _positive_int(threshold) else None,
        long_context_input_usd_per_m=_nonzero(entry.get("prompt_text_token_price_long_context")),
        long_context_cached_input_usd_per_m=_nonzero(
            entry.get("cached_prompt_text_token_price_long_context")
        ),
        long_context_output_usd_per_m=_nonzero(
            entry.get("completion_text_token_price_long_context")
        ),
        context_length=context if _positive_int(context) else None,
    )


def parse_catalogue(body: Any, base_url: str = "") -> Catalogue:
    """``{"models": [...]}`` (``/v1/language-models``) or ``{"data": [...]}`` (``/v1/models``)."""
    entries = body.get("models", body.get("data")) if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the model list has neither 'models' nor 'data'")
    parsed = (parse_model(e) for e in entries)
    return Catalogue(tuple(m for m in parsed if m is not None), base_url)


def usd(value: float | None) -> str:
    """$1.25, $0.20, $0.075, $15.00: at least cents, more digits only when the price has them."""
    if value is None:
        return "–"
    text = f"{value:.4f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"${whole}.{decimals.ljust(2, '0')}"


def price_summary(model: LanguageModel) -> str:
    """"$1.25 input, $0.20 cached, $2.50 output per 1M tokens" (and the long-context tier)."""
    text = (f"{usd(model.input_usd_per_m)} input, {usd(model.cached_input_usd_per_m)} cached, "
            f"{usd(model.output_usd_per_m)} output per 1M tokens")
    if model.long_context_threshold:
        long_in, long_cached, long_out = model.prices(model.long_context_threshold)
        text += (f" ({usd(long_in)} / {usd(long_cached)} / {usd(long_out)} from "
                 f"{model.long_context_threshold:,} prompt tokens)")
    return text


def redirect_note(requested: str, served: str | None, catalogue: Catalogue | None) -> str | None:
    """One line when another model answered than the one asked for, else None.

    xAI serves every slug retired on 2026-05-15 with grok-4.3, billed at grok-4.3's price and
    without an error: this line is the only place a user learns it. An alias answered by its
    model (``grok-4.3-latest`` -> ``grok-4.3``) is not a redirect and gets no note.
    """
    if not served or served == requested:
        return None
    if catalogue is None:
        return (f"{requested} was answered by {served} (xAI redirects retired model names and "
                f"bills {served}'s price; %grok_models lists the prices).")
    model = catalogue.find(served)
    if model is not None and requested in model.aliases:
        return None
    price = f": {price_summary(model)}" if model is not None else ""
    if catalogue.find(requested) is None:
        return (f"{requested} is retired: xAI redirected it to {served}, billed at {served}'s "
                f"price{price}.")
    return f"{requested} was answered by {served}, billed at {served}'s price{price}."


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _nonzero(value: Any) -> float | None:
    price = usd_per_m(value)
    return price if price else None
