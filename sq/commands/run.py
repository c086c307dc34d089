"""`sq run [STAGE …] [--topology T] [--engine kafka|faust] [--worker N]`: run stages' workers until Ctrl-C.

Without stages, the topology's (default: single, the whole order path in one process) and the orderbook.
A stage is a topology's (``orderpath``; ``account``, ``venue``) or a core alone (``risk``, ``oms``, ``venue``,
``portfolio``, ``orderbook``). Workers are supervised: one that exits is restarted with backoff, and one that
keeps exiting ends the command with a message saying which.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from processors.runtime.pipeline import DEFAULT_TOPOLOGY, MARKET_DATA_STAGES, STAGES, TOPOLOGIES, topology_stages
from processors.runtime.supervisor import Supervisor
from processors.runtime.worker import DEFAULT_ENGINE, ENGINES
from settings import load_settings
from sq.errors import CommandError
from sq.output import progress


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run processors (default: the topology's stages) until Ctrl-C")
    parser.add_argument(
        "stages",
        nargs="*",
        metavar="STAGE",
        help=f"any of {', '.join(STAGES)} (default: the topology's stages and {', '.join(MARKET_DATA_STAGES)})",
    )
    parser.add_argument("--topology", choices=TOPOLOGIES, default=DEFAULT_TOPOLOGY)
    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE)
    parser.add_argument(
        "--worker",
        type=int,
        default=0,
        help="this worker's slot number; workers of a stage share its partitions (or stand by, when exclusive)",
    )
    parser.add_argument("--max-seconds", type=float, default=None, help="stop after this long")
    parser.add_argument(
        "--engine-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a kafka engine option for every worker (processors.runtime.kafka_engine.EngineOptions)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    names = args.stages or [*topology_stages(args.topology), *MARKET_DATA_STAGES]
    unknown = [name for name in names if name not in STAGES]
    if unknown:
        raise CommandError(f"unknown stage {unknown[0]!r}; choose from {', '.join(STAGES)}")
    if args.engine == "faust" and any(len(STAGES[name].cores) > 1 for name in names):
        raise CommandError("the faust engine runs one core per stage: name single cores, or use --topology cores")
    from processors.runtime.kafka_engine import parse_options  # imported when run: registering stays light

    try:
        parse_options(args.engine_option)  # refused here, before any worker starts
    except ValueError as error:
        raise CommandError(str(error)) from None
    supervisor = Supervisor(load_settings().as_env(), say=progress, engine_options=tuple(args.engine_option))
    for name in names:
        supervisor.start(name, args.worker, args.engine)
    progress(f"running {', '.join(supervisor.labels)} on the {args.engine} engine; Ctrl-C stops them")
    deadline = None if args.max_seconds is None else time.monotonic() + args.max_seconds
    try:
        while deadline is None or time.monotonic() < deadline:
            given_up = supervisor.check()
            if given_up:
                progress(f"{given_up}; stopping the others")
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        progress("stopping …")
    finally:
        supervisor.stop()
        restarted = sum(supervisor.restarts.values())
        if restarted:
            progress(f"{restarted} restart(s): {dict(supervisor.restarts)}")
    return 0
