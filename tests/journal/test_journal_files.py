"""Journal files are private to the user, whatever the directory they live in looked like."""

from __future__ import annotations

import contextlib
import sqlite3
import stat
from pathlib import Path

from xai_defer_magic.journal import DB_NAME, Journal


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_existing_loose_files_are_tightened_and_a_shared_directory_warned_about(
    tmp_path: Path,
) -> None:
    home = tmp_path / "shared"
    home.mkdir()
    home.chmod(0o777)  # group- and world-writable, as a careless setup leaves it
    db = home / DB_NAME
    db.touch()
    db.chmod(0o644)
    other = sqlite3.connect(db, isolation_level=None)  # keeps -wal and -shm alive, 0644 too
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("CREATE TABLE t (x)")
    sidecars = [home / f"{DB_NAME}-wal", home / f"{DB_NAME}-shm"]
    assert [mode(p) for p in sidecars] == [0o644, 0o644]
    try:
        problems: list[str] = []
        with contextlib.closing(Journal(home, on_problem=problems.append)) as journal:
            assert journal.path == db and journal.problem is None
            assert [mode(p) for p in (db, *sidecars)] == [0o600] * 3
            assert len(problems) == 1 and str(home) in problems[0], problems
            assert "writable by other users" in problems[0] and "\n" not in problems[0]
        with contextlib.closing(Journal(home, on_problem=problems.append)):
            pass
        assert len(problems) == 1 or problems[1] == problems[0]
    finally:
        other.close()


def test_new_directory_and_files_are_private_despite_a_permissive_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0)
    try:
        home = tmp_path / "fresh" / "home"
        problems: list[str] = []
        with contextlib.closing(Journal(home, on_problem=problems.append)) as journal:
            journal.get("x")
            assert mode(home) == 0o700
            files = [p for p in home.iterdir()]
            assert files and all(mode(p) == 0o600 for p in files), [
                (p.name, oct(mode(p))) for p in files
            ]
        assert problems == []
    finally:
        os.umask(old)
