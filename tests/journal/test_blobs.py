"""Images are stored once, by SHA-256, private to the user, and never sent damaged."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from tests.support.images import png
from xai_defer_magic.journal import Journal
from xai_defer_magic.journal.blobs import BlobStore, MissingImage


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
