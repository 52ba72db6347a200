"""One kernel's machinery, wired: the loop thread, the engines, the journal and every job.

- ``runtime``: ``Runtime`` (``defer``, ``jobs``, ``get``, ``forget``, ``register``),
  ``get_runtime``/``close_runtime``, ``Settings`` (what ``%config`` sets);
- ``registry`` (every handle of the process), ``recovery`` (what the journal holds at start),
  ``reuse`` (identical requests not paid twice), ``budget`` (spending ceilings),
  ``fanout`` and ``batch_fanout`` (groups: start, rebuild, resume), ``exit`` (closing at exit);
- ``presenter``: the ``Presenter`` Protocol. The runtime never imports a view: the layer above
  hands it one (``views.presenter.PRESENTER``).
"""
