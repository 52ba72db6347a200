"""B3 liveness: how regularly a card's header updates while another cell runs ``time.sleep``.

A ``%%grok_defer`` cell shows a live card (the job stays pending: emulator latency one day);
then a cell runs ``time.sleep(N)``. Every ``comm_msg`` that changes the card's header is
timestamped on the client as it arrives on iopub (``Kernel.widgets.log``); the intervals
between consecutive header updates inside the sleeping cell's run are the figure. A card
frozen by the sleeping cell would show one interval of about N seconds.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any

from .common import median
from .kernels import kernel_with_emulator

ELAPSED = re.compile(r'xdm-elapsed">([^<]*)<')


def _header_times(kernel: Any, since: float, until: float) -> list[tuple[float, str]]:
    cards = kernel.widgets.cards()
    if len(cards) != 1:
        raise RuntimeError(f"expected one card, found {len(cards)}")
    header = cards[0]["children"][0].removeprefix("IPY_MODEL_")
    return [(t, state["value"]) for t, cid, state in kernel.widgets.log
            if cid == header and "value" in state and since <= t <= until]


def run(sleep_seconds: float = 10.0) -> dict[str, Any]:
    with kernel_with_emulator() as (kernel, _emu):
        kernel.run("%load_ext xai_defer_magic")
        kernel.run("%%grok_defer -m grok-4 -o job\nLiveness probe.")
        kernel.pump(1.5)  # the card is on screen and ticking
        sleeper = kernel.wait(kernel.submit(f"import time; time.sleep({sleep_seconds})"),
                              timeout=sleep_seconds + 60)
        assert sleeper.idle_at is not None
        updates = _header_times(kernel, sleeper.started, sleeper.idle_at)
        kernel.run("job.cancel()")
    times = [t for t, _ in updates]
    intervals = [b - a for a, b in pairwise(times)]
    if len(intervals) < 2:
        raise RuntimeError(f"the card header changed {len(updates)} times in {sleep_seconds} s")
    elapsed = {m.group(1) for _, value in updates if (m := ELAPSED.search(value))}
    first_gap = times[0] - sleeper.started
    last_gap = sleeper.idle_at - times[-1]
    return {
        "metrics": {
            "sleep_seconds": sleep_seconds,
            "header_updates": len(updates),
            "interval_median_s": median(intervals),
            "interval_max_s": max(max(intervals), first_gap, last_gap),
        },
        "details": {"distinct_elapsed_labels": len(elapsed),
                    "gap_before_first_update_s": first_gap,
                    "gap_after_last_update_s": last_gap},
    }
