"""Failures of display code that must not stop the machinery: logged once each, never raised.

A card, stand-in or panel that breaks (a closed comm, a bug) is called again on every change or
every second: logging each call would flood the log, and saying nothing hides the fault
forever. So each distinct failure (where it happened, the exception's type and message) is
logged once, with its traceback, to the ``xai_defer_magic`` logger. That logger writes to the
process's own stderr (the terminal or log file of the Jupyter server), never to ``sys.stderr``
as ipykernel redirects it, which is a cell's output.
"""

from __future__ import annotations

import logging
import sys
import threading

LOGGER = logging.getLogger("xai_defer_magic")
MAX_REMEMBERED = 1000  # distinct failures remembered; past that a new one is still logged


class _KernelLog(logging.StreamHandler):
    """The process's stderr as it was at start (``sys.__stderr__``), not a cell's output."""

    def __init__(self) -> None:
        super().__init__(sys.__stderr__)


if not any(isinstance(h, _KernelLog) for h in LOGGER.handlers):
    LOGGER.addHandler(_KernelLog())


class OnceLog:
    """Remembers which failures were logged, so each is logged once."""

    def __init__(self, logger: logging.Logger = LOGGER) -> None:
        self.logger = logger
        self._seen: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def failed(self, where: str, exc: BaseException) -> None:
        """Log ``exc`` raised by ``where`` (e.g. "a job listener") unless it was logged."""
        key = (where, type(exc).__qualname__, str(exc))
        with self._lock:
            if key in self._seen:
                return
            if len(self._seen) < MAX_REMEMBERED:
                self._seen.add(key)
        self.logger.warning("%s failed (logged once; it keeps being called): %s: %s", where,
                            type(exc).__name__, exc, exc_info=exc)


FAILURES = OnceLog()


def log_once(where: str, exc: BaseException) -> None:
    """Log a display failure once per process (see the module's docstring)."""
    FAILURES.failed(where, exc)
