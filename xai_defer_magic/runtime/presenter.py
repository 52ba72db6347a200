"""What the runtime asks of the display side, and what it does when nobody handed it one.

The runtime never imports a view (DESIGN §3.15). The layer above it (the magics, the package's
``defer()``) hands it a :class:`Presenter` (``views.presenter.CellPresenter``); the runtime
calls it where a job or a group is first shown, and once a second, on the loop thread, to keep
live cards current. A runtime built without one (tests, plain library use of
``runtime.Runtime``) shows nothing, as ``display=False`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from xai_defer_magic.core.group import Group
from xai_defer_magic.core.images import PromptImage, ThumbnailSize
from xai_defer_magic.core.job import Job
from xai_defer_magic.loop import LoopThread

# Makes a thumbnail (a data: URL within the size) from the bytes the journal holds, or None;
# the flag False: only one already made (see runtime.thumbnails).
ThumbnailMaker = Callable[[PromptImage, ThumbnailSize, bool], str | None]


class Presenter(Protocol):
    """Shows jobs and groups in the running cell (kernel thread) and ticks what is live."""

    def show_job(self, job: Job) -> Any:
        """A job just created: its live card (returned) or status lines in a terminal."""

    def show_reused(self, job: Job) -> Any:
        """A job answered from the journal: its result, or a pending twin's live card."""

    def show_group(self, group: Group, loop: LoopThread) -> Any:
        """A group just started: its live card (returned, refreshed on ``loop``) or a line."""

    def tick(self) -> None:
        """Once a second on the loop thread: elapsed times of the live cards. Never raises."""

    def use_thumbnails(self, maker: ThumbnailMaker) -> None:
        """Images shown without a thumbnail of their own (read back from the journal, items
        of a fan-out) get theirs from ``maker``: views never reach the journal."""


class ShowNothing:
    """The presenter of a runtime nobody handed one: nothing is shown, nothing ticks."""

    def show_job(self, job: Job) -> None:
        return None

    def show_reused(self, job: Job) -> None:
        return None

    def show_group(self, group: Group, loop: LoopThread) -> None:
        return None

    def tick(self) -> None:
        return None

    def use_thumbnails(self, maker: ThumbnailMaker) -> None:
        return None
