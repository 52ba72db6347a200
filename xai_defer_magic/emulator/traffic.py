"""What the emulator saw on the wire: every API request answered, counts by status, connections.

Tests and benchmarks assert on these (at most one 200 per id, no key in any record, peak
connections), so a record never holds a header.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .replies import Outcome

MAX_RECORDS = 200_000


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the emulator saw it (never any header, so never the key)."""

    method: str
    path: str
    status: int  # 0 when the connection was dropped on purpose
    request_id: str | None
    t: float  # time.monotonic() when it was answered
    body: Any = None  # parsed JSON of a POST, if it was JSON


class Traffic:
    """Request records, ``(method, status)`` counts and open sockets, behind the emulator's lock."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._records: deque[RequestRecord] = deque(maxlen=MAX_RECORDS)
        self._counts: Counter[tuple[str, int]] = Counter()
        self._sockets: set[socket.socket] = set()
        self.max_active = 0

    def record(self, method: str, path: str, outcome: Outcome) -> None:
        status = 0 if outcome.reply.drop else outcome.reply.status
        record = RequestRecord(
            method, urlsplit(path).path, status, outcome.request_id, time.monotonic(), outcome.body
        )
        with self._lock:
            self._records.append(record)
            self._counts[(method, status)] += 1

    def opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
            self.max_active = max(self.max_active, len(self._sockets))

    def closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def open_sockets(self) -> list[socket.socket]:
        with self._lock:
            return list(self._sockets)

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def counts(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._counts)

    def clear(self) -> None:
        """Forget records and counts; the peak restarts from the connections open now."""
        with self._lock:
            self._records.clear()
            self._counts.clear()
            self.max_active = len(self._sockets)
