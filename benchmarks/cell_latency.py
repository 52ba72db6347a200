"""B1 cell latency: start-to-idle of a ``%%grok_defer`` cell versus a bare ``httpx.post``, and
versus a trivial ``1+1`` cell when every POST takes 300 ms or 600 ms (the emulator's
``submit_delay``, a real TLS round trip to xAI): a cell never waits for the POST, so its time
must stay within 1.5x of the trivial cell's whatever the latency.

Every cell submits a deferred chat request to the same emulator process from the same real
ipykernel; the clock runs on the client, from sending ``execute_request`` to reading the
cell's ``idle`` status. The kinds take turns (the order rotates every round), after warm-ups.

* ``%%grok_defer --fresh``: validates, journals the intent (SQLite, synchronous=FULL), shows
  the live card and returns; the POST runs on the loop thread (``--fresh``: every cell is a
  new request, never answered by reuse);
* ``httpx.post(...)``: what a user would write; it builds a new client (and connection) per
  call, as ``httpx.post`` does;
* ``client.post(...)`` on an ``httpx.Client`` made beforehand: the floor, a kept-alive
  connection and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import REPO, admin_call, median, percentile, ratio
from .kernels import kernel_with_emulator, timed_cell

SETUP = """\
import os, httpx
_url = os.environ["XAI_BASE_URL"] + "/chat/completions"
_headers = {"Authorization": "Bearer " + os.environ["XAI_API_KEY"]}
_body = {"model": "grok-4", "deferred": True,
         "messages": [{"role": "user", "content": "Benchmark prompt."}]}
_client = httpx.Client()
"""
HTTPX_CELL = """\
_r = httpx.post(_url, json=_body, headers=_headers)
_r.raise_for_status()
_r.json()["request_id"]"""
CLIENT_CELL = """\
_r = _client.post(_url, json=_body, headers=_headers)
_r.raise_for_status()
_r.json()["request_id"]"""
MAGIC_CELL = "%%grok_defer -m grok-4 --fresh -o job\nBenchmark prompt."  # sent, not reused
TRIVIAL_CELL = "1+1"
CELLS = {"magic": MAGIC_CELL, "httpx": HTTPX_CELL, "client": CLIENT_CELL}
POST_LATENCIES = (0.3, 0.6)  # seconds the emulator holds each deferred POST


def _with_post_latency(kernel: Any, emu: Any, seconds: float, runs: int) -> dict[str, float]:
    """The magic against a trivial cell, alternating, while every POST takes ``seconds``."""
    admin_call(emu.root, "config", {"submit_delay": seconds})
    try:
        magic: list[float] = []
        trivial: list[float] = []
        for i in range(runs):
            pair = [(magic, MAGIC_CELL), (trivial, TRIVIAL_CELL)]
            for times, code in pair if i % 2 == 0 else reversed(pair):
                times.append(timed_cell(kernel, code))
        kernel.run("import time as _t, xai_defer_magic as _x\n"
                   "while any(j.status == 'submitting' for j in _x.jobs()): _t.sleep(0.05)")
    finally:
        admin_call(emu.root, "config", {"submit_delay": 0.0})
    tag = f"post_{round(seconds * 1000)}ms"
    return {f"{tag}_grok_defer_median_ms": median(magic) * 1000,
            f"{tag}_trivial_cell_median_ms": median(trivial) * 1000,
            f"{tag}_ratio_to_trivial": ratio(median(magic), median(trivial))}


def run(runs: int = 25, warmup: int = 3, client_repo: Path = REPO) -> dict[str, Any]:
    with kernel_with_emulator(client_repo=client_repo) as (kernel, _emu):
        kernel.run("%load_ext xai_defer_magic")
        kernel.run(SETUP)
        for _ in range(warmup):
            for code in CELLS.values():
                timed_cell(kernel, code)
        times: dict[str, list[float]] = {kind: [] for kind in CELLS}
        kinds = list(CELLS)
        for i in range(runs):
            for kind in kinds[i % 3:] + kinds[:i % 3]:
                times[kind].append(timed_cell(kernel, CELLS[kind]))
        latency = {}
        for seconds in POST_LATENCIES:
            latency.update(_with_post_latency(kernel, _emu, seconds, runs))
        pending = kernel.run("print(sum(j.status == 'pending' for j in __import__("
                             "'xai_defer_magic').jobs()))").text().strip()
    magic, bare, floor = (median(times[k]) for k in ("magic", "httpx", "client"))
    return {
        "metrics": {
            "runs_each": runs,
            "grok_defer_median_ms": magic * 1000,
            "grok_defer_p90_ms": percentile(times["magic"], 90) * 1000,
            "httpx_post_median_ms": bare * 1000,
            "httpx_post_p90_ms": percentile(times["httpx"], 90) * 1000,
            "ratio": ratio(magic, bare),
            "kept_alive_client_median_ms": floor * 1000,
            "ratio_to_kept_alive_client": ratio(magic, floor),
            **latency,
        },
        "details": {"jobs_pending_at_end": int(pending), "warmup_runs_each": warmup},
    }
