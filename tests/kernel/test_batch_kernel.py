"""The issue's "done means" for ``--batch``, in real kernels: a 40-item batch cell survives a
``kill -9`` between its adds and its first result, and the next kernel returns all 40 answers
in input order from the SAME batch, with no request added twice."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support.kernels import Kernel
from tests.support.shell import wait_for
from xai_defer_magic.emulator import Emulator

pytestmark = pytest.mark.kernel

N = 40


def test_a_40_item_batch_cell_survives_a_kill_and_resumes_the_same_batch(
    env: dict[str, str], tmp_path: Any, emulator: Emulator
) -> None:
    emulator.latency = 6.0  # every request runs 6 s after its add: the kill comes before any
    first = Kernel(env, cwd=str(tmp_path))
    try:
        first.run("%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.1\n"
                  "import xai_defer_magic.engines.batch.groups as bg\nbg.CHUNK_ITEMS = 10\n"
                  f"xs = [f'item {{i}}' for i in range({N})]")
        cell = first.run("%%grok_defer --batch --over xs -m grok-4.3 -o g\nName {item}")
        assert cell.idle_at is not None and cell.idle_at - cell.started < 5.0
        wait_for(lambda: emulator.batches.batch_ids(), "the batch, created after the cell returned")
        (batch_id,) = emulator.batches.batch_ids()
        deadline = time.monotonic() + 30
        while len(emulator.batches.items(batch_id)) < N:
            assert time.monotonic() < deadline, "the adds never finished"
            time.sleep(0.02)
        first.pump(0.3)
        heads = [m.get("value", "") for m in first.widgets.models.values()]
        assert any(f"batch {batch_id}" in h for h in heads), "the card names its batch"
        results_read = [r for r in emulator.requests() if r.path.endswith("/results")]
        assert not results_read and all(
            i.state == "pending" for i in emulator.batches.items(batch_id).values())
        first.kill()  # between the adds and the first result
    finally:
        first.stop()
    adds_before = [r for r in emulator.requests() if r.path.endswith("/requests")]
    assert [len(r.body["batch_requests"]) for r in adds_before] == [10, 10, 10, 10]

    second = Kernel(env, cwd=str(tmp_path))
    try:
        second.run("%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.1\n"
                   "import xai_defer_magic, json\ng = xai_defer_magic.groups()[0]")
        waited = second.run("%grok_wait " + second.run("print(g.id)").text().strip(),
                            timeout=90).text()
        assert f"{N} done" in waited and f"batch {batch_id}" in waited
        out = second.run("print(json.dumps(g.results(0)))\n"
                         "print(json.dumps([j.request_id for j in g]))\nprint(g.id)")
        answers, request_ids, group_id = out.text().splitlines()[-3:]
    finally:
        second.stop()
    assert [a.split("Re: “")[1].split("”")[0] for a in json.loads(answers)] == [
        f"Name item {i}" for i in range(N)]
    expected = [f"{group_id}-{i:06d}" for i in range(N)]
    assert json.loads(request_ids) == expected
    assert emulator.batches.batch_ids() == [batch_id], "one batch, resumed"
    assert sorted(emulator.batches.items(batch_id)) == expected, "no request added twice"
    creates = [r for r in emulator.requests() if r.method == "POST" and r.path == "/v1/batches"]
    assert len(creates) == 1
    assert not [r for r in emulator.requests() if r.path == "/v1/chat/completions"]
