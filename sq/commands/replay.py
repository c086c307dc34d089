"""`sq replay rebuild-projections [--json]`: drop the PostgreSQL projections and rebuild them from the topics."""

from __future__ import annotations

import argparse
from typing import Any

import psycopg

from connectors.postgres.migrate import MigrationError
from connectors.postgres.sink import SinkBusy, SinkError
from infra.local_state import kafka_cluster_id, record_binding
from replay.projections import rebuild_projections
from settings import load_settings
from sq.commands.sink import sink_status
from sq.errors import CommandError
from sq.output import Activity, emit_json, progress, say


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("replay", help="rebuild state from the log")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = actions.add_parser(
        "rebuild-projections", help="drop the PostgreSQL projections and rebuild them from the topics"
    )
    rebuild.add_argument("--batch-size", type=int, default=5000)
    rebuild.add_argument("--json", action="store_true")
    rebuild.set_defaults(handler=run_rebuild)


def run_rebuild(args: argparse.Namespace) -> int:
    if args.batch_size <= 0:
        raise CommandError("--batch-size must be positive")
    progress("rebuilding the projections from the topics …")
    settings = load_settings()
    try:
        with Activity("rebuilding") as activity:
            report = rebuild_projections(
                settings, args.batch_size, on_progress=lambda s: activity.status(sink_status(s))
            )
        if report.complete and not (settings.external_kafka or settings.external_database_url):
            record_binding(settings, kafka_cluster_id(settings))  # `sq up` then finds them of this log
    except SinkBusy:
        raise CommandError("a sink is running on this database (sq sink / sq up); stop it, then rebuild") from None
    except (SinkError, MigrationError) as error:
        raise CommandError(str(error)) from None
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach PostgreSQL ({error}); is it running? try `sq infra status`") from None
    if args.json:
        emit_json(report.as_json())
        return 0 if report.complete else 1
    if not report.complete:
        say("the rebuild did not reach the end of the topics; it was rolled back, the projections are unchanged")
        return 1
    stats = report.stats
    say(
        f"rebuilt from {stats.consumed} records in {stats.seconds:.2f} s "
        f"({stats.dead_letters} dead letters): " + ", ".join(f"{n} {t}" for t, n in report.tables.items())
    )
    return 0
