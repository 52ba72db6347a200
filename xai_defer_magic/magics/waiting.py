"""Blocking a cell until jobs or groups end (``--wait``, ``%grok_wait``), then showing them.

Waiting is interruptible: Ctrl-C stops the wait, never the jobs, which keep polling.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from xai_defer_magic.core.group import Group
from xai_defer_magic.core.job import Job
from xai_defer_magic.views import show as views
from xai_defer_magic.views import text
from xai_defer_magic.views.groups import replace_card, show_summary


def wait_and_show(
    runtime: Any, jobs: list[Job], timeout: float | None, cards: dict[int, Any] | None = None
) -> None:
    """Wait for ``jobs`` (at most ``timeout`` seconds in all), then show each result here,
    priced (``runtime.price``); one still running gets a status line (and is followed, if
    nothing else shows it)."""
    followed = [job for job in jobs if views.quiet(job)]
    wait_each(jobs, timeout, "Stopped waiting; the jobs keep polling in the background.")
    for job in jobs:
        if job.done:
            runtime.price(job, wait=True)
            views.show_result(job, (cards or {}).get(id(job)))
        else:
            print(f"{text.status_line(job)} (still running; %grok_wait again later)")
            if job in followed:
                views.follow(job)


def wait_groups(groups: list[Group], timeout: float | None, runtime: Any = None,
                in_place: bool = False) -> None:
    """Block until the groups end (or ``timeout``); show each one's summary in this cell.

    Sent items that nothing polls yet (a group of an earlier kernel) are polled now.
    ``in_place`` (``--wait``, the card is in this cell): the card becomes the summary rather
    than being followed by a second copy."""
    for g in groups if runtime is not None else ():
        for job in g.jobs:
            runtime.ensure_polling(job)
    wait_each(groups, timeout, "Stopped waiting; the groups keep running in the background.")
    for g in groups:
        if in_place and g.card is not None:
            replace_card(g)
        else:
            show_summary(g)
        if not g.done:
            print(f"group {g.id}: still running (%grok_wait {g.id} again later)")


def wait_each(waitables: Sequence[Job] | Sequence[Group], timeout: float | None,
              on_interrupt: str) -> None:
    """Wait for each in turn, ``timeout`` seconds in all; Ctrl-C stops the waiting only (what
    is waited for goes on in the background, as ``on_interrupt`` tells the user)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        for waitable in waitables:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not waitable.wait(left):
                break
    except KeyboardInterrupt:
        print(on_interrupt)
