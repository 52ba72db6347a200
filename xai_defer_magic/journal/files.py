"""Where the journal lives on disk, and keeping what we create there private (0700 / 0600).

An existing directory is never chmod-ed (it may be a project or shared folder the user chose);
we tighten only the files we create or own in it, and say once if others may write there.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .problems import CorruptFile, describe_loose_directory

SIDECARS = ("-wal", "-shm", "-journal")  # files SQLite creates beside the database
_SQLITE_HEADER = b"SQLite format 3\x00"


def ensure_dir(home: Path) -> str | None:
    """Create the journal directory 0700 (fail early, with a clear errno, when it is not a
    writable directory: sqlite's own message is vaguer). Returns a warning line for an
    existing directory other users can write to, else None."""
    if home.exists() and not home.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(home))
    if not home.exists():
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(home, 0o700)  # mkdir's mode is filtered by the umask; be exact
    if not os.access(home, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "Permission denied", str(home))
    mode = stat.S_IMODE(home.stat().st_mode)
    return describe_loose_directory(home, mode) if mode & 0o022 else None


def ensure_file(path: Path) -> None:
    """Create the database file 0600, or check an existing one is SQLite and make it 0600."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _check_header(path)
        make_private(path)
        return
    os.close(fd)


def make_private(path: Path) -> None:
    """chmod 0600 a file of ours that others may read; leave other users' files alone."""
    try:
        info = path.stat()
        mine = os.name == "nt" or info.st_uid == os.getuid()
        if stat.S_IMODE(info.st_mode) & 0o077 and mine:
            os.chmod(path, 0o600)
    except OSError:
        pass  # gone meanwhile, or not ours: nothing to tighten


def make_sidecars_private(db: Path) -> None:
    """SQLite gives new -wal/-shm files the database's mode; older ones may be looser."""
    for suffix in SIDECARS:
        make_private(db.with_name(db.name + suffix))


def open_private_append(path: Path) -> int:
    """A file descriptor appending to ``path``, created 0600 (and made 0600 if it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        pass
    return fd


def _check_header(path: Path) -> None:
    """Refuse a non-empty file without the SQLite header, before sqlite gets to touch it."""
    with open(path, "rb") as fh:
        head = fh.read(len(_SQLITE_HEADER))
    if head and head != _SQLITE_HEADER:
        raise CorruptFile("file is not a database")
