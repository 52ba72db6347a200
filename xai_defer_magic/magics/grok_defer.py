"""``%%grok_defer``, ``%grok_wait``, ``%grok_result``, ``%grok_jobs``, ``%grok_models``: parse,
then delegate.

The class holds the ``%config GrokDefer.*`` traits, turns a magic line into arguments, turns a
bad value into one ``UsageError`` line, and hands everything else to the runtime and the views.
"""

from __future__ import annotations

import argparse
import difflib
import keyword
import time
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.utils.process import arg_split
from traitlets import Bool, Float, Int, TraitError, Unicode, observe, validate

from xai_defer_magic.core.job import PENDING_STATUSES, Job
from xai_defer_magic.core.request import check_timeout
from xai_defer_magic.core.schedule import PollSchedule
from xai_defer_magic.engines.deferred.poller import PollSettings
from xai_defer_magic.errors import GrokDeferError, InsecureTransport, InvalidArgument, MissingApiKey
from xai_defer_magic.magics import prompts as prompts_magic
from xai_defer_magic.runtime.budget import check_limit
from xai_defer_magic.runtime.runtime import Runtime, Settings, get_runtime
from xai_defer_magic.views import show as views
from xai_defer_magic.views import text


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
        self.runtime: Runtime = get_runtime(self.settings())

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
        if hasattr(self, "runtime"):
            get_runtime(self.settings())

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
    @argument("--batch", action="store_true",
              help="One xAI batch for the cell (cheaper, no rate limit, answers within 24 h).")
    @no_var_expand
    @cell_magic
    def grok_defer(self, line: str, cell: str) -> None:
        """Submit the cell body as a deferred chat completion and return at once."""
        args = parse_argstring(self.grok_defer, line)
        args.model, args.system = _unquote(args.model), _unquote(args.system)
        args.reasoning_effort = _unquote(args.reasoning_effort)
        if args.out is not None and (not args.out.isidentifier() or keyword.iskeyword(args.out)):
            raise UsageError(f"-o/--out needs a Python variable name, not {args.out!r}.")
        if not cell or not cell.strip():
            raise UsageError("The cell is empty: write the prompt below the %%grok_defer line.")
        if args.over is not None or args.batch:
            group = prompts_magic.defer_group(self, args, cell)
            if args.out and self.shell is not None:
                self.shell.user_ns[args.out] = group
            if args.wait:
                prompts_magic.wait_groups([group], None, in_place=True)
            return
        prepared = prompts_magic.prepare_single(self.shell, args, cell)

        def store(job: Job) -> None:  # before the POST: an interrupt during it keeps the handle
            if args.out and self.shell is not None:
                self.shell.user_ns[args.out] = job

        try:
            job, card = self.runtime.defer(
                prepared.prompt, model=args.model, system=args.system,
                temperature=args.temperature, max_tokens=args.max_tokens,
                reasoning_effort=args.reasoning_effort, timeout=args.timeout,
                cell_id=self._cell_id(), response_format=prepared.response_format,
                fresh=args.fresh, max_cost=args.max_cost, on_created=store,
            )
        except (InvalidArgument, MissingApiKey, InsecureTransport) as exc:
            raise UsageError(str(exc)) from None
        prompts_magic.annotate(job, card, prepared)
        store(job)  # a reused or attached job was never "created"
        if args.wait and job.reused_from is None:  # a reused answer is already shown in full
            self._wait_and_show([job], None, cards={id(job): card})

    # --- %grok_wait -----------------------------------------------------------------------------

    @magic_arguments()
    @argument("ids", nargs="*", help="Request or group ids (or prefixes); default: all pending.")
    @argument("--timeout", help="Give up waiting after this many seconds.")
    @line_magic
    def grok_wait(self, line: str) -> None:
        """Block until the given (default: all pending) jobs finish; show their results here."""
        args = parse_argstring(self.grok_wait, line)
        try:
            timeout = check_timeout(args.timeout)
        except InvalidArgument as exc:
            raise UsageError(str(exc)) from None
        groups, jobs = prompts_magic.wait_targets(self.runtime, args.ids, self._job)
        if groups:
            prompts_magic.wait_groups(groups, timeout, self.runtime)
        if not jobs:
            if not groups:
                print("No pending jobs.")
            return
        waiting = []
        for job in jobs:
            note = None if job.done else self.runtime.foreign_note(job)
            if note is not None:  # never polled with this kernel's key
                print(note)
                continue
            if job.status in ("timed_out", "cancelled"):
                job.resume()
            else:
                self.runtime.ensure_polling(job)
            waiting.append(job)
        if waiting:
            self._wait_and_show(waiting, timeout)

    def _wait_and_show(
        self, jobs: list[Job], timeout: float | None, cards: dict[int, Any] | None = None
    ) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        followed = [job for job in jobs if views.quiet(job)]
        try:
            for job in jobs:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not job.wait(remaining):
                    break
        except KeyboardInterrupt:
            print("Stopped waiting; the jobs keep polling in the background.")
        for job in jobs:
            if job.done:
                views.show_result(job, (cards or {}).get(id(job)))
            else:
                print(f"{text.status_line(job)} (still running; %grok_wait again later)")
                if job in followed:
                    views.follow(job)

    # --- %grok_result ---------------------------------------------------------------------------

    @magic_arguments()
    @argument("id", help="Request or group id (or a unique prefix).")
    @line_magic
    def grok_result(self, line: str) -> None:
        """Show a job's result again, from this kernel or the journal."""
        args = parse_argstring(self.grok_result, line)
        if prompts_magic.is_group_id(args.id):
            prompts_magic.show_group_result(self.runtime, args.id)
            return
        job = self._job(args.id)
        if job.status in PENDING_STATUSES:
            print(f"{text.status_line(job)} (not finished: %grok_wait {job.request_id} waits)")
            return
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
        from xai_defer_magic.views.panel import show_jobs

        args = parse_argstring(self.grok_jobs, line)
        show_jobs(self.runtime, args.which, args.scope)

    # --- %grok_models ---------------------------------------------------------------------------

    @magic_arguments()
    @argument("--refresh", action="store_true", help="Ask the server again (default: cached).")
    @line_magic
    def grok_models(self, line: str) -> None:
        """The models this key can use, with their prices per 1M tokens; the default marked."""
        from xai_defer_magic.views.models import show_models

        args = parse_argstring(self.grok_models, line)
        try:
            catalogue = self.runtime.models(refresh=args.refresh)
        except GrokDeferError as exc:
            raise UsageError(str(exc)) from None
        show_models(catalogue, default=self.model)

    # --- helpers ----------------------------------------------------------------------------

    def _job(self, request_id: str) -> Job:
        job = self.runtime.get(request_id.strip())
        if job is None:
            raise UsageError(
                f"No job with request id {request_id!r} in this kernel or the journal."
            )
        return job

    def _cell_id(self) -> str | None:
        kernel = getattr(self.shell, "kernel", None)
        try:
            parent = kernel.get_parent() if kernel is not None else None
        except Exception:
            return None
        metadata = (parent or {}).get("metadata") or {}
        cell_id = metadata.get("cellId")
        return cell_id if isinstance(cell_id, str) else None


def parse_argstring(magic: Any, line: str) -> Any:
    """IPython's parser made exact: no option prefixes, one clear line for anything unknown.

    argparse widens a unique prefix (``--temp`` to ``--temperature``) by default, so a typo in
    a saved notebook would silently run with another setting than it reads. shlex's ValueError
    (an unclosed quote) becomes a one-line ``UsageError`` too.
    """
    parser = magic.parser
    parser.allow_abbrev = False
    try:
        args, extra = parser.parse_known_args(arg_split(line, strict=True))
    except ValueError as exc:
        raise UsageError(f"Cannot read the magic line: {exc}.") from None
    if extra:
        raise UsageError(_unknown_argument(magic, parser, extra[0]))
    return args


def _unknown_argument(magic: Any, parser: argparse.ArgumentParser, arg: str) -> str:
    owner = getattr(magic, "__self__", None)
    cell = getattr(owner, "magics", {}).get("cell", {})
    name = ("%%" if parser.prog in cell else "%") + parser.prog
    if not arg.startswith("-") or arg == "-":
        return f"Unexpected argument {arg!r} for {name}."
    option = arg.split("=", 1)[0]
    known = [s for action in parser._actions for s in action.option_strings]
    longs = [s for s in known if s.startswith("--")]
    starts = [s for s in longs if s.startswith(option)] if option.startswith("--") else []
    bare = {s.lstrip("-"): s for s in known}
    similar = difflib.get_close_matches(option.lstrip("-"), list(bare), 1, 0.7)
    close = starts[0] if len(starts) == 1 else (bare[similar[0]] if similar else None)
    if close:
        return f"Unknown option {option} for {name}: did you mean {close}?"
    if not longs:
        return f"Unknown option {option} for {name}: it takes no options."
    return f"Unknown option {option} for {name} (options: {', '.join(longs)})."


def _unquote(value: str | None) -> str | None:
    """IPython's argument splitting keeps the quotes of ``-s "Be brief."``: drop one pair."""
    if value and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


__all__ = ["GrokDefer", "GrokDeferError"]
