"""B6 ``%load_ext xai_defer_magic`` time versus ``import ipywidgets``, each in a fresh process.

Each sample is a new Python process that builds an IPython ``InteractiveShell`` and then times
one ``run_cell`` of either ``%load_ext xai_defer_magic`` or ``import ipywidgets`` (so both pay
the same cell overhead, and neither finds the other's modules already imported). The two
kinds alternate. The journal directory is a fresh temporary one, so load has nothing to resume.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from .common import FAKE_KEY, REPO, median, ratio

CHILD = """\
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
code = sys.argv[1]
start = time.perf_counter()
result = shell.run_cell(code, store_history=False)
seconds = time.perf_counter() - start
result.raise_error()
print(json.dumps({"seconds": seconds, "ipywidgets_loaded": "ipywidgets" in sys.modules,
                  "httpx_loaded": "httpx" in sys.modules}))
"""
CELLS = {"load_ext": "%load_ext xai_defer_magic", "ipywidgets": "import ipywidgets"}


def _sample(code: str, home: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "XAI_API_KEY": FAKE_KEY,
           "XAI_DEFER_HOME": home, "IPYTHONDIR": os.path.join(home, "ipython")}
    proc = subprocess.run([sys.executable, "-c", CHILD, code], capture_output=True, text=True,
                          cwd=home, env=env, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"{code!r} failed in a fresh process: {proc.stderr[-2000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run(runs: int = 10) -> dict[str, Any]:
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in CELLS}
    with tempfile.TemporaryDirectory(prefix="xdm-bench-b6-") as home:
        for i in range(runs):
            order = list(CELLS) if i % 2 == 0 else list(reversed(CELLS))
            for name in order:
                samples[name].append(_sample(CELLS[name], home))
    load = median([s["seconds"] for s in samples["load_ext"]])
    widgets = median([s["seconds"] for s in samples["ipywidgets"]])
    return {
        "metrics": {
            "runs_each": runs,
            "load_ext_median_ms": load * 1000,
            "import_ipywidgets_median_ms": widgets * 1000,
            "ratio": ratio(load, widgets),
        },
        "details": {
            "load_ext_imports_ipywidgets": all(s["ipywidgets_loaded"] for s in samples["load_ext"]),
            "load_ext_imports_httpx": all(s["httpx_loaded"] for s in samples["load_ext"]),
        },
    }
