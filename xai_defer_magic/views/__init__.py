"""What a person sees: a job's live card and its saved form, stand-ins, a group's card and
summary, the jobs panel, the models table, and terminal text.

Views import only ``core``, ``render`` and leaf modules (and IPython/ipywidgets). The runtime
never imports them: the magics and ``defer()`` hand it :data:`presenter.PRESENTER`, which shows
jobs and groups in the running cell and ticks the live cards (``ticker``).
"""
