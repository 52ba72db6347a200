"""Each model's context length, from ``GET /v1/models`` (the list that carries it; the
priced ``/v1/language-models`` does not), fetched once per base URL in the background.

A thread turn checks its history against it before sending: a cell with whatever is known at
that moment (the kernel's main thread never waits for the network), a queued turn on the loop
thread just before it is sent, waiting for the fetch within the request timeout
(``runtime.thread_dispatch``). A server that does not say (or cannot be reached) is simply
not checked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable

import httpx

from xai_defer_magic.http.deferred import USER_AGENT, check_transport
from xai_defer_magic.loop import LoopThread, within


class ContextLengths:
    """Context length per model id and alias, per base URL; None until fetched."""

    def __init__(self, loop: LoopThread, key: Callable[[], str],
                 timeout: Callable[[], float]) -> None:
        self._loop, self._key, self._timeout = loop, key, timeout
        self._fetches: dict[str, concurrent.futures.Future[dict[str, int]]] = {}
        self._lock = threading.Lock()

    def start(self, base_url: str) -> concurrent.futures.Future[dict[str, int]] | None:
        """The fetch for ``base_url``, started on the loop thread if it was not; None when it
        cannot be asked (no key, an unsafe URL)."""
        base = base_url.rstrip("/")
        with self._lock:
            running = self._fetches.get(base)
            if running is not None:
                return running
            try:
                check_transport(base)
                key = self._key()
            except Exception:
                return None
            future = self._fetches[base] = self._loop.submit(self._fetch(base, key))
        return future

    def known(self, base_url: str, model: str) -> int | None:
        """The context length of ``model`` if it has arrived; starts the fetch otherwise."""
        future = self.start(base_url)
        if future is None or not future.done() or future.exception() is not None:
            return None
        return future.result().get(model)

    async def waited(self, base_url: str, model: str, wait: float) -> int | None:
        """On the loop thread: the context length of ``model``, waiting for the fetch at most
        ``wait`` seconds (a queued turn is checked just before it is sent); None if unknown."""
        future = self.start(base_url)
        if future is None:
            return None
        try:
            lengths = await within(wait, asyncio.wrap_future(future))
        except Exception:  # not in time, or unreachable: not checked
            return None
        return lengths.get(model)

    async def _fetch(self, base: str, key: str) -> dict[str, int]:
        headers = {"Authorization": f"Bearer {key}", "User-Agent": USER_AGENT}
        async with httpx.AsyncClient(timeout=self._timeout()) as http:
            response = await http.get(f"{base}/models", headers=headers)
        if response.status_code != 200:
            return {}
        lengths: dict[str, int] = {}
        data = response.json().get("data") if isinstance(response.json(), dict) else None
        for entry in data if isinstance(data, list) else []:
            length = entry.get("context_length") if isinstance(entry, dict) else None
            if not isinstance(length, int) or isinstance(length, bool) or length <= 0:
                continue
            names = [entry.get("id"), *(entry.get("aliases") or [])]
            lengths.update({name: length for name in names if isinstance(name, str)})
        return lengths
