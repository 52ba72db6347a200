"""``pending-<pid>-<token>.jsonl``: precious writes the database could not take yet.

While the file is locked (or unusable) each request id, answer and deletion is appended here,
fsync-ed, before the call returns; so a kernel killed before the lock frees still leaves them
on disk. The file is deleted once its writes reached the database; a later ``Journal`` open
merges the files of processes that are gone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
from pathlib import Path

from .files import open_private_append
from .leases import owner_is_dead
from .ops import Op

log = logging.getLogger(__name__)

_PREFIX = "pending-"
_SUFFIX = ".jsonl"
_LIVE_TOKENS: set[str] = set()  # fallback files written by Journals alive in this process


class PendingFile:
    """This Journal's own fallback file (created on the first append)."""

    def __init__(self, home: Path) -> None:
        self.token = secrets.token_hex(4)
        _LIVE_TOKENS.add(self.token)
        self.path = home / f"{_PREFIX}{os.getpid()}-{self.token}{_SUFFIX}"
        self._host = socket.gethostname()

    def append(self, op: Op) -> bool:
        """Append one op durably; False when the directory refuses it (memory only then)."""
        line = json.dumps({"host": self._host, **op.to_json()}, ensure_ascii=False) + "\n"
        try:
            fd = open_private_append(self.path)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.debug("journal fallback %s: %s", self.path, exc)
            return False
        return True

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


def any_pending(home: Path) -> bool:
    """Whether some kernel's writes wait in a fallback file (not yet in the database)."""
    try:
        return any(home.glob(f"{_PREFIX}*{_SUFFIX}"))
    except OSError:
        return True


def orphans(home: Path) -> list[Path]:
    """Fallback files whose writer is certainly gone (never a live process's own file)."""
    found = []
    try:
        candidates = sorted(home.glob(f"{_PREFIX}*{_SUFFIX}"))
    except OSError:
        return []
    for path in candidates:
        pid, _, token = path.name[len(_PREFIX):-len(_SUFFIX)].partition("-")
        if not pid.isdigit():
            continue
        if int(pid) == os.getpid():
            if token not in _LIVE_TOKENS:  # an earlier process that had our pid
                found.append(path)
        elif owner_is_dead(f"{_host_of(path)}:{pid}"):
            found.append(path)
    return found


def read_ops(path: Path) -> list[Op]:
    """The ops in a fallback file; a line torn by a crash mid-write is skipped."""
    ops = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        try:
            values = json.loads(line)
        except ValueError:
            continue
        op = Op.from_json(values) if isinstance(values, dict) else None
        if op is not None:
            ops.append(op)
    return ops


def _host_of(path: Path) -> str:
    """The host that wrote ``path`` (its first line says); unknown counts as another host."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = json.loads(fh.readline() or "{}")
    except (OSError, ValueError):
        return ""
    host = first.get("host") if isinstance(first, dict) else None
    return host if isinstance(host, str) else ""
