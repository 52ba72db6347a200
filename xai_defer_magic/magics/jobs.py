"""``%grok_wait``, ``%grok_result``, ``%grok_jobs``: the jobs and groups a kernel knows.

Parse, then delegate to the runtime and the views; the settings (and the runtime) are those of
the one :class:`GrokDefer` instance, handed over at load. The machinery is imported by each
magic's body when it first runs, not at load (see :mod:`magics.grok_defer`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from xai_defer_magic.core.job import UNFINISHED_STATUSES, Job
from xai_defer_magic.core.request import check_timeout
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.magics.grok_defer import GrokDefer
from xai_defer_magic.magics.parse import parse_argstring

if TYPE_CHECKING:
    from xai_defer_magic.runtime.runtime import Runtime


@magics_class
class JobsMagics(Magics):
    """Waiting for, showing and listing deferred jobs and groups."""

    def __init__(self, shell: Any, grok_defer: GrokDefer) -> None:
        super().__init__(shell=shell)
        self.grok_defer = grok_defer

    def runtime(self) -> Runtime:
        return self.grok_defer.runtime()

    # --- %grok_wait -----------------------------------------------------------------------------

    @magic_arguments()
    @argument("ids", nargs="*", help="Request or group ids (or prefixes); default: all pending.")
    @argument("--timeout", help="Give up waiting after this many seconds.")
    @line_magic
    def grok_wait(self, line: str) -> None:
        """Block until the given (default: all pending) jobs finish; show their results here."""
        from xai_defer_magic.magics import prompts as prompts_magic  # the machinery: first use
        from xai_defer_magic.magics.waiting import wait_and_show, wait_groups

        args = parse_argstring(self.grok_wait, line)
        try:
            timeout = check_timeout(args.timeout)
        except InvalidArgument as exc:
            raise UsageError(str(exc)) from None
        runtime = self.runtime()
        groups, jobs = prompts_magic.wait_targets(runtime, args.ids, self.job)
        if groups:
            wait_groups(groups, timeout, runtime)
        if not jobs:
            if not groups:
                print("No pending jobs.")
            return
        waiting = []
        for job in jobs:
            note = None if job.done else runtime.foreign_note(job)
            if note is not None:  # never polled with this kernel's key
                print(note)
                continue
            if job.status in ("timed_out", "cancelled"):
                job.resume()
            else:
                runtime.ensure_polling(job)
            waiting.append(job)
        if waiting:
            wait_and_show(runtime, waiting, timeout)

    # --- %grok_result ---------------------------------------------------------------------------

    @magic_arguments()
    @argument("id", help="Request or group id (or a unique prefix).")
    @line_magic
    def grok_result(self, line: str) -> None:
        """Show a job's result again, from this kernel or the journal."""
        from xai_defer_magic.magics import prompts as prompts_magic  # the machinery: first use
        from xai_defer_magic.views import show as views
        from xai_defer_magic.views import text

        args = parse_argstring(self.grok_result, line)
        if prompts_magic.is_group_id(args.id):
            prompts_magic.show_group_result(self.runtime(), args.id)
            return
        job = self.job(args.id)
        if job.status in UNFINISHED_STATUSES:
            print(f"{text.status_line(job)} (not finished: %grok_wait {job.request_id} waits)")
            return
        self.runtime().price(job, wait=True)
        views.show_result(job)

    # --- %grok_jobs ------------------------------------------------------------------------------

    @magic_arguments()
    @argument("--all", dest="which", action="store_const", const="all", default="all",
              help="Start on every job, pending or finished (the default).")
    @argument("--pending", dest="which", action="store_const", const="pending",
              help="Start on the jobs still polling.")
    @argument("--journal", dest="scope", action="store_const", const="journal",
              default="kernel", help="Start on every job in the journal, not only this "
              "kernel's jobs and those it resumed.")
    @line_magic
    def grok_jobs(self, line: str) -> None:
        """This kernel's jobs (or the journal's): a live panel, or a text table in a terminal."""
        from xai_defer_magic.runtime import fanout  # the machinery: first use
        from xai_defer_magic.views.panel import show_jobs  # ipywidgets: only when a panel shows

        args = parse_argstring(self.grok_jobs, line)
        runtime = self.runtime()
        fanout.groups(runtime)  # the journal's groups, rebuilt here: the panel only reads
        show_jobs(runtime, args.which, args.scope,
                  groups=functools.partial(fanout.known_groups, runtime))

    # --- helpers ----------------------------------------------------------------------------

    def job(self, request_id: str) -> Job:
        """The job with this request id (or unique prefix), else one ``UsageError`` line."""
        job = self.runtime().get(request_id.strip())
        if job is None:
            raise UsageError(
                f"No job with request id {request_id!r} in this kernel or the journal."
            )
        return job


__all__ = ["JobsMagics"]
