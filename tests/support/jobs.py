"""Jobs made without the magic, as an earlier kernel would have left them."""

from __future__ import annotations

import time

import httpx

from tests.support import FAKE_KEY
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal import JobRecord


def submit_directly(emulator: Emulator, prompt: str) -> JobRecord:
    """A job some earlier kernel submitted: on the server and in the journal, nowhere else."""
    body = {"model": "grok-3", "messages": [{"role": "user", "content": prompt}]}
    answer = httpx.post(f"{emulator.base_url}/chat/completions", json={**body, "deferred": True},
                        headers={"Authorization": f"Bearer {FAKE_KEY}"})
    return JobRecord(request_id=answer.json()["request_id"], created_at=time.time(),
                     model="grok-3", request=body, base_url=emulator.base_url)
