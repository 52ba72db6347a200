"""B10 "Run All" wall time: 20 ``%%grok_defer`` cells queued at once in a real kernel, as a
notebook's Run All sends them, against an emulator whose every deferred POST takes 600 ms (a
real TLS round trip to xAI). The clock runs from the first ``execute_request`` to the last
cell's ``idle``; the same for 20 trivial cells is the floor. A cell that waited for its POST
would make this about 20 x 600 ms; one that returns at once keeps it near the floor.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .common import REPO, admin_call, ratio
from .kernels import kernel_with_emulator, timed_cell

POST_SECONDS = 0.6


def _run_all(kernel: Any, cells: list[str]) -> float:
    """Seconds from queueing ``cells`` together to the last one's idle status."""
    started = time.monotonic()
    executions = [kernel.submit(code) for code in cells]
    for execution in executions:
        kernel.wait(execution, 600)
        if execution.status != "ok":
            raise RuntimeError(f"a cell failed: {execution.outputs}")
    return max(e.idle_at for e in executions) - started


def run(cells: int = 20, client_repo: Path = REPO) -> dict[str, Any]:
    """``client_repo``: the checkout whose extension the kernel runs (an older one: "before")."""
    with kernel_with_emulator(client_repo=client_repo) as (kernel, emu):
        kernel.run("%load_ext xai_defer_magic")
        timed_cell(kernel, "%%grok_defer -o warm\nWarm-up.")  # imports and the loop thread
        admin_call(emu.root, "config", {"submit_delay": POST_SECONDS})
        trivial = _run_all(kernel, [f"{i} + 1" for i in range(cells)])
        magic = _run_all(kernel, [f"%%grok_defer -o job{i}\nRun All cell {i}."
                                  for i in range(cells)])
        kernel.run("import time as _t, xai_defer_magic as _x\n"
                   "_end = _t.monotonic() + 120\n"
                   "while any(j.status == 'submitting' for j in _x.jobs()) "
                   "and _t.monotonic() < _end: _t.sleep(0.05)\n"
                   f"assert sum(j.request_id is not None for j in _x.jobs()) == {cells + 1}")
    return {
        "metrics": {
            "cells": cells,
            "post_latency_ms": POST_SECONDS * 1000,
            "run_all_grok_defer_seconds": magic,
            "run_all_trivial_seconds": trivial,
            "ratio_to_trivial": ratio(magic, trivial),
        },
        "details": {"if_each_cell_waited_for_its_post_seconds": cells * POST_SECONDS},
    }
