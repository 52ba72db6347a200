"""The canary API key of the secret audit, and the search that must never find it."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path


def new_canary() -> str:
    """A fresh fake key, random enough that any piece of it found anywhere is a leak."""
    return "xai-CANARY-" + secrets.token_hex(16)


def fragments(canary: str) -> list[bytes]:
    """What must never appear: the key, its random part, either half of it, and base64 forms."""
    token = canary.rsplit("-", 1)[1]
    plain = [canary, token, token[:16], token[16:]]
    encoded = [base64.b64encode(s.encode()).decode() for s in (canary, f"Bearer {canary}")]
    return [s.encode() for s in plain + encoded]


def assert_absent(canary: str, where: str, data: bytes | str) -> None:
    raw = data.encode() if isinstance(data, str) else data
    for fragment in fragments(canary):
        assert fragment not in raw, f"{where} contains a piece of the API key: {fragment!r}"


def journal_bytes(home: Path) -> dict[str, bytes]:
    """Every file under the journal directory (database, WAL, shm), by name."""
    return {p.name: p.read_bytes() for p in home.rglob("*") if p.is_file()}
