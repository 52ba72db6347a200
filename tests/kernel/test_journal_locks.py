"""A locked journal in real kernels: answers that arrive while another process holds the
database's write lock survive a kill -9 of the kernel, and the next kernel shows each once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.journal import responses_on_disk
from tests.support.kernels import Kernel, all_submitted
from tests.support.shell import wait_for
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal import DB_NAME

LOCK_SECONDS = 14.0

HOLDER = textwrap.dedent(
    """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    conn.execute("ROLLBACK")
    print("released", flush=True)
    """
)


def start_holder(db: Path, seconds: float) -> subprocess.Popen[str]:
    """A second process that takes the write lock and keeps it for ``seconds``."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture
def kernels(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], Kernel]]:
    started: list[Kernel] = []

    def start() -> Kernel:
        kernel = Kernel(env, cwd=str(tmp_path))
        started.append(kernel)
        kernel.run("%load_ext xai_defer_magic\n%config GrokDefer.first_poll = 0.5")
        return kernel

    yield start
    for kernel in started:
        kernel.stop()


def test_answers_arriving_while_another_process_holds_the_lock_survive_kill_9(
    kernels: Callable[[], Kernel], emulator: Emulator, home: Path
) -> None:
    # Every GET takes 5 s on the server, so the answers arrive while the lock is held.
    emulator.latency = 1.0
    emulator.configure({"slow_rate": 1.0, "slow_seconds": 5.0, "faults_apply_to": "get"})
    first = kernels()
    for i in range(3):
        first.run(f"%%grok_defer -o job{i}\nLocked journal prompt {i}")
    all_submitted(first)  # the POSTs run in the background
    ids = emulator.job_ids()
    assert len(ids) == 3
    wait_for(lambda: all(emulator.get_count(r) >= 1 for r in ids), "the first GETs", 20)
    assert all(emulator.delivered_count(r) == 0 for r in ids)

    holder = start_holder(home / DB_NAME, LOCK_SECONDS)
    try:
        wait_for(lambda: all(emulator.delivered_count(r) == 1 for r in ids), "answers", 20)
        assert holder.poll() is None, "the answers arrived after the lock was released"
        assert holder.stdout is not None and holder.stdout.readline().strip() == "released"
    finally:
        holder.kill()
        holder.wait()
    # Nothing else is asked of the first kernel: the lock freeing alone gets the answers written.
    wait_for(lambda: responses_on_disk(home) == dict.fromkeys(ids, True),
             "the answers to reach the database file after the lock freed", 10)

    first.kill()
    second = kernels()
    statuses = json.loads(second.run(
        "import json, xai_defer_magic\n"
        "print(json.dumps({j.request_id: j.status for j in xai_defer_magic.jobs()}))"
    ).text().strip())
    assert statuses == dict.fromkeys(ids, "done")
    shown = second.run(f"%grok_result {ids[0]}").text("text/markdown")
    assert "Locked journal prompt 0" in shown
    counts = {r: (emulator.delivered_count(r), emulator.gets_after_delivery(r)) for r in ids}
    assert counts == dict.fromkeys(ids, (1, 0)), counts
