"""Once-a-second refresh of every pending card's elapsed time, on the loop thread.

Kept apart from the widgets so loading the extension does not import ipywidgets until a card
is shown.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from xai_defer_magic.core.failures import log_once


class CardTicker:
    """Refreshes the elapsed time of every pending card once a second, on the loop thread."""

    def __init__(self) -> None:
        self._cards: list[Any] = []
        self._lock = threading.Lock()

    def add(self, card: Any) -> None:
        with self._lock:
            self._cards.append(card)

    def tick(self) -> None:
        now = time.time()
        with self._lock:
            self._cards = [c for c in self._cards if not c.job.done]
            cards = list(self._cards)
        for card in cards:
            try:
                card.tick(now)
            except Exception as exc:  # a closed widget must not stop the others
                log_once("a live card's tick", exc)

    def __len__(self) -> int:
        return len(self._cards)


CARDS = CardTicker()  # cards outlive a runtime (%reload_ext): one ticker per process
