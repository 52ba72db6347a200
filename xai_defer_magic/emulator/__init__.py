"""Offline emulator of xAI's deferred chat completions (tests, benchmarks, Binder, demos).

>>> from xai_defer_magic.emulator import Emulator, Faults
>>> with Emulator(latency=2.0) as emu:          # doctest: +SKIP
...     os.environ["XAI_BASE_URL"] = emu.base_url
"""

from __future__ import annotations

from .quick import use_emulator
from .server import Emulator, Faults, RequestRecord

__all__ = ["Emulator", "Faults", "RequestRecord", "use_emulator"]
