"""Checked setting values: the constructor, the CLI and the admin endpoint all pass untrusted input.

A bad value is a ValueError with the setting's name, which the admin endpoint turns into a 400.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any


def number(value: Any, name: str) -> float:
    """A finite int or float (never a bool) as float, or ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number")
    return float(value)


def positive(value: Any, name: str) -> float:
    if number(value, name) <= 0:
        raise ValueError(f"{name} must be > 0")
    return float(value)


def latency_range(value: Any) -> tuple[float, float]:
    """Normalise a latency (seconds, or a ``(low, high)`` pair) into a checked pair."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError("latency range must be [low, high]")
        low, high = number(value[0], "latency"), number(value[1], "latency")
    else:
        low = high = number(value, "latency")
    if low < 0 or high < low:
        raise ValueError("latency must be >= 0 and low <= high")
    return low, high


def loopback_host(host: str) -> str:
    """The IPv4 loopback address to bind, or ValueError: the emulator never listens outside."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host must be a loopback address, not {host!r}") from None
    if address.version != 4 or not address.is_loopback:
        raise ValueError(f"host must be an IPv4 loopback address (127.x.x.x), not {host!r}")
    return host
