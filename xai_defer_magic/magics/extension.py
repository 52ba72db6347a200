"""Registering every magic family together, and undoing all of it.

``%unload_ext`` must leave nothing behind: no magic, no registry entry, and no configurable
that a later ``%config GrokDefer.*`` would bring back to life.
"""

from __future__ import annotations

from typing import Any

from IPython.core.magic import Magics

from xai_defer_magic.magics.grok_defer import GrokDefer
from xai_defer_magic.magics.jobs import JobsMagics
from xai_defer_magic.magics.models import ModelsMagics
from xai_defer_magic.magics.threads import ThreadMagics

MAGIC_CLASSES: tuple[type[Magics], ...] = (GrokDefer, JobsMagics, ModelsMagics, ThreadMagics)


def register(ipython: Any) -> GrokDefer:
    """Create and register one instance per family; returns the ``GrokDefer`` whose settings
    (and runtime) the others read."""
    grok_defer = GrokDefer(ipython)
    ipython.register_magics(
        grok_defer, JobsMagics(ipython, grok_defer), ModelsMagics(ipython, grok_defer),
        ThreadMagics(ipython, grok_defer),
    )
    return grok_defer


def unregister(ipython: Any) -> None:
    """Remove what :func:`register` added: the magics, the registry entries, the configurables."""
    manager = ipython.magics_manager
    configurables = getattr(ipython, "configurables", [])
    for family in MAGIC_CLASSES:
        magics = manager.registry.get(family.__name__)
        if not isinstance(magics, family):
            continue
        for kind, names in magics.magics.items():
            for name in names:
                manager.magics[kind].pop(name, None)
        del manager.registry[family.__name__]
        if magics in configurables:  # else %config would revive GrokDefer
            configurables.remove(magics)
