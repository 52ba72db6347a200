"""Emulated time, so tests and benchmarks can run a 24-hour TTL or minutes of latency in seconds."""

from __future__ import annotations

import time

from .values import positive


class Clock:
    """Runs ``scale`` times faster than real time, continuous across changes of scale."""

    def __init__(self, scale: float) -> None:
        self.scale = positive(scale, "time_scale")
        self._real0 = time.monotonic()
        self._emu0 = 0.0

    def now(self) -> float:
        return self._emu0 + (time.monotonic() - self._real0) * self.scale

    def set_scale(self, scale: float) -> None:
        self._emu0, self._real0 = self.now(), time.monotonic()
        self.scale = positive(scale, "time_scale")
