"""Forgetting a job drops it here and from the journal, whatever engine runs it."""

from __future__ import annotations

from typing import Any

import xai_defer_magic
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.runtime.runtime import current_runtime

HANG = 30.0


def test_forgetting_a_pending_batch_item_stops_following_it(ip: Any, emulator: Emulator) -> None:
    emulator.latency = 20.0  # the batch's items stay pending for the whole test
    group = xai_defer_magic.defer_many("Say {item}", ["a", "b"], batch=True, display=False)
    job = group.jobs[0]
    assert not job.done
    runtime = current_runtime()
    assert runtime is not None
    runtime.forget(job)
    assert job.status == "cancelled" and "Forgotten" in (job.error or "")
    assert job not in runtime.jobs()
