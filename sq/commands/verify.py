"""`sq verify [--json] [--settle S]`: check the order path's invariants from the topics."""

from __future__ import annotations

import argparse
import time
from typing import Any

from replay.order_path_log import read_order_path_log
from replay.verify import VerifyReport, verify
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


QUIET_S = 10.0  # nothing in flight and a log this still: what is violated now stays violated


def verify_settled(settle_s: float) -> VerifyReport:
    """Verify; while an invariant fails, re-check for up to ``settle_s``, unless nothing is in flight any more."""
    settings = load_settings()
    began = time.monotonic()
    deadline = began + settle_s
    last, changed_at = None, began
    with Activity("verifying", total=settle_s or None) as activity:
        while True:
            report = verify(read_order_path_log(settings))
            now = time.monotonic()
            if report.as_json() != last:
                last, changed_at = report.as_json(), now
            in_flight = report.lost or report.position_mismatches  # what a working pipeline may still resolve
            if report.ok or now >= deadline or (not in_flight and now - changed_at >= QUIET_S):
                return report
            activity.status(
                f"not settled yet: {report.lost} without outcome, {report.position_mismatches} positions behind …",
                completed=now - began,
            )
            time.sleep(1.0)  # the pipeline's pace: re-read the log once a second


def run(args: argparse.Namespace) -> int:
    report = verify_settled(args.settle)
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
    if report.outcomes_by_type:
        say("outcomes: " + ", ".join(f"{k} {v}" for k, v in report.outcomes_by_type.items()))
    if report.reject_reasons:
        say("reject reasons: " + ", ".join(f"{k} {v}" for k, v in report.reject_reasons.items()))
    for example in report.examples:
        say(f"  ! {example}")
    say("OK: every invariant holds" if report.ok else "VIOLATED: see the counts above")
    return 0 if report.ok else 1
