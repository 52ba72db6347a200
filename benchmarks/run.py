"""Run every benchmark, print a table, write ``results/latest.json`` and ``results/latest.md``.

    python -m benchmarks.run            # the full run (about 6-7 minutes on 2 cores)
    python -m benchmarks.run --quick    # a smoke run (under a minute): results/quick.*
    python -m benchmarks.run --only B1,B4

Benchmarks run one after another (never overlapping, so one does not load the machine for
another). A benchmark that fails is reported as an error and the others still run; the exit
status is 1 if any failed. B4's target is printed as PASS/FAIL and never changes the status.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import (
    batch,
    batch_scale,
    cell_latency,
    fanout,
    liveness,
    load_time,
    polling,
    report,
    responsiveness,
    run_all,
    scale,
)
from .common import REPO, machine_info

RESULTS = Path(__file__).resolve().parent / "results"
BENCHMARKS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10")


@dataclass(frozen=True)
class Config:
    """Sizes of each benchmark; ``quick()`` shrinks them for a smoke run."""

    b1_runs: int = 25
    b1_warmup: int = 3
    b2_levels: tuple[int, ...] = (0, 100, 1000)
    b2_samples: int = 25
    b3_sleep: float = 10.0
    b4_plan: polling.Plan = field(default_factory=polling.Plan)
    b5_jobs: int = 1000
    b5_window: float = 30.0
    b6_runs: int = 10
    b7_items: int = 1000
    b8_plan: batch.Plan = field(default_factory=lambda: batch.Plan(model=batch.default_model()))
    b9_items: int = 10_000
    b10_cells: int = 20
    client_repo: Path = REPO  # the checkout B1, B6 and B10 run in their kernels

    @classmethod
    def quick(cls) -> Config:
        return cls(
            b1_runs=3, b1_warmup=1, b2_levels=(0, 10, 50), b2_samples=5, b3_sleep=4.0,
            b4_plan=polling.Plan(jobs=16, high=120.0, window=20.0, scale=20.0),
            b5_jobs=50, b5_window=3.0, b6_runs=3, b7_items=40,
            b8_plan=batch.Plan(items=50, low=5.0, high=60.0, scale=50.0,
                               model=batch.default_model()),
            b9_items=1000, b10_cells=5,
        )


def b4(plan: polling.Plan) -> dict[str, Any]:
    """B4 with a flat ``metrics`` dict (every policy's figures plus the target's)."""
    result = polling.run(plan)
    metrics: dict[str, Any] = {}
    for policy, data in result["policies"].items():
        for name in ("gets_per_job", "gets_per_long_job", "delay_p50_s", "delay_p95_s",
                     "delay_frac_p50", "delay_frac_p95"):
            metrics[f"{policy}.{name}"] = data[name]
    target = result["target"]
    metrics["get_ratio_vs_fixed_1s_long_jobs"] = target["get_ratio_vs_fixed_1s_long_jobs"]
    metrics["ours_delay_over_bound_p50"] = target["delay_over_bound_p50"]
    metrics["fixed_1s_answer_lag_p95_ms"] = result["health"]["fixed_1s_answer_lag_p95_ms"]
    return {**result, "metrics": metrics}


def runners(config: Config) -> dict[str, Callable[[], dict[str, Any]]]:
    return {
        "B1": lambda: cell_latency.run(config.b1_runs, config.b1_warmup, config.client_repo),
        "B2": lambda: responsiveness.run(config.b2_levels, config.b2_samples),
        "B3": lambda: liveness.run(config.b3_sleep),
        "B4": lambda: b4(config.b4_plan),
        "B5": lambda: scale.run(config.b5_jobs, config.b5_window),
        "B6": lambda: load_time.run(config.b6_runs, config.client_repo),
        "B7": lambda: fanout.run(config.b7_items),
        "B8": lambda: batch.run(config.b8_plan),
        "B9": lambda: batch_scale.run(config.b9_items),
        "B10": lambda: run_all.run(config.b10_cells, config.client_repo),
    }


class LoadSampler:
    """The 1-minute load average every 5 s during the run: how busy the machine was."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-load", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(5.0):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def run_one(key: str, runner: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    print(f"[{time.strftime('%H:%M:%S')}] {report.TITLES[key]} ...", flush=True)
    start = time.monotonic()
    try:
        entry = runner()
    except Exception as exc:
        traceback.print_exc()
        entry = {"error": f"{type(exc).__name__}: {exc}"}
    entry["seconds"] = time.monotonic() - start
    print(f"    done in {entry['seconds']:.0f} s", flush=True)
    return entry


def _finite(obj: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help="comma-separated subset, e.g. B1,B4")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the results")
    parser.add_argument("--client-repo", type=Path, default=REPO,
                        help="run B1, B6 and B10 against another checkout's xai_defer_magic "
                             "(e.g. a worktree of an older commit, for before/after figures)")
    args = parser.parse_args(argv)
    wanted = [k.strip().upper() for k in args.only.split(",") if k.strip()]
    unknown = set(wanted) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    config = Config.quick() if args.quick else Config()
    config = replace(config, client_repo=args.client_repo.resolve())
    started = time.monotonic()
    results: dict[str, Any] = {
        "quick": args.quick,
        "client_repo": str(config.client_repo),
        "command": " ".join(["python -m benchmarks.run",
                             shlex.join(argv if argv is not None else sys.argv[1:])]).strip(),
        "machine": machine_info(),
        "benchmarks": {},
    }
    table = runners(config)
    with LoadSampler() as load:
        for key in wanted:
            results["benchmarks"][key] = run_one(key, table[key])
    results["total_seconds"] = time.monotonic() - started
    results["loadavg_at_end"] = os.getloadavg()[0]
    samples = load.samples or [results["loadavg_at_end"]]
    results["loadavg_during"] = {"mean": sum(samples) / len(samples), "max": max(samples)}
    write(results, args.out, "quick" if args.quick else "latest")
    print()
    print(report.text_report(results))
    print(f"\n{len(wanted)} benchmark(s) in {results['total_seconds']:.0f} s; results in "
          f"{args.out}")
    return 1 if any("error" in e for e in results["benchmarks"].values()) else 0


def write(results: dict[str, Any], out: Path, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(_finite(results), indent=2) + "\n")
    (out / f"{stem}.md").write_text(report.markdown(results))


if __name__ == "__main__":
    sys.exit(main())
