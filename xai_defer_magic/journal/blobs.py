"""Images sent with prompts, stored once: content-addressed files beside the journal.

A resumed job or a batch re-add must send its images again, but a row holding a 5 MiB image
as base64 for each of 1,000 prompts would cost gigabytes. So each distinct image is one file
``images/<sha256>`` (0600, in a 0700 folder of the journal directory), written before the
row that refers to it; rows keep only the hash (see ``core.images``). A file that cannot be
written (read-only directory, disk full) keeps the bytes in memory for this process instead,
like the journal's own offline copy; a read checks the hash, so a damaged file is never sent.

When rows are forgotten, :meth:`BlobStore.sweep` removes the files no row refers to any more
(``Journal.sweep_images`` finds the references). A file written or re-used (``put`` touches
it) in the last ``SWEEP_GRACE`` seconds stays: another kernel may be between its ``put`` and
the row that will refer to it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

from xai_defer_magic.core.images import data_url
from xai_defer_magic.errors import GrokDeferError

from .files import make_private

FOLDER = "images"
CACHED_URLS = 64 * 1024 * 1024  # characters of data: URLs kept for the next POST of a fan-out
SWEEP_GRACE = 600.0  # seconds a stored image stays after its last put, referred to or not


class MissingImage(GrokDeferError):
    """A stored body refers to an image the journal no longer has (or has damaged)."""


class BlobStore:
    """``put`` bytes, ``read`` them back by SHA-256; thread-safe."""

    def __init__(self, home: Path) -> None:
        self.folder = home / FOLDER
        self._memory: dict[str, bytes] = {}  # what could not be written to disk
        self._urls: OrderedDict[str, str] = OrderedDict()  # recent data: URLs, by hash
        self._lock = threading.Lock()

    def path(self, digest: str) -> Path:
        if not _is_digest(digest):
            raise MissingImage(f"Not an image hash: {digest[:80]!r}.")
        return self.folder / digest

    def put(self, data: bytes) -> str:
        """Store ``data`` (once) and return its SHA-256; durable before it returns."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if digest in self._memory:
            return digest
        if target.exists():
            try:
                os.utime(target)  # used again: a sweep leaves it its grace period
                return digest
            except OSError:
                pass  # swept meanwhile (or unreachable): write it again
        try:
            self._write(target, data)
        except OSError:
            with self._lock:
                self._memory[digest] = data
        return digest

    def _write(self, target: Path, data: bytes) -> None:
        if not self.folder.exists():
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.folder, 0o700)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        make_private(temporary)
        os.replace(temporary, target)

    def has(self, digest: str) -> bool:
        return digest in self._memory or self.path(digest).exists()

    def read(self, digest: str) -> bytes:
        """The bytes whose SHA-256 is ``digest``; :class:`MissingImage` if gone or damaged."""
        with self._lock:
            kept = self._memory.get(digest)
        if kept is not None:
            return kept
        try:
            data = self.path(digest).read_bytes()
        except OSError:
            raise MissingImage(f"Image {digest[:12]} is no longer in the journal's "
                               f"{FOLDER}/ folder: it cannot be sent again.") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise MissingImage(f"Image {digest[:12]} in the journal is damaged: not sent.")
        return data

    def data_url(self, media_type: str, digest: str) -> str:
        """``data:<type>;base64,...`` of a stored image; the last few are kept, so a fan-out
        sharing one image encodes it once."""
        with self._lock:
            cached = self._urls.get(digest)
            if cached is not None:
                self._urls.move_to_end(digest)
                return cached
        url = data_url(media_type, self.read(digest))
        with self._lock:
            self._urls[digest] = url
            while sum(len(u) for u in self._urls.values()) > CACHED_URLS and len(self._urls) > 1:
                self._urls.popitem(last=False)
        return url

    def sweep(self, referenced: set[str]) -> int:
        """Remove the stored images not in ``referenced`` (and temporary files a crash left),
        except those put in the last ``SWEEP_GRACE`` seconds; returns how many went."""
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return 0
        oldest_kept = time.time() - SWEEP_GRACE
        removed = 0
        for entry in entries:
            name = entry.name
            if name in referenced or not (_is_digest(name) or name.startswith(".")):
                continue
            try:
                if entry.stat().st_mtime > oldest_kept:
                    continue
                os.unlink(entry.path)
            except OSError:
                continue
            removed += 1
            with self._lock:
                self._urls.pop(name, None)
        return removed


def _is_digest(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)
