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
    from xai_defer_magic.magics.grok_defer import GrokDefer
    from xai_defer_magic.runtime.runtime import Runtime

_magics: GrokDefer | None = None


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics and resume the jobs a previous kernel left pending."""
    global _magics
    from xai_defer_magic.magics.extension import register

    _magics = register(ipython)
    if _magics.resume_on_load:
        _magics.runtime.resume_unfinished()
        from xai_defer_magic.runtime.fanout import resume_groups

        resume_groups(_magics.runtime)  # items a crashed kernel had not yet sent


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
    images: Any = (),
) -> Job:
    """Submit a deferred chat completion from Python; returns the job handle at once.

    An identical request already answered or pending is reused unless ``fresh``. A bad value
    raises ``InvalidArgument`` (one line) before anything is sent. ``images``: paths, PNG/JPEG
    bytes, matplotlib Figures, PIL images, ``IPython.display.Image``s or https:// URLs.
    """
    from xai_defer_magic.core.options import RequestOptions
    from xai_defer_magic.runtime.image_sources import resolve

    options = RequestOptions(
        model=model, system=system, temperature=temperature, max_tokens=max_tokens,
        reasoning_effort=reasoning_effort, timeout=timeout, fresh=fresh, max_cost=max_cost,
        images=tuple(resolve(source) for source in _listed(images)) or None,
    )
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
) -> Group:
    """One deferred job per item (``{item}``, ``{index}``, ``{column}`` in ``template``), as
    one group handle returned at once; or ``defer_many([prompt, ...])`` for ready prompts.

    Other ``{name}`` placeholders come from ``namespace`` (default: the IPython user
    namespace, when there is one). ``schema``: a pydantic model class or JSON-schema dict.
    ``batch=True``: one xAI batch instead of deferred requests (cheaper, not rate-limited,
    answers within 24 h; a crash resumes the same batch). ``images``: sources every item sends
    (as in ``defer``), or ``as_name`` / a column name: each item's own image.
    """
    from xai_defer_magic.core.options import RequestOptions
    from xai_defer_magic.magics.parse import namespace_of
    from xai_defer_magic.runtime.fanout import start_group

    options = RequestOptions(
        model=model, system=system, temperature=temperature, max_tokens=max_tokens,
        reasoning_effort=reasoning_effort, timeout=timeout, schema=schema, fresh=fresh,
        max_cost=max_cost,
    )
    hidden: frozenset[str] = frozenset()
    if namespace is None:
        from IPython import get_ipython

        namespace, hidden = namespace_of(get_ipython())
    return start_group(
        _showing_runtime(), template, items, options, as_name=as_name, namespace=namespace,
        hidden=hidden, display=display, batch=batch, images=_listed(images),
    )


def _listed(images: Any) -> list[Any]:
    """``images=fig`` means ``images=[fig]``."""
    if images is None:
        return []
    return list(images) if isinstance(images, (list, tuple)) else [images]


def _showing_runtime() -> Runtime:
    """The process's runtime, handed the views that show its jobs (it imports none itself)."""
    from xai_defer_magic.runtime.runtime import get_runtime
    from xai_defer_magic.views.presenter import PRESENTER

    return get_runtime(presenter=PRESENTER)


def groups() -> list[Group]:
    """Every fan-out group of this kernel and the journal, newest first."""
    from xai_defer_magic.runtime.fanout import groups as all_groups
    from xai_defer_magic.runtime.runtime import get_runtime

    return all_groups(get_runtime())


def jobs() -> list[Job]:
    """Every job known to this kernel and the journal, newest first."""
    from xai_defer_magic.runtime.runtime import get_runtime

    return get_runtime().jobs()


def models(refresh: bool = False) -> list[LanguageModel]:
    """The models this key can use (``GET /v1/language-models``), prices in USD per 1M tokens.

    Cached per runtime and base URL; ``refresh=True`` asks the server again. A failure (bad key,
    no network) raises its one-line ``GrokDeferError``.
    """
    from xai_defer_magic.runtime.runtime import get_runtime

    return list(get_runtime().models(refresh))


__all__ = [
    "__version__", "defer", "defer_many", "groups", "jobs", "load_ipython_extension", "models",
    "unload_ipython_extension",
]
