"""Every error line a person can meet is short and says each thing once (issue 8 item 10).

Each path the emulator can answer with is driven through the real client over loopback HTTP;
the resulting ``str(exc)`` (what ``job.error``, the card and the journal show) must be at most
300 characters, one line, and must not repeat advice the server's own text already gives.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import FAKE_KEY
from xai_defer_magic.emulator import Emulator, Faults
from xai_defer_magic.errors import GrokDeferError, one_line
from xai_defer_magic.http.deferred import XaiClient

KEY = FAKE_KEY
LIMIT = 300


def _error(base_url: str, action: str, payload: Any = None, key: str = KEY) -> GrokDeferError:
    async def main() -> GrokDeferError:
        async with httpx.AsyncClient(timeout=5) as http:
            client = XaiClient(http, base_url, key, submit_attempts=1)
            try:
                if action == "submit":
                    await client.submit(payload)
                else:
                    await client.poll(payload)
            except GrokDeferError as exc:
                return exc
        raise AssertionError(f"{action} {payload!r} did not fail")

    return asyncio.run(main())


def chat(prompt: str = "hi", model: str = "grok-3", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], **extra}


@pytest.fixture(scope="module")
def strict() -> Iterator[Emulator]:
    with Emulator(api_key=KEY, latency=0.0) as emu:
        yield emu


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PATHS: list[tuple[str, dict[str, Any], str, Any]] = [
    # name, faults, action, payload
    ("bad-key-400", {}, "submit-wrong-key", chat()),
    ("unauthorized-401", {}, "submit", chat("[[fail=401]]")),
    ("billing-403", {}, "submit", chat("[[fail=403]]")),
    ("billing-429", {"billing_exhausted": True}, "submit", chat()),
    ("billing-403-fault", {"billing_exhausted": True, "billing_status": 403}, "submit", chat()),
    ("rate-limit-429", {}, "submit-once", chat("[[fail=429]]")),
    ("feature-gone-410", {}, "submit", chat(search_parameters={"mode": "on"})),
    ("model-not-found-404", {}, "submit", chat(model="grok-nonexistent")),
    ("reasoning-effort-400", {}, "submit",
     chat(model="grok-4.20-0309-non-reasoning", reasoning_effort="high")),
    ("bad-effort-400", {}, "submit", chat(model="grok-3-mini", reasoning_effort="max")),
    ("no-messages-400", {}, "submit", {"model": "grok-3", "messages": []}),
    ("unprocessable-422", {}, "submit", {"model": "grok-3", "messages": [{"content": "x"}]}),
    ("fail-400", {}, "submit", chat("[[fail=400]]")),
    ("fail-404", {}, "submit", chat("[[fail=404]]")),
    ("fail-418", {}, "submit", chat("[[fail=418]]")),
    ("server-500", {}, "submit", chat("[[fail=500]]")),
    ("server-502", {}, "submit", chat("[[fail=502]]")),
    ("server-503", {}, "submit", chat("[[fail=503]]")),
    ("server-5xx-fault", {"error_5xx_rate": 1.0, "seed": 1}, "poll", "0" * 8),
    ("server-5xx-html", {"error_5xx_rate": 1.0, "seed": 3}, "poll", "0" * 8),
    ("dropped", {"drop_rate": 1.0}, "poll", "0" * 8),
    ("unknown-id-404", {}, "poll", "00000000-0000-4000-8000-000000000000"),
]


@pytest.mark.parametrize(("faults", "action", "payload"), [p[1:] for p in PATHS],
                         ids=[p[0] for p in PATHS])
def test_every_error_line_is_short_and_says_each_thing_once(
    strict: Emulator, faults: dict[str, Any], action: str, payload: Any
) -> None:
    strict.faults = Faults(**faults)
    try:
        key = "a-wrong-fake-key-not-a-secret" if action == "submit-wrong-key" else KEY
        verb = "poll" if action == "poll" else "submit"
        line = str(_error(strict.base_url, verb, payload, key=key))
    finally:
        strict.faults = Faults()
    assert_good_line(line)


def test_connection_refused_line() -> None:
    assert_good_line(str(_error(f"http://127.0.0.1:{closed_port()}/v1", "submit", chat())))


def test_billing_line_gives_the_console_once_and_not_xais_advice_twice(strict: Emulator) -> None:
    strict.faults = Faults(billing_exhausted=True)
    try:
        line = str(_error(strict.base_url, "submit", chat()))
    finally:
        strict.faults = Faults()
    assert line.lower().count("spending limit") == 1, line
    assert "purchase more credits" not in line and "add credits" in line.lower(), line
    assert "not retried" in line and "console.x.ai" in line, line


def test_one_line_caps_any_text_at_300() -> None:
    line = one_line("word " * 200)
    assert len(line) <= LIMIT and line.endswith("…")


def assert_good_line(line: str) -> None:
    assert len(line) <= LIMIT, f"{len(line)} characters: {line}"
    assert "\n" not in line and line == line.strip() and line, repr(line)
    sentences = [s.strip().lower() for s in re.split(r"(?<=[.!?])\s+|: ", line) if s.strip()]
    repeated = {s for s in sentences if len(s) > 12 and sentences.count(s) > 1}
    assert not repeated, f"said twice: {repeated} in {line}"
    for advice in ("console.x.ai", "spending limit", "xai_api_key", "not retried"):
        assert line.lower().count(advice) <= 1, f"{advice!r} twice: {line}"
