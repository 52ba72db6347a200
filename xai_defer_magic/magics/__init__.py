"""The IPython face of the package: one ``Magics`` class per family, as IPython's own
``core/magics/`` does.

- :mod:`grok_defer`: ``GrokDefer``, the ``%%grok_defer`` cell magic and the ``%config
  GrokDefer.*`` settings every other family reads;
- :mod:`jobs`: ``%grok_wait``, ``%grok_result``, ``%grok_jobs``;
- :mod:`models`: ``%grok_models``;
- :mod:`parse`: reading a line (exact options, ``RequestOptions``), apart from acting on it;
- :mod:`prompts`: templates, ``--over`` groups, groups in ``%grok_wait``/``%grok_result``;
- :mod:`waiting`: ``--wait`` and ``%grok_wait``'s blocking and showing;
- :mod:`extension`: registering and unregistering all of them together.
"""
