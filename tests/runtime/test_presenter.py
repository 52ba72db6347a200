"""The runtime shows jobs through the presenter it is handed, and only when asked to."""

from __future__ import annotations

import threading
from typing import Any

from xai_defer_magic.core.group import Group
from xai_defer_magic.core.job import Job
from xai_defer_magic.core.options import RequestOptions
from xai_defer_magic.loop import LoopThread
from xai_defer_magic.runtime.runtime import Runtime
from xai_defer_magic.runtime.settings import Settings


class Recorder:
    """A presenter that writes down what it was asked to show."""

    def __init__(self) -> None:
        self.shown: list[Job] = []
        self.ticked = threading.Event()

    def show_job(self, job: Job) -> Any:
        self.shown.append(job)
        return "card"

    def show_reused(self, job: Job) -> Any:
        self.shown.append(job)
        return None

    def show_group(self, group: Group, loop: LoopThread) -> Any:
        return None

    def tick(self) -> None:
        self.ticked.set()

    def use_thumbnails(self, maker: Any) -> None:
        return None


def test_the_runtime_shows_a_job_through_its_presenter(env: dict[str, str]) -> None:
    presenter = Recorder()
    runtime = Runtime(Settings(home=env["XAI_DEFER_HOME"]), presenter)
    try:
        job, card = runtime.defer("Shown?", RequestOptions(model="grok-3", fresh=True))
        assert presenter.shown == [job] and card == "card"
        _hidden, no_card = runtime.defer(
            "Not shown.", RequestOptions(model="grok-3", fresh=True), display=False
        )
        assert presenter.shown == [job] and no_card is None
        assert presenter.ticked.wait(5), "the runtime ticks its presenter once a second"
    finally:
        runtime.close()
