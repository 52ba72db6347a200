"""B5 scale: many pending jobs in one process through the real ``Runtime`` and ``Poller``.

Runs in a child process of its own (``python -m benchmarks.scale``) so its memory figures
start clean; the emulator is another process (latency one day, so every job stays pending).
After one warm-up job, ``N`` jobs are submitted with ``Runtime.defer(display=False)``; then:

* RSS growth: VmRSS (``/proc/self/status``) after the submits minus before, per 1,000 jobs;
* poller CPU: utime+stime of the ``xai-defer-poller`` thread (``/proc/self/task/<tid>/stat``)
  over a window right after the submits, when every job is young and polled about once a
  second (the busiest phase); also the GETs the emulator answered in that window;
* TCP connections: the emulator's peak of concurrent connections, and the sockets open in
  this process (``/proc/self/fd``) at the end of the window.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from .common import (
    FAKE_KEY,
    REPO,
    EmulatorProcess,
    admin_call,
    rss_bytes,
    socket_fds,
    thread_cpu_seconds,
)


def measure(base_url: str, admin_root: str, jobs: int, window: float) -> dict[str, Any]:
    """Runs in the child process: submit, then watch the poller thread for ``window`` s."""
    from xai_defer_magic.core.options import RequestOptions
    from xai_defer_magic.runtime.runtime import Runtime
    from xai_defer_magic.runtime.settings import Settings

    os.environ["XAI_API_KEY"] = FAKE_KEY
    with tempfile.TemporaryDirectory(prefix="xdm-bench-b5-") as home:
        runtime = Runtime(Settings(base_url=base_url, home=home))
        try:
            runtime.defer("Warm-up job.", RequestOptions(model="grok-4"), display=False)
            time.sleep(1.5)  # the warm-up job has been polled: client and pool exist
            gc.collect()
            rss0 = rss_bytes()
            admin_call(admin_root, "reset", {})
            t0 = time.monotonic()
            for _ in range(jobs):
                runtime.defer("Benchmark job, kept pending.",
                              RequestOptions(model="grok-4", fresh=True), display=False)
            submit_seconds = time.monotonic() - t0
            gc.collect()
            rss1 = rss_bytes()
            tid = runtime.loop.thread.native_id
            assert tid is not None
            cpu0, gets0, w0 = thread_cpu_seconds(tid), _gets(admin_root), time.monotonic()
            time.sleep(window)
            cpu1, gets1, w1 = thread_cpu_seconds(tid), _gets(admin_root), time.monotonic()
            sockets = socket_fds()
            pending = sum(job.status == "pending" for job in runtime.pending())
            stats = admin_call(admin_root, "stats")
        finally:
            runtime.close()
    return {
        "jobs": jobs,
        "pending": pending,
        "submit_seconds": submit_seconds,
        "rss_before_mb": rss0 / 2**20,
        "rss_after_mb": rss1 / 2**20,
        "window_seconds": w1 - w0,
        "poller_cpu_seconds": cpu1 - cpu0,
        "gets_in_window": gets1 - gets0,
        "max_concurrent_connections": stats["max_concurrent_connections"],
        "socket_fds": sockets,
    }


def _gets(root: str) -> int:
    return int(admin_call(root, "stats")["by_method"].get("GET", 0))


def run(jobs: int = 1000, window: float = 30.0) -> dict[str, Any]:
    """Parent side: an emulator process, the measuring child, and the derived figures."""
    with EmulatorProcess(latency=86400.0) as emu:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.scale", "--base-url", emu.base_url,
             "--jobs", str(jobs), "--window", str(window)],
            capture_output=True, text=True, cwd=str(REPO), timeout=window + jobs * 0.5 + 120,
            env={**os.environ, "PYTHONPATH": str(REPO), "XAI_API_KEY": FAKE_KEY},
        )
    if proc.returncode != 0:
        raise RuntimeError(f"scale child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    raw = json.loads(proc.stdout)
    if raw["pending"] != jobs + 1:
        raise RuntimeError(f"expected {jobs + 1} pending jobs, found {raw['pending']}")
    cpu = raw["poller_cpu_seconds"]
    return {
        "metrics": {
            "jobs": jobs,
            "rss_growth_mb_per_1000_jobs": (raw["rss_after_mb"] - raw["rss_before_mb"])
            * 1000 / jobs,
            "poller_cpu_seconds": cpu,
            "window_seconds": raw["window_seconds"],
            "poller_cpu_percent": 100 * cpu / raw["window_seconds"],
            "gets_in_window": raw["gets_in_window"],
            "cpu_ms_per_get": 1000 * cpu / raw["gets_in_window"] if raw["gets_in_window"] else 0,
            "max_tcp_connections": raw["max_concurrent_connections"],
            "socket_fds": raw["socket_fds"],
            "submit_jobs_per_second": jobs / raw["submit_seconds"],
        },
        "details": raw,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="B5 child: pending jobs in one process.")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args(argv)
    root = args.base_url.removesuffix("/v1")
    json.dump(measure(args.base_url, root, args.jobs, args.window), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
