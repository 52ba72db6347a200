"""Closing the runtime when the interpreter exits, so answers on the wire reach the journal.

``atexit`` handlers run on a graceful shutdown or restart of the kernel, before ipykernel's
own (registered earlier, run later). jupyter_client sends SIGTERM 2.5 s into its 5 s grace,
so the close holds SIGTERM off for its bounded drain.
"""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

EXIT_GRACE = 3.0  # seconds GETs in flight get at exit (jupyter_client kills after 5)

_registered = False


def close_at_exit(active: Callable[[], bool], close: Callable[[float], None]) -> None:
    """Register (once per process) ``close(EXIT_GRACE)``, run at exit while ``active()``."""
    global _registered
    if not _registered:
        _registered = True
        atexit.register(_at_exit, active, close)


def _at_exit(active: Callable[[], bool], close: Callable[[float], None]) -> None:
    """Let GETs in flight journal their answers, for at most EXIT_GRACE seconds."""
    if not active():
        return
    with _sigterm_deferred():
        close(EXIT_GRACE)


@contextlib.contextmanager
def _sigterm_deferred() -> Iterator[None]:
    """Hold SIGTERM off while we drain (bounded by EXIT_GRACE), so an answer on the wire is not
    cut off by it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
