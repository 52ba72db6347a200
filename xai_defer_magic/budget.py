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
from typing import Any

from .completion import TICKS_PER_USD
from .request import InvalidArgument

DAY = 24 * 3600.0


class BudgetExceeded(InvalidArgument):
    """The estimate passes ``--max-cost`` or the daily budget: refused, nothing sent."""


def check_limit(value: Any, name: str) -> float | None:
    """A spending limit in USD: None (no limit) or a positive finite number."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be an amount in USD, not {value!r}.") from None
    if not number > 0 or number == float("inf"):
        raise InvalidArgument(f"{name} must be a positive amount in USD, not {value!r}.")
    return number


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


def usd(value: float) -> str:
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"
