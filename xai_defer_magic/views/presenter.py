"""The views as the runtime sees them: one object the layer above hands to the runtime.

``runtime.presenter.Presenter`` says what the runtime needs (show a job, a reused job, a
group; tick what is live); :class:`CellPresenter` does it with the cards of this package: a
live card in a kernel, status lines in terminal IPython (``show``, ``groups``). It owns the
process's :data:`CARDS` ticker, since cards outlive a runtime (``%reload_ext``).
"""

from __future__ import annotations

from typing import Any

from xai_defer_magic.core.group import Group
from xai_defer_magic.core.job import Job
from xai_defer_magic.loop import LoopThread
from xai_defer_magic.views import show
from xai_defer_magic.views.groups import show_group
from xai_defer_magic.views.images import ThumbnailMaker, use_thumbnails
from xai_defer_magic.views.ticker import CARDS


class CellPresenter:
    """Shows jobs and groups in the running cell; ticks the live cards once a second."""

    def show_job(self, job: Job) -> Any:
        return show.show_live(job, CARDS)

    def show_reused(self, job: Job) -> Any:
        return show.show_reused(job, CARDS)

    def show_group(self, group: Group, loop: LoopThread) -> Any:
        return show_group(group, loop)

    def tick(self) -> None:
        CARDS.tick()

    def use_thumbnails(self, maker: ThumbnailMaker) -> None:
        use_thumbnails(maker)


PRESENTER = CellPresenter()
