"""`sq clock [--interval S] [--max-ticks N] [--json]`: the ticker on its own (`sq up` runs one in process).

Writes a ClockTick to clock.ticks every interval, stamped with the wall clock: the event time execution
algorithms work by when no market data or order event arrives (docs/EXECUTION.md). Ctrl-C or SIGTERM stop it.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from typing import Any

from connectors.clock import run_ticker
from settings import load_settings
from sq.errors import CommandError
from sq.output import emit_json, progress, say
from topics.client import DeliveryError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("clock", help="write clock ticks for the execution algorithms until Ctrl-C")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between ticks (default: 1)")
    parser.add_argument("--max-ticks", type=int, default=None, help="stop after this many ticks")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise CommandError("--interval must be positive")
    if args.max_ticks is not None and args.max_ticks <= 0:
        raise CommandError("--max-ticks must be positive")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    progress(f"ticking every {args.interval:g} s on clock.ticks; Ctrl-C stops it")
    began = time.monotonic()
    try:
        ticks = run_ticker(load_settings(), args.interval, stop, max_ticks=args.max_ticks)
    except DeliveryError as error:
        raise CommandError(f"ticks could not be delivered ({error}); is the broker up? try `sq infra status`") from None
    summary = {"ticks": ticks, "interval_s": args.interval, "seconds": round(time.monotonic() - began, 3)}
    if args.json:
        emit_json(summary)
    else:
        say(f"{ticks} ticks in {summary['seconds']} s")
    return 0
