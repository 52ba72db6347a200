"""Where the API key and the server address come from: the environment, never a magic option.

A key typed into a magic line would be saved in the notebook; the environment (or a ``.env``
file beside the notebook) keeps it out of saved files, widget state, the journal and reprs.
"""

from __future__ import annotations

import os
from pathlib import Path

from xai_defer_magic.errors import MissingApiKey
from xai_defer_magic.http.deferred import DEFAULT_BASE_URL

MISSING_KEY_HELP = (
    "XAI_API_KEY is not set. Set it in the environment before starting Jupyter "
    "(export XAI_API_KEY=...), put XAI_API_KEY=... in a .env file next to the notebook, or in a "
    "cell: import os, getpass; os.environ['XAI_API_KEY'] = getpass.getpass(). "
    "No key? Use the offline emulator: from xai_defer_magic.emulator import use_emulator; "
    "use_emulator()"
)


def base_url(configured: str | None = None) -> str:
    """``GrokDefer.base_url`` if set, else ``XAI_BASE_URL``, else xAI's public API."""
    return (configured or os.environ.get("XAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def api_key() -> str:
    """The key from ``XAI_API_KEY`` or a ``.env`` file in the working directory."""
    key = os.environ.get("XAI_API_KEY", "").strip()
    if not key:
        key = _from_dotenv(Path.cwd() / ".env")
    if not key:
        raise MissingApiKey(MISSING_KEY_HELP)
    return key


def _from_dotenv(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    for line in lines:
        name, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and name.strip() == "XAI_API_KEY":
            return value.strip().strip("'\"")
    return ""
