"""Fan-out in a real kernel: one group card per cell, answers in input order, the static
summary replacing the card, the group in %grok_jobs, and a kill -9 mid-submission."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from tests.support.kernels import Kernel, group_cards, record_messages
from tests.support.polling import WITNESS_PROMPT, post_rounds
from xai_defer_magic.emulator import Emulator

pytestmark = [pytest.mark.kernel, pytest.mark.emulator(latency=0.3),
              pytest.mark.grok_config(first_poll=0.1, model="grok-3")]


def accepted_items(emulator: Emulator) -> Counter[str]:
    """Each prompt the emulator accepted (200) a POST for, counted; witness POSTs left out."""
    prompts = (r.body["messages"][-1]["content"] for r in emulator.requests()
               if r.method == "POST" and r.status == 200)
    return Counter(p for p in prompts if p != WITNESS_PROMPT)


def test_list_series_and_dataframe_fan_out_in_a_kernel(kernel: Kernel, emulator: Emulator) -> None:
    kernel.run("import pandas as pd")
    seen = record_messages(kernel)
    cell = kernel.run("xs = ['ant', 'bee', 'cat']\n"
                      "s = pd.Series(['x', 'y'], index=['i1', 'i2'])\n"
                      "df = pd.DataFrame({'text': ['good', 'bad']}, index=[7, 9])")
    cell = kernel.run("%%grok_defer --over xs -o g1\nName {item}")
    assert cell.idle_at is not None and cell.idle_at - cell.started < 3.0
    kernel.run("%%grok_defer --over s -o g2\n{index}: {item}")
    kernel.run("%%grok_defer --over df -o g3\nRate {text}")
    assert len(group_cards(kernel)) == 3, "one card per group cell, not one per item"
    assert not kernel.widgets.cards() or all(
        "xdm-group-card" in c["_dom_classes"] for c in kernel.widgets.cards())
    out = kernel.run(
        "import json\n"
        "r = [g.results(30) for g in (g1, g2, g3)]\n"
        "print(json.dumps([[a.split('Re: “')[1].split('”')[0] for a in x] for x in r]))\n"
        "print(json.dumps([list(g.to_pandas().index) for g in (g1, g2, g3)]))\n"
        "print(json.dumps(list(g3.to_pandas()['text'])))").text().splitlines()
    assert json.loads(out[0]) == [["Name ant", "Name bee", "Name cat"], ["i1: x", "i2: y"],
                                  ["Rate good", "Rate bad"]]
    assert json.loads(out[1]) == [[0, 1, 2], ["i1", "i2"], [7, 9]]
    assert json.loads(out[2]) == ["good", "bad"]

    def summaries() -> list[dict[str, Any]]:
        return [m["content"] for m in seen if m["msg_type"] == "update_display_data"
                and "xdm-group" in m["content"]["transient"].get("display_id", "")]

    kernel.pump_until(lambda: len(summaries()) == 3, 10, "three static summaries")
    for content in summaries():
        data = content["data"]
        assert "application/vnd.jupyter.widget-view+json" not in data
        assert {"text/html", "text/markdown", "text/plain"} <= set(data)
        assert "done" in data["text/plain"]
    jobs = kernel.run("%grok_jobs")
    html = jobs.text("text/html")
    assert html.count('class="xdm-group-row"') == 3 and "<details" in html


def test_kill_mid_submission_sends_no_item_twice_and_the_rest_after_restart(
    env: dict[str, str], tmp_path: Any, emulator: Emulator
) -> None:
    emulator.latency = 0.3
    emulator.faults.slow_rate = 1.0
    emulator.faults.slow_seconds = 0.25
    emulator.faults.faults_apply_to = "post"
    n = 40
    first = Kernel(env, cwd=str(tmp_path))
    try:
        first.run("%load_ext xai_defer_magic\n%config GrokDefer.model = 'grok-3'\n"
                  f"xs = [f'item {{i}}' for i in range({n})]")
        first.run("%%grok_defer --over xs -o g\n{item}")
        deadline = time.monotonic() + 30
        while sum(r.status == 200 for r in emulator.requests() if r.method == "POST") < 8:
            assert time.monotonic() < deadline, "submission never started"
            time.sleep(0.02)
        first.kill()
    finally:
        first.stop()
    post_rounds(emulator, 1)  # POSTs that were in flight have landed at the emulator
    before = accepted_items(emulator)
    assert 8 <= len(before) < n, "killed mid-submission"
    emulator.faults.slow_rate = 0.0

    second = Kernel(env, cwd=str(tmp_path))
    try:
        second.run("%load_ext xai_defer_magic\nimport xai_defer_magic\n"
                   "g = xai_defer_magic.groups()[0]")
        summary = second.run("%grok_wait " + second.run("print(g.id)").text().strip(),
                             timeout=60)
        assert "done" in summary.text()
        out = second.run("import json\nprint(json.dumps([j.status for j in g]))\n"
                         "print(json.dumps([j.error or '' for j in g]))").text().splitlines()
    finally:
        second.stop()
    statuses, errors = json.loads(out[0]), json.loads(out[1])
    sent = accepted_items(emulator)
    assert max(sent.values()) == 1, f"an item was sent twice: {sent.most_common(3)}"
    unknown = [i for i, e in enumerate(errors) if "Unknown whether xAI received" in e]
    assert len(unknown) <= 6, "only items whose POST was in flight are in doubt"
    for i, status in enumerate(statuses):
        if i in unknown:
            assert status == "failed"
        else:
            assert status == "done" and sent[f"item {i}"] == 1, (i, status, errors[i])
    assert len(sent) > len(before), "the second kernel sent the rest"
