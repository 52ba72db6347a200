"""What an engine that runs groups needs from the runtime that hosts it.

Engines sit below the runtime and never import it: the runtime hands itself over as this
narrow surface (its loop, journal and deferred engine, and the one way to register a job).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from xai_defer_magic.core.job import Job
from xai_defer_magic.engines.base import Engine
from xai_defer_magic.journal import Journal
from xai_defer_magic.loop import LoopThread

if TYPE_CHECKING:  # the deferred engine's package uses this module: no import at run time
    from xai_defer_magic.engines.deferred.poller import Poller


class EngineHost(Protocol):
    loop: LoopThread
    journal: Journal
    poller: Poller  # the deferred engine: its HTTP client, in-flight holds and polling
    engines: dict[str, Engine]
    settings: Any  # runtime.Settings (``poll`` is what engines read)

    def halt_at_close(self, submitter: Any) -> None:
        """``submitter.halt()`` when the runtime closes, before its engines close."""
        ...

    def register(self, job: Job) -> None:
        """Make an accepted job the runtime's (jobs(), %grok_wait, the panel, pricing)."""
        ...
