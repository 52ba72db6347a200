"""B8 batch vs deferred: the same items through xAI's Batch API engine and the deferred path.

Both sides get the same ``items`` chat requests (seeded processing times, log-uniform
``low``..``high`` emulated seconds, set per request with ``[[latency=S]]``), each against its own
emulator process running ``scale`` times faster than real time (as in B4), one side after the
other, each in a child process of its own (``python -m benchmarks.batch --side ...``):

* ``deferred``: the product's real ``Runtime.defer`` and ``Poller`` (1 POST per item, then its
  GETs), schedule and global pace divided by ``scale`` as in B4;
* ``batch``: :class:`batch_engine.BatchEngine` with the SQLite store (create, adds of <= 1,000,
  polls of the batch on ``BATCH_SCHEDULE`` / ``scale``, result pages).

Figures: HTTP requests the emulator answered in all, wall time from the first request to the
last answer held (real seconds, and emulated = real x scale), cost in USD from the answers'
``usage.cost_in_usd_ticks``, and the main thread's responsiveness meanwhile (how late a 20 ms
sleep wakes up: the GIL held by the loop thread shows there). Targets (issue 12): batch sends
>= 50x fewer requests, and costs the deferred cost x 0.8 (grok-4.3's batch discount).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from .common import FAKE_KEY, REPO, EmulatorProcess, admin_call, percentile, ratio

TARGET_REQUEST_RATIO = 50.0
TARGET_COST_RATIO = 0.8


@dataclass(frozen=True)
class Plan:
    items: int = 1000
    low: float = 20.0  # emulated seconds
    high: float = 600.0
    scale: float = 20.0
    seed: int = 20261201
    model: str = "grok-4.3"

    def latencies(self) -> list[float]:
        rng = random.Random(self.seed)
        return [math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
                for _ in range(self.items)]


def default_model() -> str:
    """grok-4.3 when the emulator's catalogue lists it, else grok-4, a retired slug that xAI
    serves and bills as grok-4.3 (CHANGES.md), so its batch price is the same 20 % off."""
    from xai_defer_magic.emulator.catalogue import resolve

    return "grok-4.3" if resolve("grok-4.3") is not None else "grok-4"


def prompt(index: int, latency: float) -> str:
    return f"Benchmark item {index}: summarise row {index}. [[latency={latency:.3f}]]"


class LagSampler:
    """How late the main thread wakes from 20 ms sleeps while the work runs (ms)."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.perf_counter()
            time.sleep(0.02)
            self.lags.append((time.perf_counter() - start - 0.02) * 1000)

    def __enter__(self) -> LagSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def summary(self) -> dict[str, float]:
        lags = self.lags or [0.0]
        return {"p50_ms": percentile(lags, 50), "p95_ms": percentile(lags, 95),
                "max_ms": max(lags)}


# --- the two sides (each in its own child process) ----------------------------------------------


def run_deferred(base_url: str, plan: Plan) -> dict[str, Any]:
    from xai_defer_magic.core.options import RequestOptions
    from xai_defer_magic.core.schedule import PollSchedule, PollSettings
    from xai_defer_magic.runtime.runtime import Runtime
    from xai_defer_magic.runtime.settings import Settings

    os.environ["XAI_API_KEY"] = FAKE_KEY
    schedule = PollSchedule(first=1.0 / plan.scale, growth=0.1, cap=30.0 / plan.scale)
    poll = PollSettings(schedule=schedule, max_polls_per_second=20.0 * plan.scale)
    with tempfile.TemporaryDirectory(prefix="xdm-bench-b8-") as home:
        runtime = Runtime(Settings(base_url=base_url, home=home, poll=poll))
        try:
            start = time.monotonic()
            jobs = [runtime.defer(prompt(i, t), RequestOptions(model=plan.model), display=False)[0]
                    for i, t in enumerate(plan.latencies())]
            submitted = time.monotonic() - start
            for job in jobs:
                job.result(600)
            wall = time.monotonic() - start
            costs = [job.cost_usd for job in jobs]
        finally:
            runtime.close()
    return {"wall_seconds": wall, "submit_seconds": submitted, "answers": len(jobs),
            "cost_usd": sum(c for c in costs if c is not None),
            "items_without_cost": sum(c is None for c in costs)}


def run_batch(base_url: str, plan: Plan) -> dict[str, Any]:
    import httpx

    from xai_defer_magic.core.options import RequestOptions
    from xai_defer_magic.core.request import build_request
    from xai_defer_magic.core.schedule import PollSchedule
    from xai_defer_magic.engines.batch.engine import (
        BATCH_SCHEDULE,
        RESULTS_SCHEDULE,
        BatchEngine,
        EngineSettings,
        batch_name,
    )
    from xai_defer_magic.http.batch import BatchClient
    from xai_defer_magic.journal.batches import SQLiteBatchStore
    from xai_defer_magic.loop import LoopThread

    def scaled(s: PollSchedule) -> PollSchedule:
        return PollSchedule(first=s.first / plan.scale, growth=s.growth, cap=s.cap / plan.scale,
                            jitter=s.jitter)

    settings = EngineSettings(schedule=scaled(BATCH_SCHEDULE),
                              results_schedule=scaled(RESULTS_SCHEDULE))
    items = [(f"b8-{i:05d}", build_request(prompt(i, t), RequestOptions(model=plan.model)))
             for i, t in enumerate(plan.latencies())]
    loop = LoopThread(name="xai-defer-poller")
    with tempfile.TemporaryDirectory(prefix="xdm-bench-b8-") as home:
        async def main() -> Any:
            async with httpx.AsyncClient(timeout=30) as http:
                client = BatchClient(http, base_url, FAKE_KEY, retry_base=0.5 / plan.scale)
                engine = BatchEngine(client, SQLiteBatchStore(home, "b8"), items,
                                     name=batch_name("b8", cell="B8"),
                                     settings=settings)
                return await engine.run(), client.calls

        try:
            start = time.monotonic()
            results, calls = loop.run(main(), 900)
            wall = time.monotonic() - start
        finally:
            loop.stop()
    ticks = [r.cost_in_usd_ticks if r else None for r in results]
    return {"wall_seconds": wall, "answers": sum(1 for r in results if r and r.completion),
            "cost_usd": sum(t for t in ticks if t is not None) / 1e10,
            "items_without_cost": sum(t is None for t in ticks), "client_calls": calls}


def run_side(side: str, plan: Plan) -> dict[str, Any]:
    """One side against a fresh emulator process; the emulator's own request counts."""
    with EmulatorProcess(latency=0.0, time_scale=plan.scale, seed=plan.seed) as emulator:
        with LagSampler() as lag:
            outcome = (run_deferred if side == "deferred" else run_batch)(emulator.base_url, plan)
        stats = admin_call(emulator.root, "stats")
    return {**outcome, "side": side, "requests": stats["total"],
            "by_method_status": stats["by_method_status"], "main_thread_lag": lag.summary()}


# --- both sides, then the comparison ----------------------------------------------------------


def run(plan: Plan | None = None) -> dict[str, Any]:
    plan = plan or Plan(model=default_model())
    env = {**os.environ, "PYTHONPATH": str(REPO), "XAI_API_KEY": FAKE_KEY}
    sides: dict[str, dict[str, Any]] = {}
    for side in ("batch", "deferred"):
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.batch", "--side", side,
             "--plan", json.dumps(asdict(plan))],
            capture_output=True, text=True, cwd=str(REPO), env=env, timeout=1800,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"B8 {side}: exit {proc.returncode}: {proc.stderr.strip()[-2000:]}")
        sides[side] = json.loads(proc.stdout)
    batch, deferred = sides["batch"], sides["deferred"]
    request_ratio = ratio(deferred["requests"], batch["requests"])
    cost_ratio = ratio(batch["cost_usd"], deferred["cost_usd"])
    metrics = {
        "deferred_requests": deferred["requests"],
        "batch_requests": batch["requests"],
        "request_ratio": request_ratio,
        "deferred_wall_s": deferred["wall_seconds"],
        "batch_wall_s": batch["wall_seconds"],
        "deferred_wall_emulated_s": deferred["wall_seconds"] * plan.scale,
        "batch_wall_emulated_s": batch["wall_seconds"] * plan.scale,
        "deferred_cost_usd": deferred["cost_usd"],
        "batch_cost_usd": batch["cost_usd"],
        "cost_ratio": cost_ratio,
        "deferred_main_lag_p95_ms": deferred["main_thread_lag"]["p95_ms"],
        "batch_main_lag_p95_ms": batch["main_thread_lag"]["p95_ms"],
    }
    requests_ok = request_ratio >= TARGET_REQUEST_RATIO
    cost_ok = abs(cost_ratio - TARGET_COST_RATIO) <= 1e-4
    complete = deferred["answers"] == batch["answers"] == plan.items
    return {
        "plan": asdict(plan),
        "sides": sides,
        "metrics": metrics,
        "target": {"requests_target_met": requests_ok, "cost_target_met": cost_ok,
                   "all_answers": complete, "passed": requests_ok and cost_ok and complete},
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    m, t, plan = result["metrics"], result["target"], result["plan"]
    return [
        f"B8: {plan['items']} items, {plan['model']}, processing {plan['low']:g}-{plan['high']:g}"
        f" emulated s, clock x{plan['scale']:g}",
        f"  requests: deferred {m['deferred_requests']:,} vs batch {m['batch_requests']:,} "
        f"= {m['request_ratio']:.0f}x fewer (target >= {TARGET_REQUEST_RATIO:g}x: "
        f"{'met' if t['requests_target_met'] else 'MISSED'})",
        f"  wall to last answer: deferred {m['deferred_wall_s']:.1f} s "
        f"({m['deferred_wall_emulated_s']:.0f} emulated), batch {m['batch_wall_s']:.1f} s "
        f"({m['batch_wall_emulated_s']:.0f} emulated)",
        f"  cost: deferred ${m['deferred_cost_usd']:.4f} vs batch ${m['batch_cost_usd']:.4f} "
        f"= x{m['cost_ratio']:.4f} (target x{TARGET_COST_RATIO}: "
        f"{'met' if t['cost_target_met'] else 'MISSED'})",
        f"  main-thread lag p95: deferred {m['deferred_main_lag_p95_ms']:.1f} ms, "
        f"batch {m['batch_main_lag_p95_ms']:.1f} ms",
        f"  {'PASS' if t['passed'] else 'FAIL'}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="B8: batch vs deferred (python -m "
                                                 "benchmarks.batch prints the comparison).")
    parser.add_argument("--side", choices=("batch", "deferred"), default=None)
    parser.add_argument("--plan", type=json.loads, default="{}")
    args = parser.parse_args(argv)
    plan = Plan(**{"model": default_model(), **args.plan})
    if args.side:
        json.dump(run_side(args.side, plan), sys.stdout)
        return 0
    result = run(plan)
    print("\n".join(summary_lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
