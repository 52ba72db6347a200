"""One call that makes a notebook runnable anywhere: real xAI with a key, the emulator without."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from xai_defer_magic.http.deferred import is_loopback

from .server import Emulator

EMULATOR_KEY = "emulator-key-not-a-secret"
_started: Emulator | None = None


def use_emulator(latency: float | tuple[float, float] = (3.0, 8.0), *, force: bool = False) -> str:
    """Point ``XAI_BASE_URL``/``XAI_API_KEY`` at an in-process emulator unless a key is set.

    Returns a one-line description of where jobs will go. With ``XAI_API_KEY`` set (and no
    loopback ``XAI_BASE_URL``) nothing changes and jobs go to xAI, unless ``force`` is true.
    An emulator already named by a loopback ``XAI_BASE_URL`` (Binder's start script) is reused.
    """
    global _started
    base = os.environ.get("XAI_BASE_URL", "")
    host = (urlsplit(base).hostname or "") if base else ""
    if base and is_loopback(host):
        os.environ.setdefault("XAI_API_KEY", EMULATOR_KEY)
        return f"Using the emulator at {base} (offline, emulated answers)."
    if os.environ.get("XAI_API_KEY") and not force:
        where = base or "https://api.x.ai/v1"
        return f"Using xAI at {where} with XAI_API_KEY from the environment."
    if _started is None:
        _started = Emulator(latency=latency).start()
    os.environ["XAI_BASE_URL"] = _started.base_url
    os.environ["XAI_API_KEY"] = EMULATOR_KEY
    return (
        f"No XAI_API_KEY: using the built-in emulator at {_started.base_url} "
        "(offline, emulated answers)."
    )
