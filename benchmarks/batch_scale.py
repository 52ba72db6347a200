"""B9 batch scale: 10,000 items through the batch engine, in a child process of its own.

The emulator is another process (processing time one day, so every request stays pending).
Measured from the moment the items are handed over: the time until the engine is scheduled on
the loop thread (what a cell would wait for), until every ``batch_request_id`` is journaled,
until the first add call returns and until all adds are done; the RSS growth (VmRSS) from
before the items were built to after the last add; then a cancel, and the time to read and
journal the 10,000 "Batch cancelled" results page by page.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any

from .common import FAKE_KEY, REPO, EmulatorProcess, rss_bytes


def measure(base_url: str, items: int) -> dict[str, Any]:
    import httpx

    from xai_defer_magic.core.options import RequestOptions
    from xai_defer_magic.core.request import build_request
    from xai_defer_magic.core.schedule import PollSchedule
    from xai_defer_magic.engines.batch.engine import BatchEngine, EngineSettings, batch_name
    from xai_defer_magic.http.batch import BatchClient
    from xai_defer_magic.journal.batches import SQLiteBatchStore
    from xai_defer_magic.loop import LoopThread

    marks: dict[str, float] = {}
    added = threading.Event()

    class TimedClient(BatchClient):
        async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
            answer = await super()._json(method, path, **kwargs)
            if path.endswith("/requests"):
                marks.setdefault("first_add", time.monotonic())
            return answer

    class TimedStore(SQLiteBatchStore):
        def begin(self, name: str, batch_request_ids: Sequence[str]) -> None:
            super().begin(name, batch_request_ids)
            marks["journaled"] = time.monotonic()

    loop = LoopThread(name="xai-defer-poller")
    engines: list[BatchEngine] = []
    with tempfile.TemporaryDirectory(prefix="xdm-bench-b9-") as home:
        async def main() -> Any:
            async with httpx.AsyncClient(timeout=60) as http:
                client = TimedClient(http, base_url, FAKE_KEY)
                engine = BatchEngine(
                    client, TimedStore(home, "b9"), work, name=batch_name("b9", cell="B9"),
                    settings=EngineSettings(schedule=PollSchedule(first=0.5, cap=1.0)),
                    on_added=lambda _bid: (marks.setdefault("added", time.monotonic()),
                                           added.set()))
                engines.append(engine)
                results = await engine.run()
                return results, client.calls

        gc.collect()
        rss0 = rss_bytes()
        start = time.monotonic()
        options = RequestOptions(model="grok-4.3")
        work = [(f"b9-{i:05d}", build_request(f"Row {i}: classify this row.", options))
                for i in range(items)]
        future = loop.submit(main())
        scheduled = time.monotonic() - start
        if not added.wait(300):
            raise TimeoutError("B9: the adds did not finish within 300 s")
        gc.collect()
        rss1 = rss_bytes()
        cancel_start = time.monotonic()
        loop.run(engines[0].cancel(), 60)
        results, calls = future.result(300)
        drained = time.monotonic() - cancel_start
        loop.stop()
    return {
        "items": items,
        "schedule_seconds": scheduled,
        "journaled_seconds": marks["journaled"] - start,
        "first_add_seconds": marks["first_add"] - start,
        "all_added_seconds": marks["added"] - start,
        "rss_growth_mb": (rss1 - rss0) / 1e6,
        "cancel_and_drain_seconds": drained,
        "cancelled_results": sum(1 for r in results if r and r.cancelled),
        "client_calls": calls,
    }


def run(items: int = 10_000) -> dict[str, Any]:
    with EmulatorProcess(latency=86400.0) as emulator:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.batch_scale", "--child", emulator.base_url,
             "--items", str(items)],
            capture_output=True, text=True, cwd=str(REPO), timeout=900,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )
    if proc.returncode != 0:
        raise RuntimeError(f"B9 child: exit {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    details = json.loads(proc.stdout)
    metrics = {k: details[k] for k in ("schedule_seconds", "journaled_seconds",
                                       "first_add_seconds", "all_added_seconds",
                                       "rss_growth_mb", "cancel_and_drain_seconds")}
    return {"details": details, "metrics": metrics,
            "target": {"returns_within_2s": details["schedule_seconds"] <= 2.0,
                       "memory_within_150mb": details["rss_growth_mb"] <= 150.0}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="B9: 10,000 items through the batch engine.")
    parser.add_argument("--child", metavar="BASE_URL", default=None)
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args(argv)
    if args.child:
        json.dump(measure(args.child, args.items), sys.stdout)
    else:
        print(json.dumps(run(args.items), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
