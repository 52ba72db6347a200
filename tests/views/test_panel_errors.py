"""A panel whose refresh breaks says so once in the kernel's log, and keeps ticking."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from xai_defer_magic.runtime.runtime import Runtime
from xai_defer_magic.views.panel import JobsPanel


def test_a_failing_tick_is_logged_once_and_the_tick_goes_on(
    runtime: Runtime, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    panel = JobsPanel(runtime)

    def unreadable() -> list[Any]:
        raise OSError("journal unreadable")

    monkeypatch.setattr(runtime, "pending", unreadable)
    try:
        with caplog.at_level(logging.WARNING, logger="xai_defer_magic"):
            for _ in range(3):
                panel.tick()  # never raises: the runtime's tick must go on
    finally:
        panel.close()
    logged = [r for r in caplog.records if "journal unreadable" in r.getMessage()
              or (r.exc_info and "journal unreadable" in str(r.exc_info[1]))]
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]
    assert logged[0].name.startswith("xai_defer_magic")
