"""The ``Emulator``: xAI's deferred-completions API served over real HTTP on loopback.

The client on the other side treats this as the real API. This module is the facade: lifecycle,
counters, test controls and routing. The settings, lock and clock live in one
:class:`.state.EmulatorState` that the facade creates and hands to each service, so no service
imports this module; each route and rule lives in its own module (:mod:`.deferred`,
:mod:`.catalogue_routes`, :mod:`.batch`, :mod:`.admin`, :mod:`.faults`, :mod:`.request_checks`,
:mod:`.http_layer`). Only the standard library is used, so it runs anywhere the package does
(Binder, CI, a laptop without a key).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from .admin import ADMIN_PREFIX, admin_reply
from .batch import BatchService, is_batch_path
from .catalogue_routes import CATALOGUE_PATHS, catalogue_reply
from .deferred import CHAT_PATH, DEFERRED_PREFIX, DeferredService
from .faults import Faults
from .http_layer import Server
from .replies import Outcome, loads_or_none, no_route
from .request_checks import mask_key
from .state import EmulatorState
from .traffic import RequestRecord, Traffic
from .values import latency_range, loopback_host

__all__ = [
    "CHAT_PATH",
    "DEFERRED_PREFIX",
    "Emulator",
    "Faults",
    "RequestRecord",
    "latency_range",
    "loopback_host",
    "mask_key",
]


class Emulator:
    """A local xAI deferred-completions API; use as a context manager or ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        latency: float | tuple[float, float] = 0.0,
        ttl: float = 86400.0,
        time_scale: float = 1.0,
        faults: Faults | None = None,
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        self.host = loopback_host(host)
        self.port = port
        self.verbose = verbose
        self.state = EmulatorState(
            api_key=api_key, latency=latency, ttl=ttl, time_scale=time_scale,
            faults=faults if faults is not None else Faults(), seed=seed,
        )
        self.deferred = DeferredService(self.state)
        self.batches = BatchService(self.state)  # the Batch API (BATCH.md), with its own knobs
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, the value for ``XAI_BASE_URL``."""
        if self._server is None:
            raise RuntimeError("Emulator not started: call start() or use it as a context manager")
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> Emulator:
        """Bind and serve in a daemon thread; returns self."""
        with self.state.lock:
            if self._server is not None:
                return self
            server = Server((self.host, self.port), self)
            self.port = server.server_address[1]
            self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"xai-emulator-{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open keep-alive connections and the socket; idempotent."""
        with self.state.lock:
            server, self._server = self._server, None
            sockets = self.traffic.open_sockets()
        if server is None:
            return
        server.shutdown()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- settings (kept in the shared state, where the services read them) --

    @property
    def api_key(self) -> str | None:
        """The only key accepted, or None to accept any well-formed Bearer token."""
        return self.state.api_key

    @api_key.setter
    def api_key(self, value: str | None) -> None:
        self.state.api_key = value

    @property
    def faults(self) -> Faults:
        """The injectable faults; change its fields while the server runs."""
        return self.state.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self.state.faults = value

    @property
    def traffic(self) -> Traffic:
        """What was seen on the wire: request records, counts, open connections."""
        return self.state.traffic

    @property
    def latency(self) -> float | tuple[float, float]:
        """Processing time of a deferred job in emulated seconds (fixed or a uniform range)."""
        low, high = self.state.latency
        return low if low == high else (low, high)

    @latency.setter
    def latency(self, value: float | tuple[float, float]) -> None:
        self.state.latency = value

    @property
    def ttl(self) -> float:
        """Emulated seconds after which an unretrieved result is gone (xAI: 24 h)."""
        return self.state.ttl

    @ttl.setter
    def ttl(self, value: float) -> None:
        self.state.ttl = value

    @property
    def time_scale(self) -> float:
        """How many emulated seconds pass per real second."""
        return self.state.time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        self.state.time_scale = value

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply ``latency``, ``time_scale``, ``ttl`` and any Faults field; all or nothing."""
        self.state.configure(settings)

    def config(self) -> dict[str, Any]:
        """The current settings, in the shape ``configure`` accepts."""
        return self.state.config()

    # -- introspection --

    def get_count(self, request_id: str) -> int:
        """GET requests received for this id (including ones answered by a fault)."""
        return self.deferred.counts_for(request_id).gets

    def delivered_count(self, request_id: str) -> int:
        """200s served for this id; the protocol guarantees at most one."""
        return self.deferred.counts_for(request_id).delivered

    def gets_after_delivery(self, request_id: str) -> int:
        """GETs received after this id's 200 (a well-behaved client sends none)."""
        return self.deferred.counts_for(request_id).gets_after_delivery

    def job_ids(self) -> list[str]:
        """Every deferred request id issued, oldest first."""
        return self.deferred.job_ids()

    def requests(self) -> list[RequestRecord]:
        """Every API request answered since the last reset (admin calls excluded)."""
        return self.traffic.records()

    def stats(self) -> dict[str, Any]:
        """Counts by method and status, job states, peak connections, per-id GET summary."""
        with self.state.lock:
            counts = self.traffic.counts()
            ids = self.deferred.all_counts()
            job_states = self.deferred.job_states()
            max_active = self.traffic.max_active
        by_method: Counter[str] = Counter()
        by_status: Counter[str] = Counter()
        for (method, status), n in counts.items():
            by_method[method] += n
            by_status[str(status)] += n
        gets = [c.gets for c in ids]
        return {
            "total": sum(counts.values()),
            "by_method": dict(by_method),
            "by_status": dict(by_status),
            "by_method_status": {f"{m} {s}": n for (m, s), n in sorted(counts.items())},
            "dropped": by_status.get("0", 0),
            "jobs": job_states,
            "max_concurrent_connections": max_active,
            "gets_per_id": {
                "ids": len(ids),
                "total": sum(gets),
                "max": max(gets, default=0),
                "mean": (sum(gets) / len(gets)) if gets else 0.0,
                "delivered_total": sum(c.delivered for c in ids),
                "delivered_max": max((c.delivered for c in ids), default=0),
                "gets_after_delivery_total": sum(c.gets_after_delivery for c in ids),
            },
        }

    def id_counts(self) -> dict[str, dict[str, int]]:
        """Per-id counts ``{id: {"gets", "delivered", "gets_after_delivery"}}``."""
        return self.deferred.id_counts()

    # -- test controls --

    def complete(self, request_id: str) -> None:
        """Make a pending job ready now."""
        self.deferred.complete(request_id)

    def expire(self, request_id: str) -> None:
        """Make a job behave as older than the TTL."""
        self.deferred.expire(request_id)

    def reset_counters(self) -> None:
        """Forget request records and counts (jobs, settings and faults stay)."""
        with self.state.lock:
            self.deferred.clear_counts()
            self.traffic.clear()

    def reset(self, *, jobs: bool = False, faults: bool = False) -> None:
        """Reset counters and, optionally, drop every job and switch all faults off."""
        with self.state.lock:
            self.reset_counters()
            self.state.dice.reset()
            if jobs:
                self.deferred.clear_jobs()
                self.batches.clear()
            if faults:
                self.state.faults_off()

    @property
    def _fault_requests(self) -> int:
        """Requests the faults applied to so far (tests steer the 429 burst cycle with it)."""
        return self.state.dice.requests

    @_fault_requests.setter
    def _fault_requests(self, value: int) -> None:
        self.state.dice.requests = value

    # -- request handling (called from handler threads) --

    def handle(self, method: str, target: str, auth: str | None, raw: bytes) -> Outcome:
        """Route one request and produce its answer."""
        path = urlsplit(target).path
        if path.startswith(ADMIN_PREFIX):
            return Outcome(admin_reply(self, method, path, raw), record=False)
        if method == "POST" and path == CHAT_PATH:
            self.state.dice.hold(self.state.faults, "submit")
            return self.deferred.handle_post(auth, raw)
        if path.startswith(CATALOGUE_PATHS):
            self.state.dice.hold(self.state.faults, "catalogue")
            reply = self.state.screen("post" if method == "POST" else "get", auth)
            return Outcome(reply or catalogue_reply(method, path, raw), body=loads_or_none(raw))
        if is_batch_path(path):
            self.state.dice.hold(self.state.faults, "batch")
            return self.batches.handle(method, target, auth, raw)
        request_id = path[len(DEFERRED_PREFIX):] if path.startswith(DEFERRED_PREFIX) else ""
        if method == "GET" and request_id and "/" not in request_id:
            return self.deferred.handle_get(request_id, auth)
        return Outcome(no_route())
