"""The benchmark suite still runs end to end: ``python -m benchmarks.run --quick``.

No timing is asserted (figures belong to benchmarks/results, not to tests): only that every
benchmark ran without error and reported finite numbers under its documented names.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO

REQUIRED = {
    "B1": ("grok_defer_median_ms", "httpx_post_median_ms", "kept_alive_client_median_ms",
           "ratio", "post_600ms_grok_defer_median_ms", "post_600ms_ratio_to_trivial"),
    "B2": ("median_ms_0_pending",),
    "B3": ("interval_median_s", "interval_max_s", "header_updates"),
    "B4": ("get_ratio_vs_fixed_1s_long_jobs", "ours_delay_over_bound_p50",
           "ours.gets_per_long_job", "fixed_1s.gets_per_long_job", "ours.delay_p50_s",
           "fixed_5s.delay_p95_s", "exp_1_60s.delay_frac_p50", "ours_poller.gets_per_job"),
    "B5": ("rss_growth_mb_per_1000_jobs", "poller_cpu_seconds", "max_tcp_connections",
           "socket_fds"),
    "B6": ("load_ext_median_ms", "import_ipywidgets_median_ms", "ratio"),
    "B7": ("cell_return_ms", "submissions_per_s", "responsiveness_ratio",
           "last_ready_to_card_s", "rss_growth_mb_per_1000_items"),
    "B10": ("run_all_grok_defer_seconds", "run_all_trivial_seconds", "ratio_to_trivial"),
}

pytestmark = pytest.mark.kernel


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@pytest.mark.timeout(240)
def test_quick_run_reports_every_benchmark(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XAI_")}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=230,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "quick.json").read_text())
    assert results["quick"] is True
    assert results["machine"]["nproc"] >= 1 and results["machine"]["cpu_model"]
    for key, names in REQUIRED.items():
        entry = results["benchmarks"][key]
        assert "error" not in entry, f"{key}: {entry.get('error')}"
        metrics = entry["metrics"]
        missing = [n for n in names if n not in metrics]
        assert not missing, f"{key} lacks {missing}"
        bad = {n: v for n, v in metrics.items() if not _is_number(v)}
        assert not bad, f"{key} has non-numeric figures: {bad}"
    levels = results["benchmarks"]["B2"]["details"]["levels"]
    assert levels[0]["pending"] == 0 and len(levels) >= 2
    assert results["benchmarks"]["B4"]["target"]["passed"] in (True, False)
    markdown = (tmp_path / "quick.md").read_text()
    assert "## Machine" in markdown and "B4 per policy" in markdown
    assert "PASS" in proc.stdout or "FAIL" in proc.stdout
