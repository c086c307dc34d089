"""`sq status [--json]`: every stage's workers, lag, state size, newest event and dead letters
(processors/runtime/stage_status.py), and how far each projection is behind the log (records and milliseconds).

Exit status 2 when the broker or the database does not answer (`sq infra status` says what runs where).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import psycopg

from connectors.postgres.lag import LagProbe, LagUnavailable
from processors.runtime.stage_status import StatusUnavailable, stage_statuses
from settings import load_settings
from sq.errors import CommandError
from sq.output import emit_json, table

TIMEOUT_S = 5.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("status", help="each stage's workers, lag, state, dead letters; projections' lag")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    now_ms = int(time.time() * 1000)
    try:
        stages = stage_statuses(settings, timeout_s=TIMEOUT_S)
        with psycopg.connect(settings.database_url, connect_timeout=int(TIMEOUT_S)) as conn:
            lags = LagProbe(settings).measure(conn, now_ms, TIMEOUT_S)
    except (LagUnavailable, StatusUnavailable) as error:
        raise CommandError(str(error)) from None
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach PostgreSQL ({error}); is it running? try `sq infra status`") from None
    if args.json:
        emit_json({"stages": [stage.as_json() for stage in stages], "projections": [lag.as_json() for lag in lags]})
        return 0
    table(
        ("stage", "workers", "lag (records)", "state (records)", "last event", "dead letters"),
        [
            (
                s.name,
                str(s.workers),
                str(s.lag_records),
                str(s.state_records),
                "never" if s.last_event_ms is None else f"{(now_ms - s.last_event_ms) / 1000:.1f} s ago",
                str(s.dead_letters),
            )
            for s in stages
        ],
        right=(1, 2, 3, 4, 5),
    )
    table(
        ("projection", "lag (records)", "lag (ms)"),
        [(lag.name, str(lag.lag_records), "unknown" if lag.lag_ms is None else str(lag.lag_ms)) for lag in lags],
        right=(1, 2),
    )
    return 0
