"""B6 ``%load_ext xai_defer_magic`` time versus ``import ipywidgets``, each in a fresh kernel.

Each sample is a new ipykernel (what a notebook user starts): the clock runs from sending the
cell to its ``idle`` status, for either ``%load_ext xai_defer_magic`` or ``import ipywidgets``
(so both pay the same round trip, and neither finds the other's modules already imported). The
two kinds alternate. The journal directory is a fresh one with nothing to resume; a last cell
of each load sample says which heavy modules the load imported (none should be).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from tests.support.kernels import Kernel

from .common import REPO, client_env, median, ratio
from .kernels import output_text, timed_cell

CELLS = {"load_ext": "%load_ext xai_defer_magic", "ipywidgets": "import ipywidgets"}
HEAVY = ("httpx", "ipywidgets", "markdown_it", "nh3", "pandas", "pydantic",
         "xai_defer_magic.journal", "xai_defer_magic.runtime.runtime")  # IPython has sqlite3
PROBE = ("import json, sys, threading\n"
         "print(json.dumps({'imported': [m for m in %r if m in sys.modules],\n"
         "                  'threads': sorted(t.name for t in threading.enumerate())}))")
UNREACHABLE = "http://127.0.0.1:9/v1"  # load must not talk to any server: none answers here


def _sample(code: str, client_repo: Path) -> tuple[float, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="xdm-bench-b6-") as home:
        kernel = Kernel(client_env(UNREACHABLE, home, client_repo), cwd=home)
        try:
            timed_cell(kernel, "1")  # the kernel is up and has answered once
            seconds = timed_cell(kernel, code)
            probe = json.loads(output_text(kernel, PROBE % (HEAVY,)))
        finally:
            kernel.stop()
    return seconds, probe


def run(runs: int = 10, client_repo: Path = REPO) -> dict[str, Any]:
    seconds: dict[str, list[float]] = {name: [] for name in CELLS}
    probes: list[dict[str, Any]] = []
    for i in range(runs):
        order = list(CELLS) if i % 2 == 0 else list(reversed(CELLS))
        for name in order:
            took, probe = _sample(CELLS[name], client_repo)
            seconds[name].append(took)
            if name == "load_ext":
                probes.append(probe)
    load, widgets = median(seconds["load_ext"]), median(seconds["ipywidgets"])
    imported = sorted({m for p in probes for m in p["imported"]})
    return {
        "metrics": {
            "runs_each": runs,
            "load_ext_median_ms": load * 1000,
            "import_ipywidgets_median_ms": widgets * 1000,
            "ratio": ratio(load, widgets),
        },
        "details": {
            "heavy_modules_imported_by_load": imported,
            "loop_thread_started_by_load": any("xai-defer-poller" in p["threads"]
                                               for p in probes),
        },
    }
