"""A group item's request id, answered while another process holds the journal's write lock,
survives a kill -9 of the kernel during the lock: the next kernel finds it, sends nothing again."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tests.support.kernels import Kernel
from tests.support.locks import chat_posts, on_disk, write_lock
from tests.support.shell import wait_for
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal import DB_NAME


def test_request_id_answered_under_a_lock_survives_kill_9_during_the_lock(
    env: dict[str, str], tmp_path: Path, emulator: Emulator, home: Path
) -> None:
    emulator.latency = 0.3
    emulator.configure({"slow_rate": 1.0, "slow_seconds": 2.0, "faults_apply_to": "post"})
    first = Kernel(env, cwd=str(tmp_path))
    try:
        first.run("%load_ext xai_defer_magic\n%config GrokDefer.model = 'grok-3'\n"
                  "import time, xai_defer_magic\nxai_defer_magic.groups()\nxs = ['only item']")
        first.run("%%grok_defer --over xs -o g\n{item}")
        wait_for(lambda: on_disk(home, "SELECT state FROM group_items") == [("sending",)],
                 "the item's sending row", 10)
        with write_lock(home / DB_NAME, 60) as holder:  # the POST (2 s) returns under the lock
            status = first.run(
                "deadline = time.monotonic() + 20\n"
                "while g[0].status != 'pending' and time.monotonic() < deadline:\n"
                "    time.sleep(0.05)\n"
                "print(g[0].status, g[0].request_id)", timeout=40).text().split()
            assert holder.poll() is None, "the lock was released too early"
            assert status[0] == "pending", f"the kernel never took the request id: {status}"
            first.kill()  # no atexit, no flush: a crash while the lock is held
    finally:
        first.stop()
    assert chat_posts(emulator) == Counter({"only item": 1})
    (request_id,) = emulator.job_ids()
    emulator.reset(faults=True)

    second = Kernel(env, cwd=str(tmp_path))
    try:
        second.run("%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.1\n"
                   "import json, xai_defer_magic\ng = xai_defer_magic.groups()[0]")
        second.run("%grok_wait " + second.run("print(g.id)").text().strip(), timeout=60)
        out = second.run("print(json.dumps([(j.status, j.error, j.request_id) for j in g]))")
    finally:
        second.stop()
    assert json.loads(out.text()) == [["done", None, request_id]]
    assert chat_posts(emulator) == Counter(), "not sent again"
    assert emulator.delivered_count(request_id) == 1
    assert on_disk(home, "SELECT state, request_id FROM group_items") == [
        ("accepted", request_id)]
