"""Images are stored once, by SHA-256, private to the user, and never sent damaged."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path

import pytest

from tests.support.images import png
from xai_defer_magic.journal import Journal
from xai_defer_magic.journal.blobs import SWEEP_GRACE, BlobStore, MissingImage


def test_one_file_per_distinct_image_0600_in_a_0700_folder(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    try:
        data = png(20, 20)
        digest = journal.blobs.put(data)
        assert journal.blobs.put(data) == digest == hashlib.sha256(data).hexdigest()
        files = list((tmp_path / "images").iterdir())
        assert [f.name for f in files] == [digest]
        assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "images").stat().st_mode) == 0o700
        assert journal.blobs.read(digest) == data
        assert journal.blobs.data_url("image/png", digest).startswith("data:image/png;base64,iVBOR")
    finally:
        journal.close()


def test_a_damaged_or_missing_image_is_one_line(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    digest = blobs.put(png())
    (tmp_path / "images" / digest).write_bytes(b"tampered")
    with pytest.raises(MissingImage, match="damaged"):
        blobs.read(digest)
    os.remove(tmp_path / "images" / digest)
    with pytest.raises(MissingImage, match="no longer"):
        blobs.read(digest)
    with pytest.raises(MissingImage):
        blobs.read("../../etc/passwd")


def test_an_unwritable_folder_keeps_the_image_in_memory(tmp_path: Path) -> None:
    (tmp_path / "images").write_text("not a folder")
    blobs = BlobStore(tmp_path)
    data = png(3, 3)
    digest = blobs.put(data)
    assert blobs.read(digest) == data and blobs.has(digest)


def aged(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_sweep_keeps_what_rows_refer_to_and_what_was_just_used(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    kept, dropped, young = (blobs.put(png(n, n)) for n in (2, 3, 4))
    stray = tmp_path / "images" / f".{dropped}.123.456"  # a write a crash cut short
    stray.write_bytes(b"partial")
    for name in (kept, dropped, stray.name):
        aged(tmp_path / "images" / name, SWEEP_GRACE + 1)
    assert blobs.sweep({kept}) == 2
    assert sorted(f.name for f in (tmp_path / "images").iterdir()) == sorted([kept, young])
    aged(tmp_path / "images" / kept, SWEEP_GRACE + 1)
    assert blobs.put(png(2, 2)) == kept  # used again: its grace period starts over
    assert blobs.sweep(set()) == 0 and blobs.has(kept) and blobs.has(young)


def test_nothing_is_swept_while_writes_wait_in_a_fallback_file(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    try:
        digest = journal.blobs.put(png(5, 5))
        aged(tmp_path / "images" / digest, SWEEP_GRACE + 1)
        (tmp_path / "pending-1-abcd.jsonl").write_text("")  # a row may be in there
        assert journal.sweep_images() == 0 and journal.blobs.has(digest)
        (tmp_path / "pending-1-abcd.jsonl").unlink()
        assert journal.sweep_images() == 1 and not journal.blobs.has(digest)
    finally:
        journal.close()
