"""The deferred-completion engine: ``submit`` sends, ``poller`` polls and journals,
``group_submit`` sends a fan-out's items at a steady pace."""
