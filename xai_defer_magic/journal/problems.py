"""What went wrong with the journal file, classified by SQLite's error code and said in one line.

A busy or locked file (another process holds the write lock) is a wait, not a failure: the
journal queues its writes and retries. Everything else makes the file unusable until it is
fixed; the journal then keeps this session's jobs in memory and keeps trying the file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .schema import NewerSchema

SQLITE_BUSY = 5
SQLITE_LOCKED = 6
_BUSY_CODES = (SQLITE_BUSY, SQLITE_LOCKED)
# Python < 3.11 has no error code on sqlite3 exceptions; these are SQLite's own messages for
# SQLITE_BUSY / SQLITE_LOCKED (sqlite3ErrStr), the only thing left to go by there.
_BUSY_MESSAGES = ("database is locked", "database table is locked", "database schema is locked")

CONSEQUENCE = "jobs still run but will not survive a kernel restart"

# Errors that mean the caller passed bad data, not that the disk failed: never degrade for them.
CALLER_BUGS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


class CorruptFile(sqlite3.DatabaseError):
    """The file exists but does not start with the SQLite header."""


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLITE_BUSY or SQLITE_LOCKED (extended codes included)."""
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _BUSY_CODES
    return any(text in str(exc) for text in _BUSY_MESSAGES)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def describe_open_failure(path: Path, exc: BaseException) -> str:
    """One line saying why the journal file cannot be used at all."""
    if isinstance(exc, NewerSchema):
        what = f"was written by a newer xai_defer_magic ({exc}; left untouched)"
    elif isinstance(exc, PermissionError) or "readonly" in str(exc):
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        what = f"is not writable ({reason})"
    elif isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename and str(exc.filename) != str(path) else ""
        what = f"cannot be created ({exc.strerror or exc}{where})"
    elif isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        what = f"is not a valid SQLite database ({exc}; left untouched)"
    else:
        what = f"cannot be used ({exc})"
    return _one_line(f"Journal disabled: {path} {what}; {CONSEQUENCE} (the file is retried).")


def describe_write_failure(path: Path, exc: BaseException) -> str:
    """One line saying a journal that opened fine has failed during the session."""
    return _one_line(
        f"Journal disabled: {path} failed ({exc}); this session's jobs are kept in memory "
        f"and {CONSEQUENCE} unless the file recovers (it is retried)."
    )


def describe_loose_directory(home: Path, mode: int) -> str:
    """One line for a journal directory other users may write to (they could swap files)."""
    return _one_line(
        f"Journal directory {home} is writable by other users (mode {mode:o}); the journal's "
        "files are private (0600), but use a directory only you can write to."
    )
