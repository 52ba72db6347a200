"""Talking to xAI over HTTP, and nothing else: the protocols and who may be sent the key.

- ``deferred``: ``XaiClient`` (POST a deferred request, GET its result; every answer mapped to a
  type or a one-line error), ``is_loopback`` and the transport checks;
- ``batch``: the Batch API's calls (create, add, poll, page results, cancel);
- ``catalogue``: ``GET /v1/language-models`` and the tokenizer, cached per base URL, never
  fetched from a property;
- ``transport``: the one shared ``httpx.AsyncClient`` on the loop thread and its in-flight limit;
- ``credentials``: the API key and base URL, from the environment only.

It imports ``core`` for the types it returns and knows nothing of jobs' lifecycles.
"""
