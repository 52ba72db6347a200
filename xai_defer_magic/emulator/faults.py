"""Injectable faults: the settings (``Faults``) and the dice that apply them to each request.

They strike before a request is handled, in an xAI-plausible order (billing, drop, 5xx, 429
burst, slow), so the answer itself is still there for the client's next try.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

from .replies import Reply, billing_reply, rate_limit_reply, server_error_reply
from .values import number

ROUTE_DELAYS = {"submit": "submit_delay", "catalogue": "catalogue_delay",
                "batch": "batch_delay"}  # route kind -> the Faults field that delays it


@dataclass
class Faults:
    """Injectable faults, all off by default; fields may be changed while the server runs.

    The rate faults (5xx, drop, slow) strike before a request is handled, so the answer is
    still there for the next GET. The delivery faults strike after the server marked an id
    delivered, the loss that matters for a fetch-once result: ``deliver_seconds`` sends the
    200's body slowly (it trickles out over that many real seconds), ``lose_after_delivery``
    drops the connection halfway through the body (the answer is gone; the next GET is a
    404). ``request_id`` makes a deferred POST answer with that id instead of a fresh uuid.
    The route delays hold every request of one kind that long before it is answered, as a
    slow network or a loaded xAI does: ``submit_delay`` a deferred POST (a real one is a TLS
    round trip across the internet, 300-800 ms), ``catalogue_delay`` the model catalogue and
    tokenizer, ``batch_delay`` every Batch API call.
    """

    error_5xx_rate: float = 0.0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    burst_429_every: int = 0
    burst_429_length: int = 3
    retry_after: float | None = 1.0
    billing_exhausted: bool = False
    billing_status: int = 429
    faults_apply_to: str = "all"
    seed: int | None = None
    deliver_seconds: float = 0.0
    lose_after_delivery: bool = False
    request_id: str | None = None
    submit_delay: float = 0.0
    catalogue_delay: float = 0.0
    batch_delay: float = 0.0

    def validate(self) -> None:
        """Raise ValueError for settings that cannot work (used by the admin endpoint)."""
        for name in ("error_5xx_rate", "drop_rate", "slow_rate"):
            if not 0.0 <= number(getattr(self, name), name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in ("slow_seconds", "deliver_seconds", *ROUTE_DELAYS.values()):
            if number(getattr(self, name), name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if not isinstance(self.lose_after_delivery, bool):
            raise ValueError("lose_after_delivery must be true or false")
        if self.request_id is not None and (not isinstance(self.request_id, str)
                                            or not self.request_id):
            raise ValueError("request_id must be a non-empty string or null")
        for name in ("burst_429_every", "burst_429_length"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be an integer >= 0")
        if self.retry_after is not None and number(self.retry_after, "retry_after") < 0:
            raise ValueError("retry_after must be >= 0 or null")
        if not isinstance(self.billing_exhausted, bool):
            raise ValueError("billing_exhausted must be true or false")
        if self.billing_status not in (429, 403):
            raise ValueError("billing_status must be 429 or 403")
        if self.faults_apply_to not in ("all", "get", "post"):
            raise ValueError("faults_apply_to must be 'all', 'get' or 'post'")
        seed = self.seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError("seed must be an integer or null")


class FaultDice:
    """Decides, request by request, which fault (if any) strikes; reproducible with a seed."""

    def __init__(self, lock: threading.RLock, seed: int) -> None:
        self._lock = lock
        self._rng = random.Random(seed)
        self._seed: int | None = None
        self.requests = 0  # requests the faults applied to; every Nth starts a 429 burst
        self._burst_left = 0

    def strike(self, faults: Faults, kind: str) -> Reply | None:
        """The fault's answer for a ``kind`` ("get"/"post") request; may sleep (slow fault)."""
        if faults.faults_apply_to not in ("all", kind):
            return None
        with self._lock:
            rng = self._rng_for(faults.seed)
            self.requests += 1
            if faults.billing_exhausted:
                return billing_reply(faults.billing_status)
            if faults.drop_rate > 0 and rng.random() < faults.drop_rate:
                return Reply(0, drop=True)
            if faults.error_5xx_rate > 0 and rng.random() < faults.error_5xx_rate:
                return server_error_reply(rng.choice((500, 502, 503)), html=rng.random() < 0.5)
            if self._in_burst(faults):
                return rate_limit_reply(faults.retry_after)
            slow = faults.slow_rate > 0 and rng.random() < faults.slow_rate
        if slow:
            time.sleep(max(0.0, faults.slow_seconds))
        return None

    def hold(self, faults: Faults, route: str) -> None:
        """Wait the delay set for ``route`` (a key of ROUTE_DELAYS) before it is answered."""
        seconds = float(getattr(faults, ROUTE_DELAYS[route]))
        if seconds > 0:
            time.sleep(seconds)

    def reset(self) -> None:
        """Restart the burst cycle (the request count the bursts are timed by)."""
        with self._lock:
            self.requests = self._burst_left = 0

    def _rng_for(self, seed: int | None) -> random.Random:
        if seed is not None and seed != self._seed:
            self._rng.seed(seed)
        self._seed = seed
        return self._rng

    def _in_burst(self, faults: Faults) -> bool:
        if self._burst_left > 0:
            self._burst_left -= 1
            return True
        every = faults.burst_429_every
        if every > 0 and faults.burst_429_length > 0 and self.requests % every == 0:
            self._burst_left = faults.burst_429_length - 1
            return True
        return False
