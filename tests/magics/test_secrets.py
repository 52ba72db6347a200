"""Secret audit: the search for a canary API key works, and plain-http base URLs are refused
before any socket, which a Python audit hook checks (and enforces: it blocks any non-loopback
connection attempt, so no other host is ever contacted). The full runs in a real kernel and in a
notebook executed headless are in ``tests/kernel/test_secrets.py``.
"""

from __future__ import annotations

import base64
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

import xai_defer_magic
from tests.support.secrets import assert_absent, new_canary
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.emulator.server import mask_key
from xai_defer_magic.errors import InsecureTransport
from xai_defer_magic.journal import JobRecord
from xai_defer_magic.runtime.runtime import Runtime
from xai_defer_magic.runtime.settings import Settings


@pytest.fixture
def canary() -> str:
    return new_canary()


def test_the_audit_would_see_a_leak(canary: str) -> None:
    """The search itself works: each form of the key is caught, the masked form is not."""
    token = canary.rsplit("-", 1)[1]
    bearer = base64.b64encode(f"Bearer {canary}".encode()).decode()
    for leak in (canary, f"key={token}", token[:16], token[16:] + "!", bearer):
        with pytest.raises(AssertionError):
            assert_absent(canary, "sample", f"...{leak}...")
    assert_absent(canary, "sample", f"Incorrect API key provided: {mask_key(canary)}")


# --- plain http to another host: refused before any socket ---------------------------------------


class NetworkWatch:
    """Records (and refuses) every DNS lookup or connect to a host that is not loopback.

    Audit hooks cannot be removed, so one hook is installed per process and switched on and off.
    """

    def __init__(self) -> None:
        self.installed = False
        self.active = False
        self.attempts: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active or event not in ("socket.connect", "socket.getaddrinfo"):
            return
        host = _host_of(event, args)
        if host is None or _loopback(host):
            return
        with self._lock:
            self.attempts.append((event, host))
        raise ConnectionRefusedError(f"test guard: no connections to {host}")


_WATCH = NetworkWatch()


def _host_of(event: str, args: tuple[Any, ...]) -> str | None:
    if event == "socket.getaddrinfo":
        host = args[0]
    else:
        address = args[1]
        host = address[0] if isinstance(address, tuple) and address else None
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    return host if isinstance(host, str) else None


def _loopback(host: str) -> bool:
    if host in ("localhost", "::1"):
        return True
    try:
        return socket.inet_aton(host)[0] == 127 and host.count(".") == 3
    except OSError:
        return False


@pytest.fixture
def network_watch() -> Iterator[NetworkWatch]:
    if not _WATCH.installed:
        sys.addaudithook(_WATCH.hook)
        _WATCH.installed = True
    _WATCH.attempts = []
    _WATCH.active = True
    try:
        yield _WATCH
    finally:
        _WATCH.active = False


PLAIN_HTTP_ELSEWHERE = [
    "http://example.com/v1",
    "http://127.0.0.1.example.com/v1",  # a DNS name that only starts like loopback
    "http://[2001:db8::1]/v1",
    "ftp://example.com/v1",
]


@pytest.mark.parametrize("base_url", PLAIN_HTTP_ELSEWHERE)
def test_plain_http_elsewhere_is_refused_before_any_socket(
    ip: Any, emulator: Emulator, base_url: str, canary: str,
    network_watch: NetworkWatch, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XAI_API_KEY", canary)
    monkeypatch.setenv("XAI_BASE_URL", base_url)
    ip.user_ns.pop("job", None)
    with pytest.raises(UsageError) as refused:
        ip.run_cell_magic("grok_defer", "-o job", "Never sent.")
    message = str(refused.value)
    assert "\n" not in message and ("plain http" in message or "http(s) URL" in message), message
    assert_absent(canary, "the refusal", message)
    with pytest.raises(InsecureTransport):
        xai_defer_magic.defer("Never sent either.", display=False)
    assert "job" not in ip.user_ns
    assert network_watch.attempts == [] and emulator.requests() == []


def test_journaled_job_with_plain_http_url_is_not_polled(
    emulator: Emulator, home: Path, canary: str, network_watch: NetworkWatch,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A journal row naming a plain-http host (edited, or from another setup) gets no GET."""
    monkeypatch.setenv("XAI_API_KEY", canary)
    rid = str(uuid.uuid4())
    runtime = Runtime(Settings(home=str(home)))
    try:
        runtime.journal.add(JobRecord(
            request_id=rid, created_at=time.time(), model="grok-4",
            request={"model": "grok-4", "messages": [{"role": "user", "content": "hi"}]},
            base_url="http://example.com/v1", status="pending",
        ))
        assert runtime.resume_unfinished() == []  # another server's job: not resumed on load
        job = runtime.get(rid)
        assert job is not None
        assert not runtime.ensure_polling(job)  # what %grok_wait ID asks: refused
        assert job.status == "pending" and canary not in (job.note or "")
        assert "XAI_BASE_URL=http://example.com/v1" in (job.note or "")
    finally:
        runtime.close()
    assert network_watch.attempts == [] and emulator.requests() == []
