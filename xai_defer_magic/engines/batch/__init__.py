"""The Batch API engine: ``engine`` runs one batch durably (create, journal, add, poll, page),
``groups`` runs a ``--batch`` fan-out group as one batch and answers its items' jobs."""
