"""Shared pieces: statistics, an emulator in its own process, /proc readings, machine facts.

The emulator runs in a separate process for the kernel and scale benchmarks so that its HTTP
threads never compete for the GIL of the process being measured.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

FAKE_KEY = "fake-test-key-not-a-secret"
REPO = Path(__file__).resolve().parent.parent
PACKAGES = (
    "xai_defer_magic", "ipykernel", "ipython", "ipywidgets", "jupyter_client", "pyzmq",
    "httpx", "tornado",
)


# --- statistics -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty sample."""
    if not values:
        raise ValueError("percentile of an empty sample")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def summary(values: Sequence[float], scale: float = 1.0) -> dict[str, float]:
    """Median, p90, min and max of a sample, multiplied by ``scale`` (e.g. 1000 for ms)."""
    return {
        "n": len(values),
        "median": median(values) * scale,
        "p90": percentile(values, 90) * scale,
        "min": min(values) * scale,
        "max": max(values) * scale,
    }


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.inf


# --- the emulator in its own process ----------------------------------------------------------


class EmulatorProcess:
    """``python -m xai_defer_magic.emulator`` on 127.0.0.1; stopped by its own PID."""

    def __init__(self, latency: float = 86400.0, time_scale: float = 1.0, seed: int = 0) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="xdm-bench-emu-")
        port_file = Path(self._dir.name) / "url"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xai_defer_magic.emulator", "--host", "127.0.0.1",
             "--latency", str(latency), "--time-scale", str(time_scale), "--seed", str(seed),
             "--port-file", str(port_file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(REPO),
        )
        self.base_url = self._wait_for_url(port_file)
        self.root = self.base_url.removesuffix("/v1")

    def _wait_for_url(self, port_file: Path, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"emulator exited early: {err.strip()}")
            text = port_file.read_text().strip() if port_file.exists() else ""
            if text.startswith("http://"):
                return text
            time.sleep(0.02)
        self.stop()
        raise TimeoutError("emulator did not start")

    def stats(self) -> dict[str, Any]:
        return dict(admin_call(self.root, "stats"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self._dir.cleanup()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def admin_call(root: str, action: str, payload: dict[str, Any] | None = None) -> Any:
    """GET (no payload) or POST the emulator's ``/_emulator/<action>``, bypassing any proxy and
    the code under test; returns the parsed JSON."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(f"{root}/_emulator/{action}", data=data,
                                     method="GET" if data is None else "POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=60) as response:
        return json.loads(response.read())


def client_env(base_url: str, home: str, repo: Path = REPO) -> dict[str, str]:
    """What a kernel or child process needs to talk to the emulator with a fake key; ``repo``
    is the checkout whose ``xai_defer_magic`` it imports (another one measures "before")."""
    return {"XAI_API_KEY": FAKE_KEY, "XAI_BASE_URL": base_url, "XAI_DEFER_HOME": home,
            "PYTHONPATH": str(repo)}


# --- /proc readings ---------------------------------------------------------------------------


def rss_bytes() -> int:
    """VmRSS of this process, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def thread_cpu_seconds(native_id: int) -> float:
    """utime + stime of one thread of this process (``time.thread_time`` reads only its own)."""
    raw = Path(f"/proc/self/task/{native_id}/stat").read_text()
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "; fields[0] is the state
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def socket_fds() -> int:
    """Open sockets of this process, counted from /proc/self/fd."""
    count = 0
    for entry in os.scandir("/proc/self/fd"):
        try:
            if os.readlink(entry.path).startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


# --- the machine ------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, memory, OS, Python and package versions, and the load right now."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "mem_total_gb": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "loadavg_at_start": os.getloadavg()[0],
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
