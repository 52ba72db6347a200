"""A ceiling on spending, checked before anything is sent.

A fan-out cell can cost a thousand requests at once, and a deferred request cannot be called
back once xAI has it. So the estimate is compared with ``--max-cost`` (per cell) and with
``GrokDefer.daily_budget_usd`` (the last 24 h of every kernel sharing the journal) first, and
a cell over either is refused with one line that gives the figures; nothing is sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from xai_defer_magic.core.completion import TICKS_PER_USD
from xai_defer_magic.core.images import image_tokens
from xai_defer_magic.core.pricing import (
    Tokenizer,
    estimate_request_cost,
    local_token_estimate,
    prompt_texts,
)
from xai_defer_magic.errors import GrokDeferError, InvalidArgument
from xai_defer_magic.render.plain import usd

if TYPE_CHECKING:
    from xai_defer_magic.runtime.runtime import Runtime

DAY = 24 * 3600.0
# A fan-out's first items are counted by the server's tokenizer; the rest locally, scaled by
# what those first counts showed, so a 1,000-item cell costs 20 tokenize calls, not 1,000.
EXACT_ITEMS = 20


class BudgetExceeded(InvalidArgument):
    """The estimate passes ``--max-cost`` or the daily budget: refused, nothing sent."""


def enforce(
    estimate_usd: float,
    *,
    max_cost: float | None,
    daily_budget: float | None,
    spent_today: float,
    what: str = "this cell",
) -> None:
    """Raise :class:`BudgetExceeded` when ``estimate_usd`` passes a limit."""
    if max_cost is not None and estimate_usd > max_cost:
        raise BudgetExceeded(
            f"Not sent: {what} is estimated at {usd(estimate_usd)}, over --max-cost "
            f"{usd(max_cost)}."
        )
    if daily_budget is not None and spent_today + estimate_usd > daily_budget:
        raise BudgetExceeded(
            f"Not sent: {usd(spent_today)} spent in the last 24 h plus {usd(estimate_usd)} "
            f"estimated for {what} exceeds GrokDefer.daily_budget_usd {usd(daily_budget)}."
        )


def spent_since(response_texts: Iterable[str]) -> float:
    """Actual cost (``usage.cost_in_usd_ticks``) summed over journaled answers."""
    total = 0
    for raw in response_texts:
        try:
            usage = json.loads(raw).get("usage") or {}
        except (ValueError, AttributeError):
            continue
        ticks = usage.get("cost_in_usd_ticks") if isinstance(usage, dict) else None
        if isinstance(ticks, int) and not isinstance(ticks, bool) and ticks > 0:
            total += ticks
    return total / TICKS_PER_USD


def spent_last_day(journal: Any, now: float | None = None) -> float:
    """What the journal's done jobs cost in the last 24 h (all kernels sharing it)."""
    since = (time.time() if now is None else now) - DAY
    texts = [
        r.response_text for r in journal.all()
        if r.status == "done" and r.response_text and (r.finished_at or r.created_at) >= since
    ]
    return spent_since(texts)


def estimate_bodies(runtime: Runtime, bodies: list[dict[str, Any]]) -> float:
    """The pre-send estimate of ``bodies`` in USD (see :func:`core.pricing.estimate_request_cost`).

    Raises :class:`BudgetExceeded` when no estimate can be made: with a ceiling asked for,
    sending blind would be the surprise the ceiling exists to prevent.
    """
    try:
        catalogue = runtime.models()
    except GrokDeferError as exc:
        raise BudgetExceeded(
            f"Not sent: the cost cannot be estimated ({exc.message.rstrip('.')}); "
            "a spending limit is set."
        ) from None
    remote, local = runtime.catalogues.tokenizer(), Tokenizer(None)
    exact_tokens = local_tokens = 0
    total = 0.0
    for index, body in enumerate(bodies):
        if index < EXACT_ITEMS:
            estimate = estimate_request_cost(body, catalogue, remote)
            if estimate is not None:
                exact_tokens += estimate.prompt_tokens
                local_tokens += _local_prompt_tokens(body)
        else:
            estimate = estimate_request_cost(body, catalogue, local)
            if estimate is not None and local_tokens and exact_tokens:
                scale = exact_tokens / local_tokens
                total += estimate.input_usd * (scale - 1.0)  # calibrated to the server's count
        if estimate is None:
            raise BudgetExceeded("Not sent: the catalogue lists no prices to estimate the cost.")
        total += estimate.total_usd
    return total


def _local_prompt_tokens(body: dict[str, Any]) -> int:
    """Counted like the exact estimate, images included (they are not scaled)."""
    return sum(local_token_estimate(text) for text in prompt_texts(body)) + image_tokens(body)


def check_spend(runtime: Runtime, bodies: list[dict[str, Any]], max_cost: float | None,
                what: str) -> float | None:
    """Refuse ``bodies`` over ``max_cost`` or the daily budget; the estimate, or None when no
    limit is set (then nothing is asked of the server)."""
    daily = runtime.settings.daily_budget_usd
    if max_cost is None and daily is None:
        return None
    estimate = estimate_bodies(runtime, bodies)
    spent = spent_last_day(runtime.journal) if daily is not None else 0.0
    enforce(estimate, max_cost=max_cost, daily_budget=daily, spent_today=spent, what=what)
    return estimate
