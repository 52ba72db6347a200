"""A conversation across cells: a line of turns and the message list it sends. No I/O.

A thread is a tree of turns (each points at the turn it follows) with one *head*: the current
line is the chain from the head back to the first turn. A re-run cell puts its new turn where
its old one was, so the turns after it drop off the line (they stay in the journal as an
earlier branch, never sent again). What a turn sends is the thread's system message, each
earlier turn's messages exactly as they were sent plus its answer (``content`` only, never
``reasoning_content``), then its own prompt.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from xai_defer_magic.errors import InvalidArgument

NAME_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
TURN_STATES = ("queued", "sent", "failed", "cancelled")
CONTEXT_WARNING = 0.9  # share of the context length from which a turn says it is nearly full
# What a turn's cell asked for that is not in its body, kept so a queued turn sent by the next
# kernel still applies it: --timeout (polling) and --fresh (no reuse when it is sent).
TURN_OPTIONS = ("timeout", "fresh")


def check_thread_name(name: Any) -> str:
    """A thread name: letters, digits, ``-_.``, at most 64 characters."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidArgument(
            f"--thread needs a name of letters, digits, '-', '_' or '.', at most 64 "
            f"characters, not {name!r}."
        )
    return name


@dataclass(frozen=True)
class Turn:
    """One turn as the journal keeps it.

    ``said``: the messages this turn adds (its user message, as sent); ``params``: the request
    body without ``messages`` (model, temperature, ...); ``system``: the thread's system
    message from this turn on; ``body``: the full body once it is fixed (None while queued);
    ``options``: the cell's :data:`TURN_OPTIONS` (not in the body).
    """

    turn_id: str
    thread: str
    parent: str | None
    cell_id: str | None
    created_at: float
    system: str | None
    said: list[dict[str, Any]]
    params: dict[str, Any]
    state: str = "queued"
    request_id: str | None = None
    body: dict[str, Any] | None = None
    error: str | None = None
    owner: str | None = None  # "host:pid" of the process that drives it (a queued turn)
    options: dict[str, Any] = field(default_factory=dict)


def current_line(turns: Sequence[Turn], head: str | None) -> list[Turn]:
    """The turns from the first to ``head``, following each turn's parent."""
    by_id = {t.turn_id: t for t in turns}
    line: list[Turn] = []
    seen: set[str] = set()
    at = head
    while at is not None and at in by_id and at not in seen:
        seen.add(at)
        line.append(by_id[at])
        at = by_id[at].parent
    return line[::-1]


def replaced_position(line: Sequence[Turn], cell_id: str | None) -> int | None:
    """Where a re-run of ``cell_id`` puts its turn: the index of the cell's turn on the line,
    or None (no cell id, or a cell new to this line: the turn is appended)."""
    if cell_id is None:
        return None
    for index, turn in enumerate(line):
        if turn.cell_id == cell_id:
            return index
    return None


def said_messages(prompt: str | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages a turn adds for ``prompt`` (a string is one user message)."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt.strip("\n")}]
    return [dict(m) for m in prompt]


def history(system: str | None, exchanges: Sequence[tuple[Turn, str]]) -> list[dict[str, Any]]:
    """What a next turn sends before its own prompt: the system message, then each earlier
    turn's messages and its answer."""
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    for turn, answer in exchanges:
        messages.extend(dict(m) for m in turn.said)
        messages.append({"role": "assistant", "content": answer})
    return messages


def body_of(params: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A turn's request body: its parameters around the full message list."""
    body = {"model": params.get("model"), "messages": messages}
    body.update({k: v for k, v in params.items() if k not in ("model", "messages")})
    return body


def context_share(prompt_tokens: int, context_length: int | None) -> float | None:
    """How full the model's context is with ``prompt_tokens`` (None when the length is unknown)."""
    if not context_length:
        return None
    return prompt_tokens / context_length


def turn_tokens(counted: int | None, earlier: Sequence[dict[str, Any]],
                said: Sequence[dict[str, Any]]) -> int:
    """The tokens a turn sends: the previous turn's prompt + completion tokens as the server
    counted them (``counted``), or an estimate of the ``earlier`` messages when there is no
    count (a first turn: its system message), plus an estimate of this turn's own."""
    before = counted if counted is not None else estimate_tokens(earlier)
    return before + estimate_tokens(said)


def size_note(tokens: int, length: int | None, model: str, thread: str) -> str | None:
    """Issue item 6: a turn past the model's context is refused (one line that suggests a new
    thread); past 90 %, the note its card shows. None: fine, or the length is not known."""
    share = context_share(tokens, length)
    if share is None or share < CONTEXT_WARNING:
        return None
    if share > 1:
        raise InvalidArgument(
            f"Thread {thread!r} is too long for {model}: about {tokens:,} tokens of a "
            f"{length:,}-token context; start a new thread (--thread OTHER_NAME), perhaps "
            "with a summary.")
    return f"context {share:.0%} full: start a new thread soon"


def estimate_tokens(messages: Sequence[dict[str, Any]]) -> int:
    """A cheap upper-side token estimate for text not yet counted: four characters a token."""
    return sum(len(str(m.get("content", ""))) for m in messages) // 4 + 1


@dataclass
class Thread:
    """What ``xai_defer_magic.thread(NAME)`` returns: the thread as it stands now.

    ``turns``: the job handles of the current line, in order; ``messages``: what the next
    turn would send before its own prompt (the answered turns only).
    """

    name: str
    turns: list[Any] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    branches: int = 0  # turns kept in the journal off the current line (earlier re-runs)
    updated_at: float = 0.0

    def __len__(self) -> int:
        return len(self.turns)

    def __repr__(self) -> str:
        statuses = ", ".join(getattr(j, "status", "?") for j in self.turns)
        return f"<Thread {self.name!r}: {len(self.turns)} turns [{statuses}]>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


__all__ = [
    "CONTEXT_WARNING", "NAME_PATTERN", "TURN_OPTIONS", "TURN_STATES", "Thread", "Turn",
    "body_of", "check_thread_name", "context_share", "current_line", "estimate_tokens",
    "history", "replaced_position", "said_messages", "size_note", "turn_tokens",
]
