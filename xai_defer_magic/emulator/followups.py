"""Follow-ups in the emulator: an answer that shows the conversation it was given.

A request with earlier assistant messages (a thread's history) gets one more section naming
how many earlier turns arrived, the last question, and a fingerprint of the whole message
list, so a test can tell from the answer alone that the history was sent, and in which order.
"""

from __future__ import annotations

import hashlib
from typing import Any


def message_text(message: dict[str, Any]) -> str:
    """The text of a message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content
                         if isinstance(p, dict) and isinstance(p.get("text"), str))
    return content if isinstance(content, str) else ""


def history_note(messages: list[dict[str, Any]]) -> str:
    """One Markdown paragraph for a follow-up ('' for a first question)."""
    earlier = sum(1 for m in messages if m.get("role") == "assistant")
    if not earlier:
        return ""
    users = [message_text(m) for m in messages if m.get("role") == "user"]
    last = " ".join((users[-1] if users else "").split())[:80]
    return (f"\nFollow-up after {earlier} earlier "
            f"turn{'s' if earlier != 1 else ''}; last question: “{last}”; "
            f"history fingerprint `{history_fingerprint(messages)}`.\n")


def history_fingerprint(messages: list[dict[str, Any]]) -> str:
    """The fingerprint ``history_note`` shows, for tests that rebuild the list they expect."""
    hasher = hashlib.sha256()
    for message in messages:
        hasher.update(f"{message.get('role')}\x00{message_text(message)}\x01".encode())
    return hasher.hexdigest()[:12]
