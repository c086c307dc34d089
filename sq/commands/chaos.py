"""`sq chaos crash|broker|poison|database|rebalance --orders N [--kills K] [--workers W] [--seed S] [--json]`: faults
injected into a running order path, then its invariants checked (deploy/chaos.py, deploy/chaos_cluster.py).

A run uses topics and a database of its own on the configured broker and PostgreSQL server, so it can be
pointed at a deployment's servers without touching its data. Prints
``{"commands", "outcomes", "faults", "lost", "duplicated", "mismatches"}`` and exits 1 on a violation.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from processors.runtime.pipeline import DEFAULT_TOPOLOGY, TOPOLOGIES
from sq.errors import CommandError
from sq.output import emit_json, progress, say

SUMMARY_KEYS = ("commands", "outcomes", "faults", "lost", "duplicated", "mismatches")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("chaos", help="inject faults into the order path and check its invariants")
    modes = parser.add_subparsers(dest="mode", required=True, metavar="MODE")
    crash = modes.add_parser("crash", help="SIGKILL each processor's worker at seeded random points of a flow")
    _common(crash)
    crash.add_argument("--kills", type=int, default=2, help="SIGKILLs per processor (default: %(default)s)")
    _workers(crash)
    crash.set_defaults(handler=run)
    broker = modes.add_parser(
        "broker",
        help="a 3-node KRaft cluster of the run's own: nodes killed during the flow, then the active controller, "
        "then a rolling restart",
    )
    _common(broker)
    broker.add_argument("--kills", type=int, default=1, help="nodes SIGKILLed and restarted (default: %(default)s)")
    _workers(broker)
    broker.add_argument(
        "--cluster-home",
        type=Path,
        default=None,
        help="a running local cluster's folder (infra/kafka_cluster.py) instead of one of the run's own",
    )
    broker.set_defaults(handler=run)
    rebalance = modes.add_parser(
        "rebalance",
        help="several workers per stage on the settings' cluster; one of each stage killed and kept down until its "
        "group has rebalanced, then started again",
    )
    _common(rebalance)
    rebalance.set_defaults(topology="split")
    rebalance.add_argument("--kills", type=int, default=1, help="workers killed per stage (default: %(default)s)")
    _workers(rebalance, default=3)
    rebalance.set_defaults(handler=run)
    poison = modes.add_parser(
        "poison", help="malformed records of every kind and absurd commands mixed into one account's flow"
    )
    _common(poison, topology=False)
    poison.add_argument(
        "--per-kind",
        type=int,
        default=100,
        help="malformed records of each kind and commands of each absurd value (default: %(default)s; "
        "oversized ones at most 20)",
    )
    poison.set_defaults(handler=run)
    database = modes.add_parser(
        "database",
        help="a PostgreSQL server of the run's own crashed and restarted during the flow, under the whole stack",
    )
    _common(database)
    database.add_argument("--kills", type=int, default=2, help="PostgreSQL crashes (default: %(default)s)")
    database.set_defaults(handler=run)


def _workers(parser: argparse.ArgumentParser, default: int = 1) -> None:
    parser.add_argument("--workers", type=int, default=default, help="workers per stage (default: %(default)s)")


def _common(parser: argparse.ArgumentParser, *, topology: bool = True) -> None:
    parser.add_argument("--orders", type=int, required=True, help="new orders in the flow (cancels, amends on top)")
    parser.add_argument("--seed", type=int, default=7, help="seeds the flow and the fault points")
    parser.add_argument("--accounts", type=int, default=4, help="accounts in the flow (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=500.0, help="commands per second (default: %(default)s)")
    if topology:  # poison runs the single topology: it compares with that stage run in memory
        parser.add_argument("--topology", choices=TOPOLOGIES, default=DEFAULT_TOPOLOGY)
    parser.add_argument(
        "--settle", type=float, default=240.0, help="seconds to wait for the log to settle before judging it"
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's topics and database to look at")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON document")


def run(args: argparse.Namespace) -> int:
    from deploy.chaos import ChaosError, ChaosOptions, ChaosReport, run_crash, run_database, run_poison
    from deploy.chaos_cluster import run_broker, run_rebalance
    from settings import Settings, load_settings

    try:
        options = ChaosOptions(
            orders=args.orders,
            seed=args.seed,
            kills=getattr(args, "kills", 0),
            workers=getattr(args, "workers", 1),
            accounts=args.accounts,
            per_kind=getattr(args, "per_kind", 0),
            rate=args.rate,
            topology=getattr(args, "topology", DEFAULT_TOPOLOGY),
            settle_s=args.settle,
            keep=args.keep,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None

    def broker(settings: Settings, options: ChaosOptions, say_: Callable[[str], None]) -> ChaosReport:
        return run_broker(settings, options, say_, cluster_home=args.cluster_home)

    runners = {
        "crash": run_crash,
        "broker": broker,
        "poison": run_poison,
        "database": run_database,
        "rebalance": run_rebalance,
    }
    try:
        report = runners[args.mode](load_settings(), options, progress)
    except ChaosError as error:
        raise CommandError(str(error)) from None
    document = report.as_json()
    if args.json:
        emit_json(document)
    else:
        say("  ".join(f"{key} {document[key]}" for key in SUMMARY_KEYS))
        say("OK: every invariant holds" if report.ok else "VIOLATED: see `--json` for the details")
    return 0 if report.ok else 1
