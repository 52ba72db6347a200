"""Turn a results dict into the printed table and the commit-ready Markdown file."""

from __future__ import annotations

from typing import Any

TITLES = {
    "B1": "B1 cell latency (start-to-idle, real kernel)",
    "B2": "B2 kernel responsiveness (round trip of `1`)",
    "B3": "B3 liveness (card header updates during time.sleep)",
    "B4": "B4 polling efficiency (scaled clock)",
    "B5": "B5 scale (pending jobs in one process)",
    "B6": "B6 %load_ext time vs import ipywidgets (fresh kernels)",
    "B7": "B7 fan-out of 1,000 items (--over, real kernel)",
    "B8": "B8 Batch API vs deferred, same items (scaled clock)",
    "B9": "B9 batch scale (items added through the batch engine)",
    "B10": "B10 Run All of 20 %%grok_defer cells, POSTs taking 600 ms (real kernel)",
}


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3f}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"
    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
            *(line(r) for r in rows)]


def metrics_table(results: dict[str, Any]) -> list[str]:
    rows = []
    for key, title in TITLES.items():
        if key not in results["benchmarks"]:
            continue  # not in this run (--only)
        entry = results["benchmarks"][key]
        if "error" in entry:
            rows.append([title, "ERROR", entry["error"][:80]])
            continue
        if key == "B4":
            target = entry.get("target", {})
            rows.append([title, "GET ratio fixed 1 s / ours (jobs > 60 s)",
                         fmt(target.get("get_ratio_vs_fixed_1s_long_jobs"))])
            rows.append([title, "ours p50 delay / max(1 s, 10% of job)",
                         fmt(target.get("delay_over_bound_p50"))])
            rows.append([title, "target (>= 5x fewer GETs, p50 within bound)",
                         "PASS" if target.get("passed") else "FAIL"])
            continue
        for name, value in entry.get("metrics", {}).items():
            rows.append([title, name, fmt(value)])
    return _table(["benchmark", "measure", "value"], rows)


POLICY_COLUMNS = [
    ("gets_per_job", "GETs/job"),
    ("gets_per_long_job", "GETs/job >60 s"),
    ("delay_p50_s", "delay p50 s"),
    ("delay_p95_s", "delay p95 s"),
    ("delay_frac_p50", "delay/job p50"),
    ("delay_frac_p95", "delay/job p95"),
    ("delay_over_bound_p50", "p50 delay/bound"),
]


def policy_table(b4: dict[str, Any]) -> list[str]:
    rows = []
    for policy, data in b4.get("policies", {}).items():
        label = b4.get("labels", {}).get(policy, policy)
        rows.append([label, *(fmt(data[k]) for k, _ in POLICY_COLUMNS)])
    return _table(["policy", *(title for _, title in POLICY_COLUMNS)], rows)


def levels_table(levels: list[dict[str, Any]]) -> list[str]:
    """B2: round trips per number of pending jobs, with the poller's load at the time."""
    rows = [[fmt(row["pending"]), fmt(row["median_ms"]), fmt(row["p90_ms"]), fmt(row["max_ms"]),
             fmt(row["ratio_to_0"]), fmt(row["gets_per_s_while_measuring"]),
             fmt(row["submit_seconds"])] for row in levels]
    return _table(["pending jobs", "median ms", "p90 ms", "max ms", "ratio to 0",
                   "GETs/s meanwhile", "s to submit the batch"], rows)


def target_lines(b4: dict[str, Any]) -> list[str]:
    lines = []
    h = b4.get("health")
    if h and not h["ok"]:
        lines.append(
            "WARNING: the machine was too busy for the harness: fixed 1 s got its answers "
            f"{h['fixed_1s_answer_lag_p95_ms']:.0f} ms after their due time at p95 "
            f"(limit {h['limit_ms']:.0f} ms), so its GET counts (and the ratio below) are "
            "understated."
        )
    for key, who in (("target", "our schedule"), ("target_poller", "the real Poller")):
        t = b4.get(key)
        if not t:
            continue
        lines.append(
            f"{'PASS' if t['passed'] else 'FAIL'} ({who}): "
            f"GETs on jobs > 60 s: fixed 1 s / ours = {t['get_ratio_vs_fixed_1s_long_jobs']:.2f}"
            f" (target >= 5: {'met' if t['gets_target_met'] else 'MISSED'}); "
            f"p50 of delay / max(1 s, 10% of job) = {t['delay_over_bound_p50']:.2f}"
            f" (target <= 1: {'met' if t['delay_target_met'] else 'MISSED'})"
        )
    return lines


def text_report(results: dict[str, Any]) -> str:
    out = metrics_table(results)
    b4 = results["benchmarks"].get("B4", {})
    if "policies" in b4:
        out += ["", "B4 per policy (times in emulated seconds):", *policy_table(b4),
                *target_lines(b4)]
    return "\n".join(out)


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    b4 = results["benchmarks"].get("B4", {})
    lines = [
        "# Benchmark results" + (" (quick smoke run)" if results["quick"] else ""),
        "",
        f"Command: `{results['command']}` — run {m['date_utc']} UTC, "
        f"{results['total_seconds']:.0f} s in total. How each figure is measured: "
        "[benchmarks/README.md](../README.md).",
        "",
        "## Machine",
        "",
        f"- nproc: {m['nproc']}; CPU: {m['cpu_model']}; memory: {m['mem_total_gb']} GB",
        f"- OS: {m['os']}; Python {m['python']}",
        f"- packages: {packages}",
        f"- 1-minute load average: {m['loadavg_at_start']:.2f} at the start, "
        f"{results['loadavg_during']['mean']:.2f} on average during the run (max "
        f"{results['loadavg_during']['max']:.2f}), {results['loadavg_at_end']:.2f} at the end "
        "(it counts the benchmarks' own processes too; other work on the machine adds noise)",
        "",
        "## Figures",
        "",
        *metrics_table(results),
    ]
    b2 = results["benchmarks"].get("B2", {})
    if "details" in b2:
        lines += ["", "## B2 per level", "", *levels_table(b2["details"]["levels"])]
    if "policies" in b4:
        plan = b4["plan"]
        lines += [
            "",
            "## B4 per policy",
            "",
            f"{plan['jobs']} jobs, processing times log-uniform {plan['low']:g}–{plan['high']:g} "
            f"s, arrivals spread over {plan['window']:g} s, clock scale {plan['scale']:g}x, "
            f"seed {plan['seed']}. Times in emulated seconds; \"bound\" is max(1 s, 10% of the "
            "job's processing time).",
            "",
            *policy_table(b4),
            "",
            *(f"- {line}" for line in target_lines(b4)),
        ]
    lines += ["", "## Run times", ""]
    lines += [f"- {key}: {entry.get('seconds', 0):.0f} s"
              for key, entry in results["benchmarks"].items()]
    return "\n".join(lines) + "\n"
