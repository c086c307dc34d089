"""`sq verify [--json] [--settle S]`: check the order path's invariants from the topics."""

from __future__ import annotations

import argparse
from typing import Any

from replay.order_path_log import verify_settled
from settings import load_settings
from sq.output import Activity, emit_json, say


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("verify", help="check that nothing was lost, duplicated or unapproved")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="re-check for up to this many seconds while commands are still in flight "
        "(stops early when only duplicates remain and the log is still for 10 s)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    with Activity("verifying", total=None) as activity:
        report = verify_settled(load_settings(), args.settle, activity.status)
    if args.json:
        emit_json(report.as_json())
        return 0 if report.ok else 1
    say(
        f"commands {report.commands}  outcomes {report.outcomes}  lost {report.lost}  duplicated {report.duplicated}  "
        f"undecided {report.undecided}  unapproved {report.unapproved}"
    )
    say(
        f"fills {report.fills} (venue {report.venue_fills})  duplicate fills {report.duplicate_fills}  "
        f"position mismatches {report.position_mismatches}"
    )
    say(f"orders {report.orders}: {report.orders_terminal} finished, {report.orders_working} working")
    say(
        f"dead-lettered commands-topic records {report.dead_lettered}  vanished {report.vanished}  "
        f"unreadable records skipped {report.unreadable}"
    )
    if report.dead_letter_reasons:
        say("dead letter reasons: " + ", ".join(f"{k} {v}" for k, v in report.dead_letter_reasons.items()))
    if report.outcomes_by_type:
        say("outcomes: " + ", ".join(f"{k} {v}" for k, v in report.outcomes_by_type.items()))
    if report.reject_reasons:
        say("reject reasons: " + ", ".join(f"{k} {v}" for k, v in report.reject_reasons.items()))
    for example in report.examples:
        say(f"  ! {example}")
    say("OK: every invariant holds" if report.ok else "VIOLATED: see the counts above")
    return 0 if report.ok else 1
