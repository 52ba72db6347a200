"""A real ipykernel driven over ZMQ, with the widget state the frontend would see.

Tests read what a frontend reads: iopub messages. Widget models are rebuilt from
``comm_open``/``comm_msg`` so a test can ask "what does the card show now?".
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO, Any

import zmq
from jupyter_client.manager import KernelManager


@dataclass
class Execution:
    msg_id: str
    reply: dict[str, Any] | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    idle_at: float | None = None

    @property
    def status(self) -> str | None:
        return self.reply["content"]["status"] if self.reply else None

    def texts(self, mime: str = "text/plain") -> list[str]:
        """What this cell's output area shows: an ``update_display_data`` of a display id that
        another cell showed belongs to that cell (a frontend routes it there by id)."""
        found = []
        own = {out["content"].get("transient", {}).get("display_id") for out in self.outputs
               if out["msg_type"] == "display_data"}
        for out in self.outputs:
            update = out["msg_type"] == "update_display_data"
            if update and out["content"].get("transient", {}).get("display_id") not in own:
                continue
            if out["msg_type"] == "stream":
                if mime == "text/plain":
                    found.append(out["content"]["text"])
            elif "data" in out["content"] and mime in out["content"]["data"]:
                found.append(out["content"]["data"][mime])
        return found

    def text(self, mime: str = "text/plain") -> str:
        return "\n".join(self.texts(mime))


class WidgetStates:
    """Models by comm id, plus a timestamped log of every update."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[float, str, dict[str, Any]]] = []

    def feed(self, msg: dict[str, Any]) -> None:
        kind = msg["msg_type"]
        content = msg["content"]
        if kind == "comm_open" and content.get("target_name") == "jupyter.widget":
            state = dict(content["data"].get("state", {}))
            self.models[content["comm_id"]] = state
            self.log.append((time.monotonic(), content["comm_id"], state))
        elif kind == "comm_msg" and content["comm_id"] in self.models:
            data = content["data"]
            if data.get("method") in ("update", "echo_update"):
                self.models[content["comm_id"]].update(data.get("state", {}))
                self.log.append((time.monotonic(), content["comm_id"], data.get("state", {})))

    def child(self, ref: str) -> dict[str, Any]:
        return self.models[ref.removeprefix("IPY_MODEL_")]

    def cards(self) -> list[dict[str, Any]]:
        return [m for m in self.models.values() if "xdm-card" in m.get("_dom_classes", ())]

    def card_parts(self, card: dict[str, Any]) -> dict[str, Any]:
        """A card's parts; error, answer and reasoning exist once there is something in them."""
        header, *middle, footer = (self.child(c) for c in card["children"])
        by_kind = {m["_model_name"]: m for m in middle}
        error = by_kind.get("HTMLModel", {})
        _css, _, footer_value = footer["value"].rpartition("</style>")  # the card's CSS rides there
        return {"header": header["value"], "error": error.get("value", ""),
                "answer": by_kind.get("OutputModel"), "reasoning": by_kind.get("HTMLMathModel"),
                "footer": footer_value}

    def header_updates(self, since: float, until: float) -> list[str]:
        headers = set()
        for card in self.cards():
            headers.add(card["children"][0].removeprefix("IPY_MODEL_"))
        return [s["value"] for t, cid, s in self.log
                if cid in headers and "value" in s and since <= t <= until]


class Displays:
    """What a frontend shows for each display id, whatever cell's header a message carries
    (JupyterLab routes ``update_display_data`` by id), with a timestamped log of updates."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, Any]] = {}
        self.log: list[tuple[float, str, dict[str, Any]]] = []

    def feed(self, msg: dict[str, Any]) -> None:
        if msg["msg_type"] not in ("display_data", "update_display_data"):
            return
        display_id = msg["content"].get("transient", {}).get("display_id")
        if display_id:
            self.latest[display_id] = msg["content"]["data"]
            self.log.append((time.monotonic(), display_id, msg["content"]["data"]))

    def updates(self, display_id: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, data) for t, did, data in self.log if did == display_id]


class Kernel:
    """One kernel process with the given environment; stopped by its own manager."""

    def __init__(self, env: dict[str, str], cwd: str | None = None, *,
                 extra_args: tuple[str, ...] = (), output: IO[bytes] | None = None) -> None:
        """``extra_args`` go to the kernel's command line; ``output`` takes its stdout/stderr."""
        # Unix sockets in a directory of its own, not TCP ports: jupyter_client picks free ports
        # and closes them before the kernel binds, so kernels started at once by parallel test
        # workers could be handed the same port ("Address already in use", kernel died).
        self.sockets = tempfile.mkdtemp(prefix="xdm-kernel-")
        self.km = KernelManager(kernel_name="python3", transport="ipc",
                                ip=os.path.join(self.sockets, "k"))
        spec = self.km.kernel_spec
        assert spec is not None
        spec.argv[0] = sys.executable  # the venv's interpreter, not PATH's
        spec.argv.extend(extra_args)
        streams = {} if output is None else {"stdout": output, "stderr": output}
        self.km.start_kernel(env={**os.environ, **env}, cwd=cwd, **streams)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.widgets = WidgetStates()
        self.displays = Displays()
        self._pending: dict[str, Execution] = {}

    def submit(self, code: str, cell_id: str | None = None) -> Execution:
        """Execute ``code``; ``cell_id``: the ``cellId`` JupyterLab sends with a cell's run."""
        if cell_id is None:
            msg_id = self.kc.execute(code, allow_stdin=False)
        else:
            msg = self.kc.session.msg("execute_request", {
                "code": code, "silent": False, "store_history": True,
                "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
            msg["metadata"]["cellId"] = cell_id
            self.kc.shell_channel.send(msg)
            msg_id = msg["header"]["msg_id"]
        execution = Execution(msg_id)
        self._pending[msg_id] = execution
        return execution

    def wait(self, execution: Execution, timeout: float = 60) -> Execution:
        deadline = time.monotonic() + timeout
        while execution.reply is None or execution.idle_at is None:
            self.pump(0.05)
            if time.monotonic() > deadline:
                raise TimeoutError(f"cell did not finish in {timeout} s: {execution.outputs}")
        return execution

    def run(self, code: str, timeout: float = 60, cell_id: str | None = None) -> Execution:
        execution = self.wait(self.submit(code, cell_id), timeout)
        if execution.status != "ok":
            raise AssertionError(f"cell failed: {execution.reply} {execution.outputs}")
        return execution

    def pump(self, seconds: float) -> None:
        """Route every iopub and shell message that arrives within ``seconds``."""
        end = time.monotonic() + seconds
        channels = (self.kc.shell_channel, self.kc.iopub_channel)
        poller = zmq.Poller()
        for channel in channels:
            poller.register(channel.socket, zmq.POLLIN)
        while True:
            for channel in channels:
                while channel.msg_ready():
                    self._route(channel.get_msg(timeout=0))
            left = end - time.monotonic()
            if left <= 0:
                return
            poller.poll(int(min(left, 0.05) * 1000) + 1)

    def _route(self, msg: dict[str, Any]) -> None:
        self.widgets.feed(msg)
        self.displays.feed(msg)
        parent = msg.get("parent_header", {}).get("msg_id")
        execution = self._pending.get(parent)
        if execution is None:
            return
        kind = msg["msg_type"]
        if kind == "execute_reply":
            execution.reply = msg
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            execution.idle_at = time.monotonic()
        elif kind in ("stream", "display_data", "execute_result", "update_display_data", "error"):
            execution.outputs.append(msg)

    def pump_until(self, predicate: Any, timeout: float = 30, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            self.pump(0.1)

    def kill(self) -> None:
        """SIGKILL the kernel process (a crash, the OOM killer) and reap it."""
        os.kill(self.km.provisioner.pid, signal.SIGKILL)  # type: ignore[union-attr]
        deadline = time.monotonic() + 10
        while self.km.is_alive():
            assert time.monotonic() < deadline, "the killed kernel did not die"
            time.sleep(0.02)
        self.km.cleanup_resources()

    def restart(self) -> float:
        """A graceful ``restart_kernel()`` (the kernel's atexit handlers run); its duration."""
        started = time.monotonic()
        self.km.restart_kernel()
        took = time.monotonic() - started
        self.kc.wait_for_ready(timeout=60)
        self.widgets = WidgetStates()
        return took

    def shutdown(self) -> float:
        """A graceful ``shutdown_kernel()``, as JupyterLab's "Shut Down Kernel"; its duration."""
        started = time.monotonic()
        self.km.shutdown_kernel()
        took = time.monotonic() - started
        self.kc.stop_channels()
        return took

    def stop(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            if self.km.is_alive():
                self.km.shutdown_kernel(now=True)
            shutil.rmtree(self.sockets, ignore_errors=True)


def record_messages(kernel: Kernel) -> list[dict[str, Any]]:
    """Every iopub/shell message from now on (update_display_data has no cell to go to)."""
    seen: list[dict[str, Any]] = []
    route = kernel._route

    def recording(msg: dict[str, Any]) -> None:
        seen.append(msg)
        route(msg)

    kernel._route = recording  # type: ignore[method-assign]
    return seen


def group_cards(kernel: Kernel) -> list[dict[str, Any]]:
    return [m for m in kernel.widgets.models.values()
            if "xdm-group-card" in m.get("_dom_classes", ())]


def request_id_of(kernel: Kernel, name: str = "job", timeout: float = 20) -> str:
    """The id of the kernel's handle ``name`` once its POST has answered (a cell returns
    before: the POST runs in the background)."""
    return kernel.run(
        "import time as _t\n"
        f"_end = _t.monotonic() + {timeout}\n"
        f"while {name}.request_id is None and _t.monotonic() < _end:\n"
        "    _t.sleep(0.02)\n"
        f"print({name}.request_id)"
    ).text().strip()


def all_submitted(kernel: Kernel, timeout: float = 30) -> None:
    """Return once no job of the kernel is still ``submitting`` (its POST answered)."""
    kernel.run(
        "import time as _t, xai_defer_magic as _x\n"
        f"_end = _t.monotonic() + {timeout}\n"
        "while any(j.status == 'submitting' for j in _x.jobs()) and _t.monotonic() < _end:\n"
        "    _t.sleep(0.02)"
    )
