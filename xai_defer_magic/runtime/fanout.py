"""Fan-out: one prompt template applied to every item of a collection, as one durable group.

:func:`start_group` validates everything and journals the group with all its requests before
the first POST, shows one group card, hands submission to the loop thread and returns at once.
:func:`resume_groups` (on load) picks up the items a crashed kernel had not yet sent, and the
groups of this process that an earlier runtime ran (``%reload_ext``): those go on in the handle
the user already holds (:data:`_LIVE`), never in a copy that would poll or POST a second time.
"""

from __future__ import annotations

import os
import socket
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from xai_defer_magic.core.group import Group
from xai_defer_magic.core.items import Items, check_columns, collect
from xai_defer_magic.core.job import Job
from xai_defer_magic.core.options import DEFAULT_OPTIONS, RequestOptions
from xai_defer_magic.core.request import build_request, with_prefix
from xai_defer_magic.core.structured import Schema
from xai_defer_magic.core.templates import fill
from xai_defer_magic.engines.deferred.group_submit import GroupSubmitter, unknown_error
from xai_defer_magic.errors import InvalidArgument
from xai_defer_magic.http import credentials
from xai_defer_magic.journal import job_record, process_owner
from xai_defer_magic.journal.groups import GroupRow, GroupStore, ItemRow, new_group_id
from xai_defer_magic.runtime import batch_fanout
from xai_defer_magic.runtime import images as image_rules
from xai_defer_magic.runtime.budget import check_spend
from xai_defer_magic.runtime.reuse import find_twin

if TYPE_CHECKING:
    from xai_defer_magic.runtime.runtime import Runtime


class Registry:
    """The groups this kernel knows, and the store they live in (one per runtime)."""

    def __init__(self, runtime: Runtime) -> None:
        self.store = GroupStore(runtime.journal)  # its tables go through the job journal
        self.groups: dict[str, Group] = {}


_registries: weakref.WeakKeyDictionary[Any, Registry] = weakref.WeakKeyDictionary()
# The groups this process drives, by id, across runtimes (like registry.JOBS for jobs).
_LIVE: weakref.WeakValueDictionary[str, Group] = weakref.WeakValueDictionary()


def registry_for(runtime: Runtime) -> Registry:
    registry = _registries.get(runtime)
    if registry is None:
        registry = _registries[runtime] = Registry(runtime)
    return registry


def start_group(
    runtime: Runtime,
    template: str | Sequence[str],
    items: Any,
    options: RequestOptions = DEFAULT_OPTIONS,
    *,
    label: str = "items",
    as_name: str = "item",
    namespace: Mapping[str, Any] | None = None,
    hidden: frozenset[str] = frozenset(),
    display: bool = True,
    cell_id: str | None = None,
    batch: bool = False,
    prefix: Sequence[dict[str, Any]] | None = None,
    images: Sequence[Any] = (),
) -> Group:
    """Validate, journal and show a group, start submitting it; InvalidArgument if bad.

    Each item reuses an identical finished (or pending) request on its own (see :mod:`reuse`),
    so re-running a 1,000-item cell after editing 3 rows sends 3; only what will be sent is
    priced against ``options.max_cost`` and the daily budget. ``batch``: one xAI batch for the
    whole group instead of one deferred request per item (:mod:`batch_fanout`); a batch is sent
    whole: it is reused only when every item is (then nothing is sent). ``prefix``: messages
    sent before every item's prompt (a thread's history, ``--over ... --thread``).
    ``images``: sources every item sends, or the item's / a column's name for one image per
    item (:mod:`runtime.images`).
    """
    namespace = namespace or {}
    options = options.resolved(runtime.settings)
    model = options.model or ""  # resolved: always set
    resolved, timeout = options.schema, options.timeout
    if not as_name.isidentifier():
        raise InvalidArgument(f"--as needs a Python name, not {as_name!r}.")
    if isinstance(template, str):
        collected = collect(items, label, batch=batch)
        check_columns(template, collected, label, as_name, namespace, hidden)
        prompts = [fill(template, collected.context(i, as_name), namespace, hidden=hidden)
                   for i in range(len(collected.values))]
        texts, names = [p.text for p in prompts], [p.names for p in prompts]
        shown_template = template
    else:
        if items is not None:
            raise InvalidArgument("Give either a template and items, or a list of prompts.")
        texts = [str(t) for t in template]
        collected = collect(texts, label, batch=batch)
        names, shown_template = [() for _ in texts], ""
    base_url = credentials.base_url(runtime.settings.base_url)
    runtime.poller.client_check(base_url)  # a bad URL or no key: refuse before anything shows
    sources = [*(options.images or ()), *images]
    image_rules.refuse_unsupported(runtime, model, bool(sources), base_url)
    planned = image_rules.plan(runtime.journal, sources, as_name,  # stored before any row
                               collected.columns if isinstance(template, str) else ())
    sent_images = [image_rules.item_images(runtime.journal, collected, i, as_name, planned)
                   for i in range(len(texts))]
    bodies = [build_request(with_prefix(prefix, text), replace(options, images=sent_images[i]))
              for i, text in enumerate(texts)]
    reuse = not options.fresh
    twins = [find_twin(runtime, body, base_url) if reuse else None for body in bodies]
    if batch and None in twins:  # a batch is sent whole: reused only when nothing is left
        twins = [None] * len(bodies)
    batch = batch and bool(bodies) and twins[0] is None
    to_send = [i for i, twin in enumerate(twins) if twin is None]
    check_spend(runtime, [bodies[i] for i in to_send], options.max_cost,
                f"these {len(to_send)} requests")
    group_id = new_group_id()
    now = time.time()
    registry = registry_for(runtime)
    if batch:
        batch_fanout.check_journal(registry)
        batch_fanout.check_sizes(group_id, bodies, collected.labels)
    registry.store.create(
        GroupRow(group_id, now, base_url, model, shown_template, len(bodies), collected.columns,
                 process_owner(), False, "batch" if batch else "deferred"),
        [ItemRow(i, collected.labels[i], image_rules.plain_value(collected.values[i]), body,
                 names=names[i])
         for i, body in enumerate(bodies)],
    )
    jobs = []
    for i, body in enumerate(bodies):
        twin = twins[i]
        if twin is None:
            jobs.append(_new_job(model, body, base_url, timeout, cell_id, names[i], resolved, now))
            jobs[-1].sent_images(sent_images[i])
            continue
        registry.store.set_state(group_id, i, "accepted", request_id=twin.request_id)
        twin.filled_from(names[i], resolved)
        twin.sent_images(sent_images[i] or twin.images)
        jobs.append(twin)
    group = _group(group_id, jobs, collected, shown_template, model, now)
    registry.groups[group_id] = _LIVE[group_id] = group
    if batch:
        group.run_as_batch()
        return batch_fanout.launch(runtime, registry, group, display=display, cell_id=cell_id)
    submitter = GroupSubmitter(runtime, registry.store, group)
    if display:
        group.shown_in(runtime.presenter.show_group(group, runtime.loop))
    submitter.start(to_send)
    return group


def _new_job(model: str, body: dict[str, Any], base_url: str, timeout: float | None,
             cell_id: str | None, names: tuple[str, ...], schema: Schema | None,
             created_at: float) -> Job:
    job = Job(model=model, request=body, base_url=base_url, timeout=timeout, cell_id=cell_id,
              created_at=created_at)
    job.filled_from(names, schema)
    return job


def _group(group_id: str, jobs: list[Job], items: Items, template: str, model: str,
           created_at: float) -> Group:
    group = Group(group_id, jobs, labels=items.labels, values=items.values, columns=items.columns,
                  template=template, model=model, created_at=created_at)
    group.indexed_like(items.source_index)
    return group


# --- groups of earlier kernels ----------------------------------------------------------------


def groups(runtime: Runtime) -> list[Group]:
    """Every group of this kernel and the journal, newest first."""
    registry = registry_for(runtime)
    found = []
    for row in registry.store.groups():
        group = registry.groups.get(row.group_id)
        if group is None:
            group = registry.groups[row.group_id] = _rebuild(runtime, registry, row)
        found.append(group)
    return found


def known_groups(runtime: Runtime) -> list[Group]:
    """The groups this runtime has already built, newest first: no journal read, no rebuild
    (what a view refreshing on the loop thread may ask for; see :func:`groups`)."""
    return sorted(registry_for(runtime).groups.values(), key=lambda g: g.created_at,
                  reverse=True)


def find(runtime: Runtime, group_id: str) -> Group | None:
    """A group by id or unique prefix (ids start with ``g-``)."""
    matches = [g for g in groups(runtime) if g.id == group_id or g.id.startswith(group_id)]
    return matches[0] if len(matches) == 1 else None


def resume_groups(runtime: Runtime) -> list[Group]:
    """Continue submitting the groups a dead kernel left half-sent, and this process's groups
    an earlier runtime ran (``%reload_ext``), in the handles already held (same server only).

    An item that was being sent when the kernel died becomes "unknown" (see journal.groups)."""
    registry = registry_for(runtime)
    current = credentials.base_url(runtime.settings.base_url)
    resumed = []
    for row in registry.store.groups():
        if row.group_id in registry.groups or row.base_url != current:
            continue
        if row.engine != "batch" and row.group_id in _LIVE:  # an earlier runtime's: go on here
            group = registry.groups[row.group_id] = _rebuild(runtime, registry, row)
            if not group.done:
                resumed.append(group)
            continue
        if row.cancelled:
            continue
        if row.owner and row.owner != process_owner() and _alive(row.owner):
            continue  # another kernel is still submitting it
        if row.engine == "batch":
            group = _rebuild(runtime, registry, row)
            if not group.done:  # the same batch again: no second batch, no re-sent request
                registry.store.set_owner(row.group_id, process_owner())
                registry.groups[row.group_id] = _LIVE[row.group_id] = group
                batch_fanout.resume(runtime, registry.store, group)
                resumed.append(group)
            continue
        items = registry.store.items(row.group_id)
        if not any(i.state in ("queued", "sending") for i in items):
            continue
        registry.store.set_owner(row.group_id, process_owner())
        group = _rebuild(runtime, registry, row, items, claim=True)
        registry.groups[row.group_id] = _LIVE[row.group_id] = group
        submitter = GroupSubmitter(runtime, registry.store, group)
        submitter.start([i.idx for i in items if i.state == "queued"])
        resumed.append(group)
    return resumed


def _rebuild(runtime: Runtime, registry: Registry, row: GroupRow,
             items: list[ItemRow] | None = None, claim: bool = False) -> Group:
    """A handle from the store; ``claim`` (the owner is dead) settles its half-sent items.

    A group this process drives is not rebuilt: its handle moves to this runtime."""
    live = _LIVE.get(row.group_id)
    if live is not None:
        _adopt(runtime, registry, live)
        return live
    items = registry.store.items(row.group_id) if items is None else items
    if row.engine == "batch":
        jobs = [image_rules.restored(runtime.journal, _new_job(
            row.model, i.request, row.base_url, None, None, i.names, None, row.created_at))
            for i in items]
        batch_id = batch_fanout.rebuild_jobs(runtime, registry.store, row, jobs)
        collected = Items([i.label for i in items], [i.value for i in items], row.columns)
        group = _group(row.group_id, jobs, collected, row.template, row.model, row.created_at)
        group.run_as_batch(batch_id)
        return group
    jobs = []
    for item in items:
        job = _job_for(runtime, row, item)
        if claim and item.state == "sending":  # the kernel died during this item's POST
            registry.store.set_state(row.group_id, item.idx, "unknown", error=unknown_error(
                "the kernel stopped during its POST").message)
            job.set_status("failed", error=unknown_error("the kernel stopped during its POST"))
        jobs.append(job)
    collected = Items([i.label for i in items], [i.value for i in items], row.columns)
    return _group(row.group_id, jobs, collected, row.template, row.model, row.created_at)


def _adopt(runtime: Runtime, registry: Registry, group: Group) -> None:
    """A handle of this process seen by a new runtime (after ``%reload_ext``): its submitter,
    its batch engine and its card go on there; its sent items are the jobs the new runtime
    resumed from the journal (the same objects: see registry.JOBS)."""
    if group.card is not None:
        group.card.move_to(runtime.loop)
    if group.engine == "batch":
        batch_fanout.adopt_live(runtime, group)
    elif isinstance(group.controller, GroupSubmitter):
        group.controller.move_to(runtime, registry.store)


def _job_for(runtime: Runtime, row: GroupRow, item: ItemRow) -> Job:
    if item.state == "accepted" and item.request_id:
        job = runtime.get(item.request_id)
        if job is None:  # died between the two writes: the job row is missing, add it
            job = _new_job(row.model, item.request, row.base_url, None, None, item.names, None,
                           row.created_at)
            job.accepted(item.request_id)
            runtime.journal.add(job_record(job, "pending"))
            runtime.register(job)
            job.set_status("pending")
            runtime.ensure_polling(job)
        job.filled_from(item.names, job.schema)
        return job
    job = image_rules.restored(runtime.journal, _new_job(
        row.model, item.request, row.base_url, None, None, item.names, None, row.created_at))
    if item.state in ("failed", "unknown"):
        job.set_status("failed", error=item.error or "failed")
    elif item.state == "cancelled":
        job.set_status("cancelled", error=item.error or "cancelled")
    return job


def _alive(owner: str) -> bool:
    """False only for a process of this host that certainly no longer exists."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
