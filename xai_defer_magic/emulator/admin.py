"""``/_emulator/<action>``: out-of-process control for benchmarks, Binder and the CLI.

``GET stats|config``, ``POST config|reset|complete/<id>|expire/<id>``; no auth, and never
recorded as API traffic, so it cannot disturb the counts it reports.
"""

from __future__ import annotations

from typing import Any, Protocol

from .replies import (
    INVALID_ARGUMENT,
    NOT_FOUND,
    Reply,
    error_reply,
    json_reply,
    loads_or_none,
    no_route,
)

ADMIN_PREFIX = "/_emulator/"


class Controls(Protocol):
    """The emulator's public controls, the only part of it the admin routes call."""

    def stats(self) -> dict[str, Any]: ...

    def id_counts(self) -> dict[str, dict[str, int]]: ...

    def config(self) -> dict[str, Any]: ...

    def configure(self, settings: dict[str, Any]) -> None: ...

    def reset(self, *, jobs: bool = False, faults: bool = False) -> None: ...

    def complete(self, request_id: str) -> None: ...

    def expire(self, request_id: str) -> None: ...


def admin_reply(emulator: Controls, method: str, path: str, raw: bytes) -> Reply:
    """Answer one admin call; a bad setting is a 400, an unknown id a 404."""
    action = path[len(ADMIN_PREFIX):]
    if method == "GET" and action == "stats":
        return json_reply(200, {**emulator.stats(), "ids": emulator.id_counts()})
    if method == "GET" and action == "config":
        return json_reply(200, emulator.config())
    if method != "POST":
        return no_route()
    payload = loads_or_none(raw) if raw.strip() else {}
    if not isinstance(payload, dict):
        return error_reply(400, INVALID_ARGUMENT, "Expected a JSON object.")
    try:
        return _post(emulator, action, payload)
    except (ValueError, TypeError) as exc:
        return error_reply(400, INVALID_ARGUMENT, str(exc))
    except KeyError as exc:
        return error_reply(404, NOT_FOUND, str(exc.args[0]))


def _post(emulator: Controls, action: str, payload: dict[str, Any]) -> Reply:
    if action == "config":
        emulator.configure(payload)
        return json_reply(200, emulator.config())
    if action == "reset":
        emulator.reset(jobs=bool(payload.get("jobs")), faults=bool(payload.get("faults")))
        return json_reply(200, {"ok": True})
    verb, _, request_id = action.partition("/")
    if verb in ("complete", "expire") and request_id:
        (emulator.complete if verb == "complete" else emulator.expire)(request_id)
        return json_reply(200, {"ok": True})
    return no_route()
