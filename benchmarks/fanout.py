"""B7 fan-out: ``%%grok_defer --over xs`` with 1,000 items in a real kernel, emulator process.

Measured: the cell's start-to-idle time; submissions per second (POSTs accepted by the
emulator, from the cell's start to the last one); the kernel's responsiveness while the group
submits (B2's trivial cell ``1``, against its idle median just before); the time from the
emulator holding every answer ready to the group card's header saying all are done (the
poller's default pace, 20 GETs/s across all jobs, dominates this); and the kernel's RSS
growth per 1,000 items once every answer is in. Targets: cell <= 1 s, responsiveness <= 2x
idle, <= 50 MB per 1,000 items.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from .common import median, percentile, ratio
from .kernels import kernel_with_emulator, timed_cell

CELL = "%%grok_defer --over xs -o g\nBenchmark item {item}: answer in one line."


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _accepted(emu: Any) -> int:
    return int(emu.stats()["by_method_status"].get("POST 200", 0))


def _card_head(kernel: Any) -> str:
    for model in kernel.widgets.models.values():
        if "xdm-group-card" in model.get("_dom_classes", ()):
            return str(kernel.widgets.child(model["children"][1]).get("value", ""))
    return ""


def run(items: int = 1000, latency: float = 2.0, timeout: float = 600.0) -> dict[str, Any]:
    rng = random.Random(7)
    with kernel_with_emulator(latency=latency) as (kernel, emu):
        kernel.run(f"%load_ext xai_defer_magic\nxs = [f'row {{i}}' for i in range({items})]")
        pid = kernel.km.provisioner.pid
        for _ in range(10):
            timed_cell(kernel, "1")  # warm-up
        idle = [timed_cell(kernel, "1") for _ in range(15)]
        timed_cell(kernel, "import gc; gc.collect()")
        rss_before = _rss_mb(pid)
        started = time.monotonic()
        cell_s = timed_cell(kernel, CELL)
        during: list[float] = []
        deadline = started + timeout
        while _accepted(emu) < items:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {_accepted(emu)} of {items} submitted")
            during.append(timed_cell(kernel, "1"))
            time.sleep(rng.uniform(0.0, 0.1))
        submitted_at = time.monotonic()
        while emu.stats()["jobs"]["pending"] > 0:
            kernel.pump(0.05)
        ready_at = time.monotonic()
        done_text = f"{items:,} done"
        kernel.pump_until(lambda: done_text in _card_head(kernel), timeout, "the card's last row")
        shown_at = time.monotonic()
        timed_cell(kernel, "import gc; gc.collect()")
        rss_after = _rss_mb(pid)
        stats = emu.stats()
    idle_ms, during_ms = median(idle) * 1000, median(during or [float("nan")]) * 1000
    metrics = {
        "items": items,
        "cell_return_ms": cell_s * 1000,
        "submissions_per_s": items / (submitted_at - started),
        "trivial_cell_idle_median_ms": idle_ms,
        "trivial_cell_during_submission_median_ms": during_ms,
        "trivial_cell_during_submission_p90_ms": percentile(during, 90) * 1000,
        "responsiveness_ratio": ratio(during_ms, idle_ms),
        "last_ready_to_card_s": shown_at - ready_at,
        "rss_growth_mb_per_1000_items": (rss_after - rss_before) * 1000 / items,
    }
    return {"metrics": metrics, "details": {
        "samples_during_submission": len(during), "emulator_latency_s": latency,
        "posts": stats["by_method"].get("POST", 0), "gets": stats["by_method"].get("GET", 0),
        "targets": {"cell_return_ms": "<= 1000", "responsiveness_ratio": "<= 2",
                    "rss_growth_mb_per_1000_items": "<= 50"},
        "passed": bool(cell_s <= 1.0 and ratio(during_ms, idle_ms) <= 2.0
                       and (rss_after - rss_before) * 1000 / items <= 50)}}
