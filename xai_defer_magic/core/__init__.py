"""The model: what a job and a group are, what a request asks for, what an answer means.

No I/O here (no HTTP, no journal, no widgets): every other layer builds on these types, so they
import only ``render`` and the leaf modules. Each module owns one idea:

- ``job`` (:class:`Job`, the handle; it changes only through its own methods), ``group``
  (:class:`Group`) and ``group_table`` (a group as rows);
- ``options`` (:class:`RequestOptions`, said once), ``request`` (checks and the request body),
  ``templates`` (``{name}`` filling), ``items`` (what ``--over`` iterates), ``structured``
  (``--schema`` and ``job.parsed``);
- ``completion`` (parsing an answer), ``answer`` (the ``str`` that ``result()`` returns),
  ``catalogue`` and ``pricing`` (models, prices, cost), ``schedule`` (when to poll next),
  ``failures`` (display failures logged once, never raised).
"""
