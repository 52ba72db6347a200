"""``%grok_thread [NAME]``: a thread's transcript, or every thread with its totals.

Parse, then delegate: the thread handles come from :mod:`runtime.threads`, the output from
:mod:`views.thread` (``--thread`` on a cell is :mod:`magics.turns`). The machinery is
imported when the magic first runs, not at load (see :mod:`magics.grok_defer`).
"""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from xai_defer_magic.core.thread import check_thread_name
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.magics.grok_defer import GrokDefer
from xai_defer_magic.magics.parse import parse_argstring, unquote


@magics_class
class ThreadMagics(Magics):
    """Conversations across cells."""

    def __init__(self, shell: Any, grok_defer: GrokDefer) -> None:
        super().__init__(shell=shell)
        self.grok_defer = grok_defer

    @magic_arguments()
    @argument("name", nargs="?", help="The thread to show (default: list every thread).")
    @line_magic
    def grok_thread(self, line: str) -> None:
        """Show a thread's transcript, or list the threads with their turns, tokens and cost."""
        from xai_defer_magic.runtime import threads  # the machinery: first use
        from xai_defer_magic.views.thread import show_threads, show_transcript

        args = parse_argstring(self.grok_thread, line)
        try:
            name = None if args.name is None else check_thread_name(unquote(args.name))
            runtime = self.grok_defer.runtime()
            if name is None:
                show_threads(threads.threads(runtime))
            else:
                show_transcript(threads.thread(runtime, name))
        except InvalidArgument as exc:
            raise UsageError(str(exc)) from None
