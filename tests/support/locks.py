"""Another process holding the journal file's write lock (``BEGIN IMMEDIATE``), and what the
file itself says meanwhile: for tests of writes that must wait out, or outlive, such a lock."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xai_defer_magic.emulator import Emulator
from xai_defer_magic.journal import DB_NAME

HOLDER = textwrap.dedent(
    """
    import select, sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    select.select([sys.stdin], [], [], float(sys.argv[2]))  # a line on stdin releases early
    conn.execute("ROLLBACK")
    print("released", flush=True)
    """
)


@contextlib.contextmanager
def write_lock(db: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holds the write lock for ``seconds`` (or until ``release``)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db), str(seconds)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        release(proc)


def release(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.write("\n")
            proc.stdin.flush()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def on_disk(home: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of the database FILE, read with a connection of this test's own."""
    with contextlib.closing(sqlite3.connect(home / DB_NAME, timeout=5)) as conn:
        return conn.execute(sql, params).fetchall()


def chat_posts(emulator: Emulator) -> Counter[str]:
    return Counter(r.body["messages"][-1]["content"] for r in emulator.requests()
                   if r.method == "POST" and r.path == "/v1/chat/completions"
                   and r.status == 200)
