"""Ways of running jobs at xAI, behind one interface (``base.Engine``).

- ``deferred/``: the deferred-completion engine: ``submit`` (journal the intent, POST on the
  loop thread), ``poller`` (poll, journal the answer first, then parse), ``group_submit`` (a
  fan-out's items, paced);
- ``batch/``: the Batch API engine: ``engine`` (one batch end to end, resumable) and
  ``groups`` (a ``--batch`` group run as one batch);
- ``host``: ``EngineHost``, the narrow surface of the runtime an engine may use (engines sit
  below the runtime and never import it).

Engines use ``http`` and ``journal``; they keep the promises written in ``base``.
"""
