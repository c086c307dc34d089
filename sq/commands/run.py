"""`sq run [processor …] --engine kafka|faust`: run processors' workers in the foreground."""

from __future__ import annotations

import argparse
import time
from typing import Any

from processors.runtime.pipeline import ORDER_PATH
from processors.runtime.registry import PROCESSORS
from processors.runtime.supervisor import start_worker, stop_workers
from processors.runtime.worker import DEFAULT_ENGINE, ENGINES, run_worker
from sq.errors import CommandError
from sq.output import progress


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run processors (default: the whole order path) until Ctrl-C")
    parser.add_argument(
        "processors",
        nargs="*",
        metavar="PROCESSOR",
        help=f"any of {', '.join(PROCESSORS)} (default: {' '.join(ORDER_PATH)})",
    )
    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE)
    parser.add_argument(
        "--worker", type=int, default=0, help="this worker's slot number; workers of one processor share its partitions"
    )
    parser.add_argument("--max-seconds", type=float, default=None, help="stop after this long")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    names = args.processors or list(ORDER_PATH)
    unknown = [name for name in names if name not in PROCESSORS]
    if unknown:
        raise CommandError(f"unknown processor {unknown[0]!r}; choose from {', '.join(PROCESSORS)}")
    if len(names) == 1:
        progress(f"running {names[0]} (worker {args.worker}) on the {args.engine} engine; Ctrl-C stops it")
        run_worker(names[0], args.engine, args.worker, args.max_seconds)
        return 0
    workers = [start_worker(name, args.worker, args.engine) for name in names]
    progress(f"running {', '.join(w.label for w in workers)} on the {args.engine} engine; Ctrl-C stops them")
    deadline = None if args.max_seconds is None else time.monotonic() + args.max_seconds
    try:
        while deadline is None or time.monotonic() < deadline:
            exited = [w for w in workers if w.process.poll() is not None]
            if exited:
                progress(f"{exited[0].label} exited with code {exited[0].process.returncode}; stopping the others")
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        progress("stopping …")
    finally:
        stop_workers(workers)
    return 0
