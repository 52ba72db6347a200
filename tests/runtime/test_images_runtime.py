"""Without a catalogue to ask, an image for a text-only model goes out and xAI's 400 is the
job's one-line error; with one, the cell is refused before anything is sent."""

from __future__ import annotations

import time

import pytest

import xai_defer_magic
from tests.support.images import png
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.errors import GrokDeferError, InvalidArgument
from xai_defer_magic.runtime.runtime import Runtime

pytestmark = pytest.mark.emulator(latency=0.1)


def chat_posts(emulator: Emulator) -> int:
    return sum(r.method == "POST" and r.path.endswith("/chat/completions")
               for r in emulator.requests())


def test_no_catalogue_means_the_servers_400_in_one_line(
    runtime: Runtime, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime.catalogues, "fetch_for", lambda base_url: None)
    job = xai_defer_magic.defer("What is it?", images=[png()], model="grok-3-mini",
                                display=False)
    with pytest.raises(GrokDeferError):
        job.result(timeout=30)
    assert job.status == "failed" and job.error and "\n" not in job.error
    assert "does not support image inputs" in job.error
    assert chat_posts(emulator) == 1


def test_a_model_without_image_input_is_refused_and_nothing_is_sent(
    runtime: Runtime, emulator: Emulator
) -> None:
    """The cell never waits for the catalogue: the first time it is not here yet, so the job
    fails with the line just before its POST (nothing sent); once it is, the cell is refused."""
    emulator.configure({"catalogue_delay": 2.0})
    started = time.monotonic()
    first = xai_defer_magic.defer("What is it?", images=[png()], model="grok-3-mini",
                                  display=False)
    assert time.monotonic() - started < 1.0, "the cell waited for the catalogue"
    with pytest.raises(GrokDeferError, match="grok-3-mini does not read images"):
        first.result(timeout=30)
    assert first.error is not None and "\n" not in first.error and chat_posts(emulator) == 0
    with pytest.raises(InvalidArgument, match="grok-3-mini does not read images"):
        xai_defer_magic.defer("What is it?", images=[png()], model="grok-3-mini",
                              display=False)
    assert chat_posts(emulator) == 0
    job = xai_defer_magic.defer("What is it?", images=[png()], model="grok-4.20-reasoning",
                                display=False)
    assert "4×3 px" in job.result(timeout=30)
