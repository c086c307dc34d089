"""`sq db migrate [--json]`: apply the project's pending PostgreSQL migrations (connectors/postgres/migrations)."""

from __future__ import annotations

import argparse
from typing import Any

import psycopg

from connectors.postgres.migrate import MigrationError, migrate
from settings import load_settings
from sq.errors import CommandError
from sq.output import emit_json, say


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="the PostgreSQL database of the projections")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    migrate_parser = actions.add_parser("migrate", help="apply pending migrations (safe to run concurrently)")
    migrate_parser.add_argument("--json", action="store_true")
    migrate_parser.set_defaults(handler=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        report = migrate(settings.database_url)
    except MigrationError as error:
        raise CommandError(str(error)) from None
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach PostgreSQL ({error}); is it running? try `sq infra status`") from None
    if args.json:
        emit_json(report.as_json())
    elif report.applied:
        say(f"applied migrations {', '.join(f'{v:04d}' for v in report.applied)}; schema at {report.current:04d}")
    else:
        say(f"nothing to apply; schema at {report.current:04d}")
    return 0
