"""Every job handle of this process, in one place that outlives ``%unload_ext``.

A user may hold a handle across ``%reload_ext``: the journal's row for it must map back to
that same object (not a twin), so that the new runtime's polling finishes the handle the user
waits on. Jobs are found by request id, or by their local id while still submitting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from xai_defer_magic.core.job import Job


class JobRegistry:
    def __init__(self) -> None:
        self._by_key: dict[str, Job] = {}
        self._order: list[Job] = []
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        with self._lock:
            if job not in self._order:
                self._order.append(job)
            self._index(job)

    def index(self, job: Job) -> None:
        """Find ``job`` by its request id from now on (called once the server gave it)."""
        with self._lock:
            self._index(job)

    def _index(self, job: Job) -> None:
        self._by_key[job.local_id] = job
        if job.request_id:
            self._by_key[job.request_id] = job

    def find(self, key: str) -> Job | None:
        with self._lock:
            return self._by_key.get(key)

    def find_or_add(self, key: str, make: Callable[[], Job]) -> Job:
        """The job known by ``key``, or the one ``make()`` builds (registered at once)."""
        with self._lock:
            known = self._by_key.get(key)
            if known is not None:
                return known
            job = make()
            self._order.append(job)
            self._by_key[key] = job
            self._index(job)
            return job

    def all(self) -> list[Job]:
        with self._lock:
            return list(self._order)

    def remove(self, job: Job) -> None:
        with self._lock:
            if job in self._order:
                self._order.remove(job)
            for key in (job.local_id, job.request_id):
                if key and self._by_key.get(key) is job:
                    del self._by_key[key]


JOBS = JobRegistry()  # the process's one registry
