"""A job's broken listener (a card, a stand-in) is logged once, and the others still hear."""

from __future__ import annotations

import logging

import pytest

from xai_defer_magic.core.job import Job


def test_a_failing_listener_is_logged_once_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = Job(model="grok-3", request={"model": "grok-3", "messages": []}, base_url="http://x")
    heard: list[str] = []

    def broken(_job: Job) -> None:
        raise RuntimeError("card went away")

    job.add_listener(broken)
    job.add_listener(lambda j: heard.append(j.status))
    with caplog.at_level(logging.WARNING, logger="xai_defer_magic"):
        job.set_status("pending")
        job.set_status("pending")
        job.set_status("done")
    assert heard == ["pending", "pending", "done"]
    logged = [r for r in caplog.records
              if r.exc_info and "card went away" in str(r.exc_info[1])]
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]
    assert logged[0].name.startswith("xai_defer_magic")
