"""B2 kernel responsiveness: round trip of a trivial cell (``1``) while many jobs are pending.

Jobs are submitted inside the kernel with ``xai_defer_magic.defer(..., display=False)`` in a
loop (no cards, so this measures the poller, not widget traffic); the emulator process keeps
them pending (latency one day). Round trips are measured right after each submit batch, while
the poller is busy (a job is polled every second for its first 10 s, then every 10% of its
age); the GET rate the emulator saw during the samples is reported alongside. Samples are
spaced by a seeded random 0-200 ms pause so they spread over the polling cycle.
"""

from __future__ import annotations

import random
import time
from typing import Any

from .common import median, percentile, ratio
from .kernels import kernel_with_emulator, output_text, timed_cell

SUBMIT = """\
import xai_defer_magic
for _i in range({count}):
    xai_defer_magic.defer("Benchmark job, kept pending.", model="grok-4", display=False,
                          fresh=True)
import time as _t
_end = _t.monotonic() + 60  # POSTs run in the background: measure once they have landed
while any(j.status == "submitting" for j in xai_defer_magic.jobs()) and _t.monotonic() < _end:
    _t.sleep(0.05)
print(sum(j.status == "pending" for j in xai_defer_magic.jobs()))"""


def _round_trips(kernel: Any, samples: int, rng: random.Random) -> list[float]:
    times = []
    for _ in range(samples):
        time.sleep(rng.uniform(0.0, 0.2))
        times.append(timed_cell(kernel, "1"))
    return times


def _gets(emu: Any) -> int:
    return int(emu.stats()["by_method"].get("GET", 0))


def run(levels: tuple[int, ...] = (0, 100, 1000), samples: int = 25) -> dict[str, Any]:
    rng = random.Random(7)
    rows = []
    with kernel_with_emulator() as (kernel, emu):
        kernel.run("import xai_defer_magic")
        for _ in range(10):
            timed_cell(kernel, "1")  # warm-up
        submitted = 0
        for level in levels:
            started = time.monotonic()
            if level > submitted:
                pending = int(output_text(kernel, SUBMIT.format(count=level - submitted)))
                submitted = level
                if pending != level:
                    raise RuntimeError(f"expected {level} pending jobs, the kernel has {pending}")
            submit_seconds = time.monotonic() - started
            gets0, t0 = _gets(emu), time.monotonic()
            times = _round_trips(kernel, samples, rng)
            get_rate = (_gets(emu) - gets0) / (time.monotonic() - t0)
            rows.append({"pending": level, "median_ms": median(times) * 1000,
                         "p90_ms": percentile(times, 90) * 1000, "max_ms": max(times) * 1000,
                         "gets_per_s_while_measuring": get_rate,
                         "submit_seconds": submit_seconds})
    base = rows[0]["median_ms"]
    for row in rows:
        row["ratio_to_0"] = ratio(row["median_ms"], base)
    metrics: dict[str, Any] = {"samples_each": samples}
    for row in rows:
        n = row["pending"]
        metrics[f"median_ms_{n}_pending"] = row["median_ms"]
        metrics[f"ratio_{n}_pending"] = row["ratio_to_0"]
    return {"metrics": metrics,
            "details": {"levels": rows, "submitted_with": "xai_defer_magic.defer(..., "
                        "display=False) in a loop in the kernel"}}
