"""Helpers for tests that drive IPython's real test shell (the ``shell`` fixture)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError

from xai_defer_magic.emulator import Emulator

HANG = 30.0  # bounds a hang only; nothing that uses it should take more than a few seconds


def run(ip: Any, code: str) -> Any:
    """Run a cell that must succeed; return IPython's result."""
    result = ip.run_cell(code)
    assert result.success, (code, result.error_before_exec, result.error_in_exec)
    return result


def usage_error(ip: Any, code: str) -> str:
    """Run a cell that must fail with one UsageError line; return that line."""
    result = ip.run_cell(code)
    error = result.error_in_exec
    assert isinstance(error, UsageError), (code, type(error), error)
    message = str(error)
    assert message and "\n" not in message, message
    return message


def posts(emulator: Emulator) -> list[dict[str, Any]]:
    """The bodies of every POST the emulator received, in order."""
    return [r.body for r in emulator.requests() if r.method == "POST"]


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = HANG) -> None:
    """Wait for ``predicate``; the timeout only bounds a hang, it is never a speed assertion."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.02)


def submitted(*jobs: Any, timeout: float = HANG) -> None:
    """Wait until each job's POST has answered (an id, or a failure): cells return before."""
    wait_for(lambda: all(job.status != "submitting" for job in jobs), "the POST's answer",
             timeout)


def sent(emulator: Emulator, count: int, timeout: float = HANG) -> list[dict[str, Any]]:
    """Wait until the emulator has received ``count`` POSTs; return their bodies."""
    wait_for(lambda: len(posts(emulator)) >= count, f"{count} POST(s)", timeout)
    return posts(emulator)
