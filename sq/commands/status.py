"""`sq status [--json]`: how far each projection is behind the log (records and milliseconds).

Exit status 1 when the broker or the database does not answer (`sq infra status` says what runs where).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import psycopg

from connectors.postgres.lag import LagProbe, LagUnavailable
from settings import load_settings
from sq.errors import CommandError
from sq.output import emit_json, table

TIMEOUT_S = 5.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("status", help="how far each projection is behind the log")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        with psycopg.connect(settings.database_url, connect_timeout=int(TIMEOUT_S)) as conn:
            lags = LagProbe(settings).measure(conn, int(time.time() * 1000), TIMEOUT_S)
    except LagUnavailable as error:
        raise CommandError(str(error)) from None
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach PostgreSQL ({error}); is it running? try `sq infra status`") from None
    if args.json:
        emit_json({"projections": [lag.as_json() for lag in lags]})
        return 0
    table(
        ("projection", "lag (records)", "lag (ms)"),
        [(lag.name, str(lag.lag_records), "unknown" if lag.lag_ms is None else str(lag.lag_ms)) for lag in lags],
        right=(1, 2),
    )
    return 0
