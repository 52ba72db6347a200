"""Helpers the thread tests share: quick polls, one turn by hand."""

from __future__ import annotations

from typing import Any

from xai_defer_magic.core.options import RequestOptions
from xai_defer_magic.core.schedule import PollSchedule, PollSettings
from xai_defer_magic.runtime.runtime import Runtime, Settings
from xai_defer_magic.runtime.threads import start_turn


def fast(runtime: Runtime) -> Runtime:
    """Polls every 50 ms or so: the emulator answers thread tests in 0.05 s."""
    runtime.apply(Settings(poll=PollSettings(schedule=PollSchedule(first=0.05, growth=0.05))))
    return runtime


def turn(runtime: Runtime, prompt: str, cell: str | None = None, name: str = "t", **kw: Any
         ) -> Any:
    """One turn of thread ``name`` (no card), as a cell with id ``cell`` would start it."""
    return start_turn(runtime, name, prompt, RequestOptions(**kw), display=False,
                      cell_id=cell)[0]
