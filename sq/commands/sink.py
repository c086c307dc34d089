"""`sq sink [--until-end] [--max-seconds S] [--batch-size N] [--json]`: maintain the PostgreSQL projections.

Consumes orders.events, venue.executions and portfolio.positions into the tables of connectors/postgres,
resuming from the offsets stored with the rows. Progress goes to stderr; a summary (or ``--json``) at the end.
SIGTERM or Ctrl-C finish the batch in hand, then stop.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

import psycopg

from connectors.postgres.migrate import MigrationError
from connectors.postgres.sink import SinkError, SinkOptions, SinkStats, run_sink
from processors.runtime.metrics import ProcessMetrics, serving_probes
from settings import load_settings
from sq.errors import CommandError
from sq.output import Activity, emit_json, progress, say


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sink", help="project order events, fills and positions into PostgreSQL")
    parser.add_argument("--until-end", action="store_true", help="stop once the topics are drained")
    parser.add_argument("--max-seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--batch-size", type=int, default=SinkOptions.batch_size)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def sink_status(stats: SinkStats) -> str:
    rate = stats.consumed / stats.seconds if stats.seconds else 0.0
    return f"{stats.consumed} records, {stats.rows} rows, {stats.dead_letters} dead letters ({rate:.0f} records/s)"


def run(args: argparse.Namespace) -> int:
    if args.batch_size <= 0:
        raise CommandError("--batch-size must be positive")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    options = SinkOptions(batch_size=args.batch_size, until_end=args.until_end)
    progress("sink running" + (" until the topics are drained" if args.until_end else "; Ctrl-C stops it"))
    settings = load_settings()
    metrics = ProcessMetrics("sink")
    try:
        with Activity("projecting") as activity, serving_probes(settings, metrics):
            stats = run_sink(
                settings,
                args.max_seconds,
                stop,
                options=options,
                on_progress=lambda s: activity.status(sink_status(s)),
                metrics=metrics,
            )
    except (SinkError, MigrationError) as error:
        raise CommandError(str(error)) from None
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach PostgreSQL ({error}); is it running? try `sq infra status`") from None
    if args.json:
        emit_json(stats.as_json())
    else:
        summary = stats.as_json()
        say(
            f"consumed {stats.consumed} records in {summary['seconds']} s: {stats.order_events} order events, "
            f"{stats.orders} order upserts, {stats.fills} fill upserts, {stats.positions} position upserts, "
            f"{stats.dead_letters} dead letters, {stats.duplicates} duplicates skipped "
            f"({summary['rows_per_second'] or 0} rows/s)"
        )
    return 0
