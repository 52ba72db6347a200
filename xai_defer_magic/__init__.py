"""Deferred xAI chat completions as a first-class notebook experience.

``%load_ext xai_defer_magic`` registers the magics; ``defer()`` and ``jobs()`` give the same
machinery to plain Python. Heavy imports (widgets, httpx) wait until they are needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from xai_defer_magic.core.catalogue import LanguageModel
    from xai_defer_magic.core.group import Group
    from xai_defer_magic.core.job import Job
    from xai_defer_magic.core.request import Prompt
    from xai_defer_magic.core.thread import Thread
    from xai_defer_magic.magics.grok_defer import GrokDefer
    from xai_defer_magic.runtime.runtime import Runtime

_magics: GrokDefer | None = None


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics and resume the jobs a previous kernel left pending."""
    global _magics
    from xai_defer_magic.magics.extension import register

    _magics = register(ipython)
    if _magics.resume_on_load:
        _magics.resume_on_load_if_needed()  # imports nothing when there is no journal yet


def unload_ipython_extension(ipython: Any) -> None:
    """Undo everything load did: magics removed, poller and loop thread stopped."""
    global _magics
    from xai_defer_magic.magics.extension import unregister
    from xai_defer_magic.runtime.runtime import close_runtime

    if _magics is not None:
        unregister(ipython)
        _magics = None
    close_runtime()


def defer(
    prompt: Prompt,
    *,
    model: str | None = None,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    reasoning_effort: str | None = None,
    timeout: float | None = None,
    display: bool = True,
    fresh: bool = False,
    max_cost: float | None = None,
    thread: str | None = None,
    images: Any = (),
) -> Job:
    """Submit a deferred chat completion from Python; returns the job handle at once.

    An identical request already answered or pending is reused unless ``fresh``. A bad value
    raises ``InvalidArgument`` (one line) before anything is sent. ``thread``: a turn of that
    conversation (its history is sent first; queued while the previous turn is pending).
    ``images``: paths, PNG/JPEG bytes, matplotlib Figures, PIL images,
    ``IPython.display.Image``s or https:// URLs.
    """
    from xai_defer_magic.core.options import RequestOptions
    from xai_defer_magic.runtime.image_sources import resolve

    options = RequestOptions(
        model=model, system=system, temperature=temperature, max_tokens=max_tokens,
        reasoning_effort=reasoning_effort, timeout=timeout, fresh=fresh, max_cost=max_cost,
        images=tuple(resolve(source) for source in _listed(images)) or None,
    )
    if thread is not None:
        from xai_defer_magic.runtime.threads import start_turn

        job, _card = start_turn(_showing_runtime(), thread, prompt, options, display=display)
        return job
    job, _card = _showing_runtime().defer(prompt, options, display=display)
    return job


def defer_many(
    template: str | list[str],
    items: Any = None,
    *,
    model: str | None = None,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    reasoning_effort: str | None = None,
    schema: Any = None,
    as_name: str = "item",
    namespace: dict[str, Any] | None = None,
    timeout: float | None = None,
    display: bool = True,
    fresh: bool = False,
    max_cost: float | None = None,
    batch: bool = False,
    images: Any = (),
    thread: str | None = None,
) -> Group:
    """One deferred job per item (``{item}``, ``{index}``, ``{column}`` in ``template``), as
    one group handle returned at once; or ``defer_many([prompt, ...])`` for ready prompts.

    Other ``{name}`` placeholders come from ``namespace`` (default: the IPython user
    namespace, when there is one). ``schema``: a pydantic model class or JSON-schema dict.
    ``batch=True``: one xAI batch instead of deferred requests (cheaper, not rate-limited,
    answers within 24 h; a crash resumes the same batch). ``images``: sources every item sends
    (as in ``defer``), or ``as_name`` / a column name: each item's own image. ``thread``:
    every item is sent after that conversation's history (``system`` replaces its system
    message); the items do not become turns, and its last turn must be answered.
    """
    from dataclasses import replace

    from xai_defer_magic.core.options import RequestOptions
    from xai_defer_magic.magics.parse import namespace_of
    from xai_defer_magic.runtime.fanout import start_group
    from xai_defer_magic.runtime.threads import prefix as thread_prefix

    options = RequestOptions(
        model=model, system=system, temperature=temperature, max_tokens=max_tokens,
        reasoning_effort=reasoning_effort, timeout=timeout, schema=schema, fresh=fresh,
        max_cost=max_cost,
    )
    runtime = _showing_runtime()
    history = None
    if thread is not None:  # the thread's system message, or this one, heads the prefix
        history = thread_prefix(runtime, thread, options.system)
        options = replace(options, system=None)
    hidden: frozenset[str] = frozenset()
    if namespace is None:
        from IPython import get_ipython

        namespace, hidden = namespace_of(get_ipython())
    return start_group(
        runtime, template, items, options, as_name=as_name, namespace=namespace,
        hidden=hidden, display=display, batch=batch, images=_listed(images), prefix=history,
    )


def _listed(images: Any) -> list[Any]:
    """``images=fig`` means ``images=[fig]``."""
    if images is None:
        return []
    return list(images) if isinstance(images, (list, tuple)) else [images]


def _showing_runtime() -> Runtime:
    """The loaded extension's runtime (its ``%config`` settings, after the load's resume), or
    without ``%load_ext`` the process's own; handed the views that show its jobs (it imports
    none itself). Made on first use: the load imports and starts none of it."""
    from xai_defer_magic.runtime.runtime import get_runtime
    from xai_defer_magic.views.presenter import PRESENTER

    if _magics is not None:
        return _magics.runtime()
    return get_runtime(presenter=PRESENTER)


def groups() -> list[Group]:
    """Every fan-out group of this kernel and the journal, newest first."""
    from xai_defer_magic.runtime.fanout import groups as all_groups

    return all_groups(_showing_runtime())


def thread(name: str) -> Thread:
    """The conversation ``name``: ``.turns`` (job handles of its current line, in order) and
    ``.messages`` (what the next turn sends before its own prompt)."""
    from xai_defer_magic.runtime.threads import thread as find_thread

    return find_thread(_showing_runtime(), name)


def threads() -> list[Thread]:
    """Every conversation of the journal, the one with the newest turn first."""
    from xai_defer_magic.runtime.threads import threads as all_threads

    return all_threads(_showing_runtime())


def jobs() -> list[Job]:
    """Every job known to this kernel and the journal, newest first."""
    return _showing_runtime().jobs()


def models(refresh: bool = False) -> list[LanguageModel]:
    """The models this key can use (``GET /v1/language-models``), prices in USD per 1M tokens.

    Cached per runtime and base URL; ``refresh=True`` asks the server again. A failure (bad key,
    no network) raises its one-line ``GrokDeferError``.
    """
    return list(_showing_runtime().models(refresh))


__all__ = [
    "__version__", "defer", "defer_many", "groups", "jobs", "load_ipython_extension", "models",
    "thread", "threads", "unload_ipython_extension",
]
