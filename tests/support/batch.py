"""Batch-engine settings and work items shared by the batch tests."""

from __future__ import annotations

from typing import Any

from xai_defer_magic.core.schedule import PollSchedule
from xai_defer_magic.engines.batch.engine import EngineSettings

FAST = EngineSettings(schedule=PollSchedule(first=0.05, growth=0.1, cap=0.2),
                      results_schedule=PollSchedule(first=0.05, growth=0.25, cap=0.3, jitter=0))


def items(group: str, n: int, latency: str = "0", model: str = "grok-4.3"
          ) -> list[tuple[str, dict[str, Any]]]:
    """``n`` chat requests keyed ``group-0000``..., each answered after ``latency`` seconds."""
    return [(f"{group}-{i:04d}", {"model": model, "messages": [
        {"role": "user", "content": f"Item {i}. [[latency={latency}]]"}]}) for i in range(n)]
