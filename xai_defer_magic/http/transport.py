"""The shared ``httpx.AsyncClient`` and the in-flight limit, sized by ``%config`` as it is now.

Both are created lazily on the loop thread and rebuilt when ``GrokDefer.max_in_flight``
changes; a request keeps the client and the slot it started with, so nothing in flight is cut.
"""

from __future__ import annotations

import asyncio

import httpx


class Transport:
    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None
        self._http_size = 0
        self._retired: list[httpx.AsyncClient] = []
        self._limit: asyncio.Semaphore | None = None
        self._limit_size = 0

    def http(self, max_in_flight: int) -> httpx.AsyncClient:
        size = max(1, max_in_flight) + 2
        if self._http is None or self._http_size != size:
            if self._http is not None:
                self._retired.append(self._http)  # closed with the rest, once idle at close
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
            self._http, self._http_size = httpx.AsyncClient(limits=limits), size
        return self._http

    def semaphore(self, max_in_flight: int) -> asyncio.Semaphore:
        """Holders release the semaphore they took, so replacing it never strands a slot."""
        size = max(1, max_in_flight)
        if self._limit is None or self._limit_size != size:
            self._limit, self._limit_size = asyncio.Semaphore(size), size
        return self._limit

    async def aclose(self) -> None:
        clients = [*self._retired, *([self._http] if self._http is not None else [])]
        self._http, self._retired = None, []
        for client in clients:
            await client.aclose()
