"""`sq audit order ORDER_ID [--json]`: an order's whole story read from the log; `sq audit verify --from --to`:
`sq verify` over a broker-time or offset range (replay/audit_range.py), each violation with its offset;
`sq audit index`: catch the audit index up (connectors/audit/index.py) ahead of the first audit."""

from __future__ import annotations

import argparse
from typing import Any

import psycopg

from connectors.audit.fetch import MissingRecords
from connectors.audit.index import IndexStats, LogUnavailable, catch_up
from connectors.audit.read import OrderAudit, UnknownOrder, audit_order
from connectors.postgres.migrate import migrate
from replay.audit_range import RangeError, parse_range
from replay.order_path_log import read_order_path_log
from replay.verify import verify
from replay.window import BEGIN, END
from settings import load_settings
from sq.errors import CommandError
from sq.output import Activity, emit_json, say


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="an order's causal story from the log")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    order = actions.add_parser("order", help="every record of one order (and its child orders), in causal order")
    order.add_argument("order_id")
    order.add_argument("--json", action="store_true")
    order.set_defaults(handler=run_order)
    check = actions.add_parser(
        "verify",
        help="sq verify over a time or offset range: the commands and venue orders in it, violations with offsets",
    )
    check.add_argument(
        "--from",
        dest="begin",
        default=BEGIN,
        help="BEGIN (default), an ISO 8601 time (UTC if no zone) or an offset orders.commands|venue.orders:P:O",
    )
    check.add_argument("--to", dest="end", default=END, help="END (default), a time or an offset; exclusive")
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=run_verify)
    index = actions.add_parser("index", help="bring the audit index up to the end of the topics")
    index.add_argument("--json", action="store_true")
    index.set_defaults(handler=run_index)


def _index_status(stats: IndexStats) -> str:
    return f"indexed {stats.records:,} records ({stats.rows:,} index rows)"


def run_order(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        migrate(settings.database_url)
        with Activity("reading the log") as activity:
            audit = audit_order(
                settings, args.order_id, on_index_progress=lambda stats: activity.status(_index_status(stats))
            )
    except UnknownOrder:
        raise CommandError(
            f"no record of the log names order {args.order_id}; check the id (sq flow and POST /v1/orders print it)"
        ) from None
    except MissingRecords as error:
        raise CommandError(
            f"{error}: the topics no longer hold records the audit index names (retention, or topics recreated)"
        ) from None
    except LogUnavailable as error:
        raise CommandError(f"{error}; is the broker up? try `sq infra status`") from None
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach PostgreSQL ({error}); is it running? try `sq infra status`") from None
    if args.json:
        emit_json(audit.as_json())
        return 0
    _print(audit, indent="")
    return 0


def _print(audit: OrderAudit, indent: str) -> None:
    say(f"{indent}order {audit.order_id} (account {audit.account}): {len(audit.lines)} records")
    for line in audit.lines:
        say(f"{indent}  {line['topic']} [{line['partition']}] @{line['offset']}  {line['kind']:<13} {line['summary']}")
    for child in audit.children:
        _print(child, indent + "    ")
    if audit.truncated:
        say(f"{indent}  … deeper child orders not shown")


def run_verify(args: argparse.Namespace) -> int:
    try:
        checked = parse_range(args.begin, args.end)
        with Activity("verifying", total=None):
            report = verify(read_order_path_log(load_settings(), checked=checked))
    except RangeError as error:
        raise CommandError(str(error)) from None
    except (RuntimeError, TimeoutError) as error:
        raise CommandError(f"cannot read the log ({error}); is the broker up (`sq infra status`)?") from None
    if args.json:
        emit_json({**report.as_json(), "range": checked.as_json()})
        return 0 if report.ok else 1
    if checked.topic is not None:
        say(f"checked: {checked.topic} partition {checked.partition}, offsets [{args.begin}, {args.end})")
    if checked.caused_by_commands:
        say("  with the venue orders those commands caused")
    say(
        f"commands {report.commands}  lost {report.lost}  duplicated {report.duplicated}  "
        f"undecided {report.undecided}  unapproved {report.unapproved}  duplicate fills {report.duplicate_fills}  "
        f"position mismatches {report.position_mismatches}  vanished {report.vanished}"
    )
    for violation in report.violations:
        say(f"  ! {violation['where'] or '(position unknown)'}  {violation['violation']}")
    say("OK: every invariant holds in the range" if report.ok else f"VIOLATED: {len(report.violations)} listed above")
    return 0 if report.ok else 1


def run_index(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        migrate(settings.database_url)
        with Activity("indexing") as activity:
            stats = catch_up(settings, settings.database_url, on_progress=lambda s: activity.status(_index_status(s)))
    except LogUnavailable as error:
        raise CommandError(f"{error}; is the broker up? try `sq infra status`") from None
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach PostgreSQL ({error}); is it running? try `sq infra status`") from None
    if args.json:
        emit_json(stats.as_json())
        return 0
    say(f"{_index_status(stats)} in {stats.seconds:.2f} s; the audit index is at the end of the topics")
    return 0
