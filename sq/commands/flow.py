"""`sq flow --orders N --seed S [--rate R] [--accounts K] [--symbols …]`: a seeded order flow into Kafka."""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from connectors.order_flow import REFERENCE_MIDS, FlowConfig, OrderFlow
from settings import load_settings
from sq.errors import CommandError
from sq.output import Activity, emit_json, say
from topics.catalogue import ORDERS_COMMANDS, RISK_LIMITS
from topics.client import AvroProducer


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("flow", help="produce a seeded, realistic random order flow to the commands topic")
    parser.add_argument("--orders", type=int, required=True, help="how many new orders (cancels etc. come on top)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=None, help="commands per second (default: as fast as possible)")
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT", help=f"comma-separated, of {', '.join(REFERENCE_MIDS)}")
    parser.add_argument("--run-id", default=None, help="prefix of client order ids (default: a new one per run)")
    parser.add_argument(
        "--no-limits", action="store_true", help="skip sending each account's risk limits with reference prices first"
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.orders <= 0:
        raise CommandError("--orders must be positive")
    config = FlowConfig(
        orders=args.orders,
        seed=args.seed,
        accounts=args.accounts,
        symbols=tuple(args.symbols.split(",")),
        run_id=args.run_id or f"flow-{uuid.uuid4().hex[:6]}",
        start_time_us=time.time_ns() // 1000,
    )
    try:
        flow = OrderFlow(config)
    except ValueError as error:
        raise CommandError(str(error)) from None
    producer = AvroProducer(load_settings())
    began = time.monotonic()
    counts: dict[str, int] = {}
    if not args.no_limits:
        for limits in flow.limits():
            producer.produce(RISK_LIMITS, limits.key, limits.schema, limits.record)
    with Activity("new orders", total=config.orders) as activity:
        for sent, command in enumerate(flow.commands(), start=1):
            if args.rate:
                delay = began + sent / args.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            producer.produce(ORDERS_COMMANDS, command.key, command.schema, command.record)
            name = command.schema.rsplit(".", 1)[1]
            counts[name] = counts.get(name, 0) + 1
            activity.reached(flow.placed)
            if sent % 5000 == 0:
                activity.status(f"{sent} commands sent ({sent / (time.monotonic() - began):.0f}/s)")
        activity.status(f"{sum(counts.values())} commands sent; waiting for the broker's acknowledgements")
        producer.flush()
    seconds = time.monotonic() - began
    total = sum(counts.values())
    summary = {
        "run_id": config.run_id,
        "seed": config.seed,
        "commands": total,
        "by_type": counts,
        "seconds": round(seconds, 3),
        "rate": round(total / seconds, 1) if seconds else None,
    }
    if args.json:
        emit_json(summary)
    else:
        say(
            f"sent {total} commands ({', '.join(f'{n} {k}' for k, n in counts.items())}) in {seconds:.2f} s "
            f"as run {config.run_id}"
        )
    return 0
