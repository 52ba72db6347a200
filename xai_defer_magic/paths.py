"""Where the journal lives on disk. A leaf, so ``%load_ext`` can tell whether a journal is there
to resume from without importing the journal's machinery (sqlite3 and the rest wait for use).
"""

from __future__ import annotations

import os
from pathlib import Path

DB_NAME = "jobs.sqlite3"


def default_home() -> Path:
    """Journal directory when none is given: ``$XAI_DEFER_HOME`` or the per-user data dir."""
    env = os.environ.get("XAI_DEFER_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs  # only when no directory is given

    return Path(platformdirs.user_data_dir("xai_defer_magic"))


def journal_file(home: str | None) -> Path:
    """The journal database of ``home`` (``GrokDefer.journal_dir``), or of the default home."""
    return (Path(home).expanduser() if home is not None else default_home()) / DB_NAME
