"""``xai-defer-emulator`` / ``python -m xai_defer_magic.emulator``: run the emulator until stopped.

Prints exactly one line on stdout, ``XAI_BASE_URL=http://127.0.0.1:PORT/v1``, so scripts can read
the port (or pass ``--port-file``), and one line for people on stderr: which key works and how to
stop it. SIGINT (Ctrl-C) and SIGTERM stop it cleanly with exit status 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .server import Emulator
from .values import latency_range, loopback_host


def parse_latency(text: str) -> float | tuple[float, float]:
    """``"3"`` -> 3.0 seconds; ``"2-8"`` -> a uniform range of 2 to 8 seconds."""
    low, sep, high = text.partition("-")
    try:
        value: float | tuple[float, float] = (float(low), float(high)) if sep else float(low)
        latency_range(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"latency must be SECONDS or LOW-HIGH, not {text!r}"
        ) from None
    return value


def _loopback(text: str) -> str:
    try:
        return loopback_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xai-defer-emulator",
        description="Offline emulator of xAI's deferred chat completions (loopback only).",
    )
    parser.add_argument("--host", type=_loopback, default="127.0.0.1",
                        help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    parser.add_argument("--latency", type=parse_latency, default=3.0,
                        help='job processing time in emulated seconds: "3" or "2-8" (default 3)')
    parser.add_argument("--api-key", default=os.environ.get("XAI_EMULATOR_KEY"),
                        help="only accept this key (default: $XAI_EMULATOR_KEY, else any key)")
    parser.add_argument("--ttl", type=float, default=86400.0,
                        help="emulated seconds a result stays retrievable (default 86400)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="emulated seconds per real second (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed for latencies and faults")
    parser.add_argument("--config", type=json.loads, default=None, metavar="JSON",
                        help='settings as for POST /_emulator/config, e.g. \'{"drop_rate": 0.1}\'')
    parser.add_argument("--port-file", type=Path, default=None,
                        help="also write the base URL to this file")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def start_line(base_url: str, api_key: str | None) -> str:
    """The line a person reads: where it listens, which key it takes, how to stop it."""
    key = ("only the key from --api-key or $XAI_EMULATOR_KEY is accepted" if api_key
           else "any XAI_API_KEY works, e.g. export XAI_API_KEY=emulated")
    return (f"xai-defer-emulator: emulated xAI at {base_url} (export XAI_BASE_URL={base_url}); "
            f"{key}; press Ctrl-C to stop.")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        emulator = Emulator(host=args.host, port=args.port, api_key=args.api_key or None,
                            latency=args.latency, ttl=args.ttl, time_scale=args.time_scale,
                            seed=args.seed, verbose=args.verbose)
        if args.config:
            emulator.configure(args.config)
    except (ValueError, TypeError) as exc:
        print(f"xai-defer-emulator: {exc}", file=sys.stderr)
        return 2
    with emulator:
        if args.port_file is not None:
            args.port_file.write_text(emulator.base_url + "\n")
        print(f"XAI_BASE_URL={emulator.base_url}", flush=True)
        print(start_line(emulator.base_url, args.api_key or None), file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
