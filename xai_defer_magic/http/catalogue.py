"""Fetching the catalogue and counting tokens over HTTP, cached per runtime and base URL.

``GET /v1/language-models`` is asked once per base URL and kept (``%grok_models --refresh``
asks again). Nothing that shows a job waits on the network for it: a missing catalogue is
fetched in the background (``fetch_for``) and the job is handed the prices when they arrive.
The key goes only to the current base URL (DESIGN §3.12): a job journaled for another server
gets no catalogue.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from xai_defer_magic.core.catalogue import Catalogue, parse_catalogue
from xai_defer_magic.core.pricing import Tokenizer
from xai_defer_magic.errors import GrokDeferError, MalformedResponse, NetworkError, one_line
from xai_defer_magic.http.deferred import USER_AGENT, check_transport, error_for
from xai_defer_magic.loop import LoopThread

RETRY_AFTER_FAILURE = 60.0  # seconds before a background lookup tries a failed server again
VIEW_WAIT = 10.0  # longest a kernel-thread command showing a result waits for the catalogue


async def fetch_catalogue(http: httpx.AsyncClient, base_url: str, api_key: str) -> Catalogue:
    """``GET /v1/language-models``; ``/v1/models`` (which newer servers price too) on a 404."""
    base = base_url.rstrip("/")
    response = await _send(http, "GET", base, "/language-models", api_key)
    if response.status_code == 404:
        response = await _send(http, "GET", base, "/models", api_key)
    if response.status_code != 200:
        raise error_for(response, on_poll=False)
    try:
        return parse_catalogue(response.json(), base)
    except ValueError as exc:
        raise MalformedResponse(f"The model list from {base} is not readable: {exc}.") from None


async def count_tokens(
    http: httpx.AsyncClient, base_url: str, api_key: str, text: str, model: str
) -> int:
    """``POST /v1/tokenize-text``: the number of tokens ``model`` sees in ``text``."""
    base = base_url.rstrip("/")
    response = await _send(http, "POST", base, "/tokenize-text", api_key,
                           json={"model": model, "text": text})
    if response.status_code != 200:
        raise error_for(response, on_poll=False)
    try:
        tokens = response.json()["token_ids"]
    except (ValueError, KeyError, TypeError):
        raise MalformedResponse("The tokenize-text answer has no token_ids.") from None
    if not isinstance(tokens, list):
        raise MalformedResponse("The tokenize-text answer has no token_ids list.")
    return len(tokens)


async def _send(
    http: httpx.AsyncClient, method: str, base: str, path: str, api_key: str, **kwargs: Any
) -> httpx.Response:
    check_transport(base)  # never the key over plain http to anything but loopback
    headers = {"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT}
    try:
        return await http.request(method, base + path, headers=headers, **kwargs)
    except httpx.TransportError as exc:
        raise NetworkError(f"Could not reach {base}{path} ({type(exc).__name__}).") from None


class CatalogueCache:
    """One catalogue per base URL for the life of a runtime; fetched on the loop thread."""

    def __init__(
        self,
        loop: LoopThread,
        key_provider: Callable[[], str],
        current_base_url: Callable[[], str],
        timeout: Callable[[], float],
    ) -> None:
        self._loop = loop
        self._key = key_provider
        self._current = current_base_url
        self._timeout = timeout
        self._ready: dict[str, Catalogue] = {}
        self._fetching: dict[str, concurrent.futures.Future[Catalogue]] = {}
        self._failed_at: dict[str, float] = {}
        self._tokenizers: dict[str, Tokenizer] = {}
        self._lock = threading.Lock()

    def get(self, refresh: bool = False) -> Catalogue:
        """The current server's catalogue (kernel thread); raises its one-line error."""
        base = self._current()
        with self._lock:
            if not refresh and base in self._ready:
                return self._ready[base]
        future = self._start(base)
        try:
            return future.result(self._timeout() + 5)
        except concurrent.futures.TimeoutError:
            raise NetworkError(f"Timed out asking {base} for its models.") from None

    def fetch_for(self, base_url: str) -> concurrent.futures.Future[Catalogue] | None:
        """The catalogue of a job's server, ready or on its way (fetched on the loop thread);
        None when it is not this kernel's server, the last try failed a moment ago, or there is
        no key. Never raises, never waits: whoever needs the prices adds a callback."""
        base = self._current()
        if base_url.rstrip("/") != base:
            return None
        with self._lock:
            ready = self._ready.get(base)
            failed = self._failed_at.get(base)
        if ready is not None:
            done: concurrent.futures.Future[Catalogue] = concurrent.futures.Future()
            done.set_result(ready)
            return done
        if failed is not None and time.monotonic() - failed < RETRY_AFTER_FAILURE:
            return None
        try:
            return self._start(base)
        except GrokDeferError:  # no key, unsafe URL
            return None

    def tokenizer(self) -> Tokenizer:
        """A token counter for the current server (``/v1/tokenize-text``, cached per text)."""
        base = self._current()
        with self._lock:
            if base not in self._tokenizers:
                self._tokenizers[base] = Tokenizer(lambda text, model: self._count(base, text,
                                                                                   model))
            return self._tokenizers[base]

    def _count(self, base: str, text: str, model: str) -> int:
        key = self._key()

        async def count() -> int:
            async with httpx.AsyncClient(timeout=self._timeout()) as http:
                return await count_tokens(http, base, key, text, model)

        return self._loop.run(count(), self._timeout() + 5)

    def _start(self, base: str) -> concurrent.futures.Future[Catalogue]:
        """The fetch in flight for ``base``, or a new one (finished fetches are dropped)."""
        check_transport(base)
        key = self._key()
        with self._lock:
            running = self._fetching.get(base)
            if running is not None:
                return running
            future = self._loop.submit(self._fetch(base, key))
            self._fetching[base] = future
        return future

    async def _fetch(self, base: str, key: str) -> Catalogue:
        try:
            async with httpx.AsyncClient(timeout=self._timeout()) as http:
                catalogue = await fetch_catalogue(http, base, key)
        except Exception as exc:
            with self._lock:
                self._failed_at[base] = time.monotonic()
                self._fetching.pop(base, None)
            if isinstance(exc, GrokDeferError):
                raise
            message = f"Could not read the models of {base}: {one_line(str(exc))}"
            raise NetworkError(message) from None
        with self._lock:
            self._ready[base] = catalogue
            self._failed_at.pop(base, None)
            self._fetching.pop(base, None)
        return catalogue
