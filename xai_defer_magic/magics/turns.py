"""The ``--thread NAME`` option of ``%%grok_defer``: checked first, then the cell's job is a
turn of that conversation (:func:`runtime.threads.start_turn`) instead of a lone request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from IPython.core.error import UsageError

from xai_defer_magic.core.job import Job
from xai_defer_magic.core.options import RequestOptions
from xai_defer_magic.core.request import Prompt
from xai_defer_magic.core.thread import check_thread_name
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.magics.parse import unquote
from xai_defer_magic.runtime import threads
from xai_defer_magic.runtime.runtime import Runtime


def thread_name(value: str | None) -> str | None:
    """The ``--thread`` value, checked before anything runs (one ``UsageError`` line)."""
    if value is None:
        return None
    try:
        return check_thread_name(unquote(value))
    except InvalidArgument as exc:
        raise UsageError(str(exc)) from None


def defer(runtime: Runtime, thread: str | None, prompt: Prompt, options: RequestOptions, *,
          cell_id: str | None, on_created: Callable[[Job], None]) -> tuple[Job, Any]:
    """A cell's one job: a turn of ``thread``, or a plain ``Runtime.defer`` without one."""
    if thread is None:
        return runtime.defer(prompt, options, cell_id=cell_id, on_created=on_created)
    return threads.start_turn(runtime, thread, prompt, options, cell_id=cell_id,
                              on_created=on_created)


def prefix(runtime: Runtime, thread: str | None, options: RequestOptions
           ) -> tuple[list[dict[str, Any]] | None, RequestOptions]:
    """``--over``/``--batch`` with ``--thread``: the thread's history every item is sent
    after (``-s`` replaces its system message), and the options without that system."""
    if thread is None:
        return None, options
    history = threads.prefix(runtime, thread, options.system)
    return history, replace(options, system=None)
