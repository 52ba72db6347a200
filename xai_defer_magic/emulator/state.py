"""What every part of the emulator shares: one lock, the emulated clock, the settings and faults.

The server creates one ``EmulatorState`` and hands it to each service (deferred, batch), so a
service reads the settings here instead of reaching into the server: the services never import
the server, and the server is only the facade that routes requests and reports counts.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, fields
from typing import Any

from .clock import Clock
from .faults import FaultDice, Faults
from .replies import Reply
from .request_checks import check_auth
from .traffic import Traffic
from .values import latency_range, positive

RUNTIME_SETTINGS = frozenset({"latency", "time_scale", "ttl"})


class EmulatorState:
    """The settings and shared parts of one emulator; every change goes through its methods."""

    def __init__(
        self,
        *,
        api_key: str | None,
        latency: float | tuple[float, float],
        ttl: float,
        time_scale: float,
        faults: Faults,
        seed: int,
    ) -> None:
        self.lock = threading.RLock()  # one lock for every part: stats are one snapshot
        self.clock = Clock(time_scale)
        self.seed = seed  # each service seeds its own random source with it: reproducible runs
        self.api_key = api_key
        self.faults = faults
        self.dice = FaultDice(self.lock, seed)
        self.traffic = Traffic(self.lock)
        self._latency = latency_range(latency)
        self._ttl = positive(ttl, "ttl")

    # -- settings --

    @property
    def latency(self) -> tuple[float, float]:
        """A job's processing time in emulated seconds, as a checked ``(low, high)`` range."""
        return self._latency

    @latency.setter
    def latency(self, value: float | tuple[float, float]) -> None:
        self._latency = latency_range(value)

    @property
    def ttl(self) -> float:
        """Emulated seconds after which an unretrieved result is gone (xAI: 24 h)."""
        return self._ttl

    @ttl.setter
    def ttl(self, value: float) -> None:
        self._ttl = positive(value, "ttl")

    @property
    def time_scale(self) -> float:
        """How many emulated seconds pass per real second."""
        return self.clock.scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        with self.lock:
            self.clock.set_scale(value)

    def now(self) -> float:
        """The emulated clock, in seconds."""
        return self.clock.now()

    def draw_latency(self, rng: random.Random) -> float:
        """One job's processing time: the fixed latency, or a uniform draw from the range."""
        low, high = self._latency
        return low if low == high else rng.uniform(low, high)

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply ``latency``, ``time_scale``, ``ttl`` and any Faults field; all or nothing."""
        names = {f.name for f in fields(Faults)}
        unknown = set(settings) - names - RUNTIME_SETTINGS
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        changed = {k: settings[k] for k in names & set(settings)}
        new_faults = Faults(**{**asdict(self.faults), **changed})
        new_faults.validate()
        latency = latency_range(settings["latency"]) if "latency" in settings else self._latency
        if "time_scale" in settings:
            positive(settings["time_scale"], "time_scale")
        if "ttl" in settings:
            positive(settings["ttl"], "ttl")
        with self.lock:
            for name in changed:
                setattr(self.faults, name, getattr(new_faults, name))
            self._latency = latency
            if "time_scale" in settings:
                self.clock.set_scale(settings["time_scale"])
            if "ttl" in settings:
                self._ttl = float(settings["ttl"])

    def config(self) -> dict[str, Any]:
        """The current settings, in the shape ``configure`` accepts."""
        low, high = self._latency
        return {
            "latency": low if low == high else [low, high],
            "time_scale": self.time_scale,
            "ttl": self._ttl,
            **asdict(self.faults),
        }

    def faults_off(self) -> None:
        """Switch every fault off (the same ``Faults`` object: callers may hold it)."""
        with self.lock:
            for f in fields(Faults):
                setattr(self.faults, f.name, getattr(Faults(), f.name))

    # -- requests --

    def screen(self, kind: str, auth: str | None) -> Reply | None:
        """What every API route answers before its own logic: an injected fault, else auth."""
        return self.dice.strike(self.faults, kind) or check_auth(auth, self.api_key)
