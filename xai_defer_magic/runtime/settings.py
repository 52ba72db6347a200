"""What ``%config GrokDefer.*`` controls, as one plain value the runtime is built from.

Apart from :mod:`runtime.runtime` so that the magics can build it at ``%load_ext`` without
importing the machinery (httpx, the journal, the loop thread), which waits for first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xai_defer_magic.core.schedule import PollSettings


@dataclass
class Settings:
    """What ``%config GrokDefer.*`` controls (defaults here serve ``defer()`` without the magic)."""

    model: str = "grok-4.3"
    base_url: str | None = None
    timeout: float | None = None
    home: str | None = None
    resume_on_load: bool = True
    reuse: bool = True
    max_cost_usd: float | None = None
    daily_budget_usd: float | None = None
    poll: PollSettings = field(default_factory=PollSettings)
