"""Stored images go on the wire as data: URLs read back from the journal, just in time."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.images import png
from xai_defer_magic.core.images import image_from_bytes
from xai_defer_magic.core.options import RequestOptions
from xai_defer_magic.core.request import build_request
from xai_defer_magic.engines.wire import wire_body
from xai_defer_magic.errors import GrokDeferError
from xai_defer_magic.journal.blobs import BlobStore


def test_a_stored_image_that_is_gone_fails_the_send_with_one_line(tmp_path: Path) -> None:
    image = image_from_bytes(png(), "x")
    body = build_request("?", RequestOptions(model="grok-4.3", images=(image,)))
    blobs = BlobStore(tmp_path)
    with pytest.raises(GrokDeferError) as gone:
        wire_body(body, blobs)
    assert "no longer in the journal" in str(gone.value) and "\n" not in str(gone.value)
    blobs.put(png())
    assert wire_body(body, blobs)["messages"][0]["content"][1]["image_url"]["url"].startswith(
        "data:image/png;base64,")
