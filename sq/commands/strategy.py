"""`sq strategy run NAME|module:Class`: a strategy live against the running pipeline (docs/BACKTEST.md).

It reads md.book.top, md.trades and its account's orders.events and sends its orders to orders.commands, the
same commands a backtest of it sends. Ctrl-C (or SIGTERM, or --max-seconds) stops it.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from typing import Any

from confluent_kafka import KafkaException

from replay.backtest.live import LiveStats, LiveStrategy
from replay.backtest.strategy import STRATEGIES, StrategyRunner, strategy_class
from settings import load_settings
from sq.commands.backtest import parse_params
from sq.errors import CommandError
from sq.output import Activity, emit_json, progress, say


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("strategy", help="run a strategy live against the running pipeline")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run_parser = actions.add_parser("run", help="run a strategy live: market data and fills in, orders out")
    run_parser.add_argument("strategy", help=f"{', '.join(STRATEGIES)} or module:Class")
    run_parser.add_argument("--account", default="STRAT-001")
    run_parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a strategy parameter")
    run_parser.add_argument("--from-beginning", action="store_true", help="react to the topics' whole history too")
    run_parser.add_argument("--max-seconds", type=float, default=None, help="stop after this long")
    run_parser.add_argument("--json", action="store_true")
    run_parser.set_defaults(handler=run)


def _status(stats: LiveStats) -> str:
    return f"{stats.events} events, {stats.commands} commands, {stats.fills} fills"


def run(args: argparse.Namespace) -> int:
    try:
        strategy = strategy_class(args.strategy)()
    except ValueError as error:
        raise CommandError(str(error)) from None
    name = args.strategy.rpartition(":")[2]
    runner = StrategyRunner(strategy, name=name, account=args.account, params=parse_params(args.param))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    deadline = None if args.max_seconds is None else time.monotonic() + args.max_seconds
    try:
        live = LiveStrategy(load_settings(), runner, from_beginning=args.from_beginning)
    except (KafkaException, RuntimeError) as error:
        raise CommandError(f"cannot reach the topics ({error}); is the pipeline up? try `sq status`") from None
    progress(f"strategy {name} running for account {args.account}; Ctrl-C stops it")
    try:
        with Activity("trading") as activity:
            live.run(
                lambda: stop.is_set() or (deadline is not None and time.monotonic() >= deadline),
                lambda stats: activity.status(_status(stats)),
            )
    finally:
        live.close()
    summary = {"strategy": name, "account": args.account, **vars(live.stats)}
    if args.json:
        emit_json(summary)
    else:
        say(f"strategy {name} ({args.account}) stopped: {_status(live.stats)}")
    return 0
