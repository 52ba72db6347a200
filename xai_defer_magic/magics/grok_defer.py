"""``%%grok_defer`` and the ``%config GrokDefer.*`` settings: parse, then delegate.

:class:`GrokDefer` holds the traits (the other magic families read them from its one instance),
turns a cell's line into :class:`RequestOptions` (:mod:`magics.parse`), a bad value into one
``UsageError`` line, and hands everything else to the runtime and the views.

``%load_ext`` costs what importing ipywidgets does (benchmark B6): the machinery (the runtime
with its journal, loop thread and httpx; the views with markdown-it and nh3) is imported and
started by :meth:`GrokDefer.runtime` and the magics' bodies on first use, not at load, unless
a journal file is there to resume from.
"""

from __future__ import annotations

import keyword
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, Float, Int, TraitError, Unicode, observe, validate

from xai_defer_magic.core.request import check_limit, check_timeout
from xai_defer_magic.core.schedule import PollSchedule, PollSettings
from xai_defer_magic.errors import InsecureTransport, InvalidArgument, MissingApiKey
from xai_defer_magic.magics import parse
from xai_defer_magic.paths import journal_file
from xai_defer_magic.runtime.settings import Settings

if TYPE_CHECKING:
    from xai_defer_magic.core.job import Job
    from xai_defer_magic.runtime.runtime import Runtime


@magics_class
class GrokDefer(Magics):
    """Deferred xAI chat completions from notebook cells."""

    model = Unicode("grok-4.3", help="Model used when a cell gives no --model.").tag(config=True)
    base_url = Unicode(
        None, allow_none=True, help="API base URL (with /v1); default: $XAI_BASE_URL or xAI."
    ).tag(config=True)
    timeout = Float(
        None, allow_none=True, help="Stop polling a job after this many seconds (resumable)."
    ).tag(config=True)
    journal_dir = Unicode(
        None, allow_none=True, help="Journal directory; default: $XAI_DEFER_HOME or a user dir."
    ).tag(config=True)
    resume_on_load = Bool(True, help="Resume a previous kernel's pending jobs on load.").tag(
        config=True
    )
    reuse = Bool(
        True, help="Answer an identical finished (or pending) request from the journal."
    ).tag(config=True)
    first_poll = Float(1.0, help="Seconds before a job's first poll.").tag(config=True)
    poll_growth = Float(0.1, help="Poll interval as a fraction of the job's age.").tag(config=True)
    max_poll_interval = Float(30.0, help="Longest wait between two polls, seconds.").tag(
        config=True
    )
    max_in_flight = Int(8, help="Most HTTP requests in flight at once.").tag(config=True)
    request_timeout = Float(30.0, help="Timeout of one HTTP request, seconds.").tag(config=True)
    max_polls_per_second = Float(
        20.0, help="Most polls a second across all jobs (0: no limit)."
    ).tag(config=True)
    max_transient_failures = Int(
        8, help="Consecutive 5xx/network failures before a job is marked failed (resumable)."
    ).tag(config=True)
    max_cost_usd = Float(
        None, allow_none=True, help="Refuse a cell whose estimated cost passes this (USD)."
    ).tag(config=True)
    daily_budget_usd = Float(
        None, allow_none=True,
        help="Refuse a submission when the last 24 h of spending plus its estimate pass this.",
    ).tag(config=True)
    batch_threshold = Int(
        500, help="--over with more items than this (and no --batch) suggests --batch."
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._runtime: Runtime | None = None

    def runtime(self) -> Runtime:
        """The kernel's runtime, made on first use (journal, loop thread; no network)."""
        from xai_defer_magic.runtime.runtime import current_runtime, get_runtime  # first use
        from xai_defer_magic.views.presenter import PRESENTER

        if self._runtime is None or current_runtime() is not self._runtime:  # new, or reloaded
            self._runtime = get_runtime(self.settings(), PRESENTER)  # views shown by it
        return self._runtime  # %config reaches it through _apply

    def resume_on_load_if_needed(self) -> None:
        """Pick up what a previous kernel left unfinished. Nothing to do, and nothing imported,
        when there is no journal file yet. When there is one it is done here, on the main
        thread: importing the machinery on a thread of its own would race the user's next
        cell importing the same modules (Python hands a thread a half-imported module)."""
        if not journal_file(self.journal_dir).exists():
            return
        from xai_defer_magic.runtime.fanout import resume_groups
        from xai_defer_magic.runtime.thread_queue import resume_threads

        runtime = self.runtime()
        runtime.resume_unfinished()
        resume_groups(runtime)  # items a crashed kernel had not yet sent
        resume_threads(runtime)  # thread turns a stopped kernel left queued

    # --- configuration ----------------------------------------------------------------------

    @validate("first_poll", "poll_growth", "max_poll_interval", "request_timeout")
    def _positive(self, proposal: Any) -> float:
        if proposal["value"] <= 0:
            raise TraitError(f"GrokDefer.{proposal['trait'].name} must be positive.")
        return float(proposal["value"])

    @validate("max_in_flight", "max_transient_failures")
    def _at_least_one(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise TraitError(f"GrokDefer.{proposal['trait'].name} must be at least 1.")
        return int(proposal["value"])

    @validate("max_polls_per_second")
    def _not_negative(self, proposal: Any) -> float:
        if proposal["value"] < 0:
            raise TraitError("GrokDefer.max_polls_per_second must be 0 (no limit) or more.")
        return float(proposal["value"])

    @validate("max_cost_usd", "daily_budget_usd")
    def _limit(self, proposal: Any) -> float | None:
        try:
            return check_limit(proposal["value"], f"GrokDefer.{proposal['trait'].name}")
        except InvalidArgument as exc:
            raise TraitError(str(exc)) from None

    @validate("timeout")
    def _timeout(self, proposal: Any) -> float | None:
        try:
            return check_timeout(proposal["value"])
        except InvalidArgument as exc:
            raise TraitError(str(exc)) from None

    @observe(
        "model", "base_url", "timeout", "reuse", "first_poll", "poll_growth", "max_poll_interval",
        "max_in_flight", "request_timeout", "max_transient_failures", "max_polls_per_second",
        "journal_dir", "max_cost_usd", "daily_budget_usd",
    )
    def _apply(self, change: Any) -> None:
        if getattr(self, "_runtime", None) is not None:  # else the settings apply when it starts
            from xai_defer_magic.runtime.runtime import get_runtime

            self._runtime = get_runtime(self.settings())

    def settings(self) -> Settings:
        schedule = PollSchedule(
            first=self.first_poll, growth=self.poll_growth, cap=self.max_poll_interval
        )
        return Settings(
            model=self.model, base_url=self.base_url, timeout=self.timeout,
            home=self.journal_dir, resume_on_load=self.resume_on_load, reuse=self.reuse,
            max_cost_usd=self.max_cost_usd, daily_budget_usd=self.daily_budget_usd,
            poll=PollSettings(
                schedule=schedule, max_in_flight=self.max_in_flight,
                request_timeout=self.request_timeout,
                max_transient_failures=self.max_transient_failures,
                max_polls_per_second=self.max_polls_per_second,
            ),
        )

    # --- %%grok_defer -------------------------------------------------------------------------

    @magic_arguments()
    @argument("-m", "--model", help="Model name (default: GrokDefer.model).")
    @argument("-s", "--system", help="System prompt.")
    @argument("-t", "--temperature", help="Sampling temperature, 0 to 2.")
    @argument("--max-tokens", dest="max_tokens",
              help="Most visible output tokens (sent as max_completion_tokens).")
    @argument("--reasoning-effort", dest="reasoning_effort",
              help="Sent as written; known: none, low, medium, high, xhigh (grok-4.3).")
    @argument("-o", "--out", help="Store the job handle in this variable right away.")
    @argument("--timeout", help="Stop polling after this many seconds (the job stays resumable).")
    @argument("--wait", action="store_true", help="Block this cell until done; show the answer.")
    @argument("--max-cost", dest="max_cost",
              help="Refuse the cell if its estimated cost passes this many USD.")
    @argument("--fresh", action="store_true",
              help="Send the request even if an identical one was answered or is pending.")
    @argument("--raw", action="store_true", help="Send the body as is: no {name} templates.")
    @argument("--over", help="One job per item of this list, Series or DataFrame (a group).")
    @argument("--as", dest="as_name", help="Name of the item in the template (default: item).")
    @argument("--schema", help="Pydantic model or JSON-schema dict: a structured answer.")
    @argument("--image", action="append", metavar="SOURCE",
              help="Send this image too (repeatable): a variable (Figure, PIL image, bytes, "
                   "IPython Image), a PNG/JPEG path or an https:// URL; under --over, the item "
                   "or a column.")
    @argument("--batch", action="store_true",
              help="One xAI batch for the cell (cheaper, no rate limit, answers within 24 h).")
    @argument("--thread", help="A turn of this conversation: its history is sent first.")
    @no_var_expand
    @cell_magic
    def grok_defer(self, line: str, cell: str) -> None:
        """Submit the cell body as a deferred chat completion and return at once."""
        args = parse.parse_argstring(self.grok_defer, line)
        if args.out is not None and (not args.out.isidentifier() or keyword.iskeyword(args.out)):
            raise UsageError(f"-o/--out needs a Python variable name, not {args.out!r}.")
        if not cell or not cell.strip():
            raise UsageError("The cell is empty: write the prompt below the %%grok_defer line.")
        from xai_defer_magic.magics import prompts as prompts_magic  # the machinery: first use
        from xai_defer_magic.magics import turns
        from xai_defer_magic.magics.waiting import wait_and_show, wait_groups

        thread = turns.thread_name(args.thread)  # a bad name: one line, before anything
        options = parse.options_from_line(args, parse.namespace_of(self.shell)[0])
        if args.over is not None or args.batch:
            group = prompts_magic.defer_group(self, args, options, cell)
            if args.out and self.shell is not None:
                self.shell.user_ns[args.out] = group
            if args.wait:
                wait_groups([group], None, in_place=True)
            return
        prepared = prompts_magic.prepare_single(self.shell, args, cell)

        def store(job: Job) -> None:  # before the POST: an interrupt during it keeps the handle
            if args.out and self.shell is not None:
                self.shell.user_ns[args.out] = job

        try:
            job, card = turns.defer(self.runtime(), thread, prepared.prompt, options,
                                    cell_id=self.cell_id(), on_created=store)
        except (InvalidArgument, MissingApiKey, InsecureTransport) as exc:
            raise UsageError(str(exc)) from None
        prompts_magic.annotate(job, card, prepared, options)
        store(job)  # a reused or attached job was never "created"
        if args.wait and job.reused_from is None:  # a reused answer is already shown in full
            wait_and_show(self.runtime(), [job], None, cards={id(job): card})

    def cell_id(self) -> str | None:
        """The id of the cell running now, if the frontend sent one (kept in the journal)."""
        return parse.cell_id(self.shell)


__all__ = ["GrokDefer"]
