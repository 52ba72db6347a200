"""``--batch`` with images: an item too big for one add call is refused in the cell (one line,
nothing created, nothing sent), and a model that reads no images is refused before any batch
is created even when the catalogue was not here yet in the cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import xai_defer_magic
from tests.support.images import noisy_png, png
from tests.support.shell import HANG, usage_error, wait_for
from xai_defer_magic.core.images import image_from_url
from xai_defer_magic.core.options import RequestOptions
from xai_defer_magic.core.request import build_request
from xai_defer_magic.emulator import Emulator
from xai_defer_magic.engines.wire import wire_body
from xai_defer_magic.http.batch import add_call_size, chunk
from xai_defer_magic.journal.blobs import BlobStore
from xai_defer_magic.runtime.image_sources import resolve
from xai_defer_magic.views.group_summary import title

pytestmark = [pytest.mark.emulator(latency=0.1), pytest.mark.grok_config(first_poll=0.1)]


def test_an_item_too_big_for_one_add_call_is_refused_in_the_cell(
    shell: Any, emulator: Emulator, tmp_path: Path
) -> None:
    """16 MiB is under xAI's 20 MiB per image, but as base64 (4/3) it is over what one add
    call may carry: the deferred path takes it, a batch cannot."""
    (tmp_path / "small.png").write_bytes(png())
    (tmp_path / "big.png").write_bytes(noisy_png(16 * 1024 * 1024))
    shell.user_ns["photos"] = [str(tmp_path / "small.png"), str(tmp_path / "big.png")]
    line = usage_error(shell, "%%grok_defer --batch --over photos --image item -o g\nLabel it.")
    assert "big.png" in line and "--batch" in line and "MiB" in line, line
    assert [r for r in emulator.requests() if r.method == "POST"] == []  # (a catalogue GET may)
    assert xai_defer_magic.groups() == []
    assert "g" not in shell.user_ns


def test_a_model_that_reads_no_images_is_refused_before_the_batch_is_created(
    shell: Any, emulator: Emulator
) -> None:
    emulator.configure({"catalogue_delay": 0.2})  # not here when the cell runs
    group = xai_defer_magic.defer_many("Label {item}.", ["a", "b"], images=[png()],
                                       model="grok-3-mini", batch=True, display=False)
    wait_for(lambda: group.done, "the refusal", HANG)
    errors = {job.error for job in group}
    assert errors == {"Not sent: grok-3-mini does not read images (models that do: "
                      "grok-4.3, grok-4.20-0309-reasoning, grok-4.20-0309-non-reasoning, "
                      "grok-4.20-multi-agent-0309)."}, errors
    assert [r.path for r in emulator.requests() if "/batches" in r.path] == []
    assert "batch not created" in title(group) and xai_defer_magic.groups() == []


def test_the_size_checked_in_the_cell_is_the_size_sent(tmp_path: Path) -> None:
    """``add_call_size`` computes, without encoding, what ``chunk`` builds from the wire body."""
    blobs = BlobStore(tmp_path)
    for data in (png(9, 9), noisy_png(10_000)):
        image = resolve(data, "ünïcode name")
        blobs.put(data)
        body = build_request("Label it ✓.", RequestOptions(model="grok-4.3", images=(
            image.without_data(), image_from_url("https://example.org/x.png", "remote"))))
        [call] = chunk([("g-0123456789-000001", wire_body(body, blobs))])
        assert add_call_size("g-0123456789-000001", body) == len(call)
