"""The "prompts from data" part of the magics: templates, ``--over`` and ``--batch`` groups,
and groups in ``%grok_wait`` / ``%grok_result`` (``--schema`` is a request option: see
:mod:`magics.parse`). Parses and delegates, like the magic classes; every bad value becomes
one ``UsageError`` line before anything is sent.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError

from xai_defer_magic.core.group import Group
from xai_defer_magic.core.job import Job
from xai_defer_magic.core.options import RequestOptions
from xai_defer_magic.core.templates import fill
from xai_defer_magic.errors import InsecureTransport, InvalidArgument, MissingApiKey
from xai_defer_magic.magics import turns
from xai_defer_magic.magics.images import over_images
from xai_defer_magic.magics.parse import namespace_of
from xai_defer_magic.runtime import fanout
from xai_defer_magic.views.groups import show_group, show_summary

_REFUSED = (InvalidArgument, MissingApiKey, InsecureTransport)


@dataclass(frozen=True)
class Prepared:
    prompt: str
    names: tuple[str, ...]


def prepare_single(shell: Any, args: Any, cell: str) -> Prepared:
    """The prompt of a one-job cell: the body filled from the namespace (unless ``--raw``)."""
    namespace, hidden = namespace_of(shell)
    if args.as_name is not None:
        raise UsageError("--as names the item of --over ITEMS; this cell has no --over.")
    if args.raw:
        return Prepared(cell, ())
    try:
        filled = fill(cell, namespace, hidden=hidden)
    except InvalidArgument as exc:
        raise UsageError(str(exc)) from None
    return Prepared(filled.text, filled.names)


def annotate(job: Job, card: Any, prepared: Prepared, options: RequestOptions) -> None:
    """Tell the job (and its card) which names were filled in and which schema applies."""
    job.filled_from(prepared.names, options.schema)
    if card is not None:
        card.refresh()


BATCH_HINT = ("{n:,} items: --batch would be cheaper (xAI's Batch API, 20 % off on grok-4.3) "
              "and not rate-limited; its answers can take up to 24 h.")


def defer_group(magics: Any, args: Any, options: RequestOptions, cell: str) -> Group:
    """``%%grok_defer --over ITEMS`` (one job per item, one card) or ``--batch`` (one xAI
    batch, with or without ``--over``); returns the group."""
    if args.over is None:
        return _batch_of_one(magics, args, options, cell)
    namespace, hidden = namespace_of(magics.shell)
    if args.raw:
        raise UsageError("--raw sends the body untouched, so it cannot fill {item}: "
                         "drop --raw or --over.")
    as_name = args.as_name or "item"
    if not as_name.isidentifier() or keyword.iskeyword(as_name):
        raise UsageError(f"--as needs a Python variable name, not {as_name!r}.")
    if args.over not in namespace:
        raise UsageError(f"--over: no variable named {args.over!r} in the namespace.")
    try:
        prefix, options = turns.prefix(magics.runtime(), args.thread, options)
        group = fanout.start_group(
            magics.runtime(), cell, namespace[args.over], options, label=args.over,
            as_name=as_name, namespace=namespace, hidden=hidden, cell_id=magics.cell_id(),
            batch=args.batch, prefix=prefix, images=over_images(args, namespace),
        )
    except _REFUSED as exc:
        raise UsageError(str(exc)) from None
    if not args.batch and len(group) > magics.batch_threshold:
        print(BATCH_HINT.format(n=len(group)))
    return group


def _batch_of_one(magics: Any, args: Any, options: RequestOptions, cell: str) -> Group:
    """``%%grok_defer --batch`` on one prompt: a group of one, through the Batch API."""
    prepared = prepare_single(magics.shell, args, cell)
    try:
        prefix, options = turns.prefix(magics.runtime(), args.thread, options)
        return fanout.start_group(
            magics.runtime(), [prepared.prompt], None, options, label="prompt",
            cell_id=magics.cell_id(), batch=True, prefix=prefix,
        )
    except _REFUSED as exc:
        raise UsageError(str(exc)) from None


# --- groups in %grok_wait and %grok_result -------------------------------------------------------


def is_group_id(value: str) -> bool:
    return value.strip().startswith("g-")


def group(runtime: Any, group_id: str) -> Group:
    found = fanout.find(runtime, group_id.strip())
    if found is None:
        raise UsageError(f"No group with id {group_id!r} in this kernel or the journal.")
    return found


def wait_targets(runtime: Any, ids: list[str], job_for: Any) -> tuple[list[Group], list[Job]]:
    """What ``%grok_wait [IDS]`` waits for: the groups named (default: this kernel's pending
    ones) and the jobs named (default: pending jobs that are in no group)."""
    if not ids:
        return pending_groups(runtime), without_group_jobs(runtime, runtime.pending())
    groups = [group(runtime, i) for i in ids if is_group_id(i)]
    return groups, [job_for(i) for i in ids if not is_group_id(i)]


def pending_groups(runtime: Any) -> list[Group]:
    """Groups this kernel is working on (submitting or polling)."""
    registry = fanout.registry_for(runtime)
    return [g for g in registry.groups.values() if g.controller is not None and not g.done]


def without_group_jobs(runtime: Any, jobs: Iterable[Job]) -> list[Job]:
    """Jobs that belong to no known group (a group is waited for and shown as one)."""
    grouped = {id(j) for g in fanout.registry_for(runtime).groups.values() for j in g.jobs}
    return [j for j in jobs if id(j) not in grouped]


def show_group_result(runtime: Any, group_id: str) -> None:
    """``%grok_result GROUP_ID``: the summary of an ended group, else its live card."""
    g = group(runtime, group_id)
    if g.done or g.controller is None:
        show_summary(g)
    else:
        show_group(g, runtime.loop)
