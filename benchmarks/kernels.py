"""Real ipykernels for B1-B3: the test suite's ``Kernel`` plus a tight start-to-idle timer.

``tests.support.kernels.Kernel`` alternates between the iopub and shell channels with 20 ms waits,
which is fine for tests but too coarse for timing a 20 ms cell. ``timed_cell`` blocks on iopub
alone and stops the clock the moment the cell's ``idle`` status arrives.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.kernels import Kernel

from .common import REPO, EmulatorProcess, client_env


@contextlib.contextmanager
def kernel_with_emulator(latency: float = 86400.0, client_repo: Path = REPO
                         ) -> Iterator[tuple[Kernel, EmulatorProcess]]:
    """A fresh kernel (running ``client_repo``'s extension) pointed at a fresh emulator process
    and a fresh journal; both stopped."""
    with EmulatorProcess(latency=latency) as emu, \
            tempfile.TemporaryDirectory(prefix="xdm-bench-home-") as home:
        kernel = Kernel(client_env(emu.base_url, home, client_repo), cwd=home)
        try:
            yield kernel, emu
        finally:
            kernel.stop()


def timed_cell(kernel: Kernel, code: str, timeout: float = 120.0) -> float:
    """Seconds from sending ``execute_request`` to reading the cell's ``idle`` status."""
    kc = kernel.kc
    start = time.perf_counter()
    msg_id = kc.execute(code, allow_stdin=False)
    deadline = start + timeout
    idle_at: float | None = None
    error: dict[str, Any] | None = None
    while idle_at is None:
        msg = kc.iopub_channel.get_msg(timeout=max(0.01, deadline - time.perf_counter()))
        kernel.widgets.feed(msg)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "error":
            error = msg["content"]
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            idle_at = time.perf_counter()
    _await_reply(kernel, msg_id, deadline)
    if error is not None:
        raise RuntimeError(f"cell failed: {error.get('ename')}: {error.get('evalue')}")
    return idle_at - start


def _await_reply(kernel: Kernel, msg_id: str, deadline: float) -> None:
    while True:
        reply = kernel.kc.get_shell_msg(timeout=max(0.01, deadline - time.perf_counter()))
        if reply.get("parent_header", {}).get("msg_id") == msg_id:
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"cell failed: {reply['content']}")
            return


def output_text(kernel: Kernel, code: str, timeout: float = 600.0) -> str:
    """Run a cell with the test helper and return its plain-text output."""
    return kernel.run(code, timeout=timeout).text().strip()
