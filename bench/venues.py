"""The venue core's cost per order message with several named venues, against the single default venue.

One seeded flow of limit orders (random side, price within a few ticks of 100, one order in five a cancel of an
earlier one) on one symbol, handled by ``processors.venue.core.VenueCore``: all on ``sim`` (the baseline: one
venue, no latency), spread over three named venues of different fees and no latency, and over three named venues
of different latencies (messages wait in event time). Each run writes the state changes every ``--batch``
messages, as an engine does. Figures: µs per order message (median of ``--repeat`` runs).

Also SMART's sweep (``processors.algos.smart.allocate``), what the router does for a SMART parent on each book
change: µs per sweep over three named venues sharing a market of ``--levels`` displayed levels a side.

Reproduce: ``python -m bench.venues [--orders N] [--levels N] [--json]``.
"""

from __future__ import annotations

import argparse
import functools
import random
import time
from collections.abc import Sequence
from typing import Any

from bench.common import Reporter, machine_info, median_of_runs
from processors.algos.smart import VenueView, allocate
from processors.core import Event
from processors.venue import VenueCore
from processors.venue.config import venue_config
from schemas.names import VENUE_ORDER
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE
from settings import VenueSpec
from topics.catalogue import VENUE_ORDERS

PHASE = "venue core"
SYMBOL = "BTCUSDT"
T0 = 1_700_000_000_000_000
STEP_US = 100  # event time between two messages
FEES_ONLY = (VenueSpec("a", 2, 5, 0), VenueSpec("b", 1, 4, 0), VenueSpec("c", -1, 3, 0))
WITH_LATENCY = (VenueSpec("a", 2, 5, 0), VenueSpec("b", 1, 4, 300), VenueSpec("c", -1, 3, 1_000))


def flow(orders: int, venues: Sequence[str], seed: int) -> list[Event]:
    """The seeded order messages, each NEW on a venue drawn from ``venues``; a CANCEL goes to the order's venue."""
    rng = random.Random(seed)
    placed: list[tuple[str, str, str]] = []  # order id, account, venue
    events = []
    for n in range(orders):
        t = T0 + n * STEP_US
        cancel = placed and rng.random() < 0.2
        if cancel:
            order_id, account, venue = placed.pop(rng.randrange(len(placed)))
        else:
            order_id, account, venue = f"o{n}", f"acc-{rng.randrange(8)}", rng.choice(venues)
            placed.append((order_id, account, venue))
        record: dict[str, Any] = {
            "meta": {
                "event_id": f"e{n}",
                "producer": "bench",
                "event_time_us": t,
                "ingest_time_us": t,
                "causation_id": None,
                "correlation_id": f"e{n}",
            },
            "venue": venue,
            "symbol": SYMBOL,
            "account": account,
            "order_id": order_id,
            "parent_order_id": None,
            "action": "CANCEL" if cancel else "NEW",
            "side": rng.choice(("BUY", "SELL")),
            "order_type": "LIMIT",
            "time_in_force": "GTC",
            "quantity": rng.randint(1, 10) * QUANTITY_SCALE // 100,
            "price": (100 * PRICE_SCALE) + rng.randint(-3, 3) * PRICE_SCALE // 100,
            "stop_price": None,
            "post_only": False,
            "expire_time_us": None,
            "risk_decision_id": f"rd{n}",
        }
        events.append(Event(VENUE_ORDERS, SYMBOL, VENUE_ORDER, record, t))
    return events


def run_once(events: Sequence[Event], specs: Sequence[VenueSpec], batch: int) -> tuple[float, int]:
    """(seconds, reports) of one pass of ``events`` through a fresh core configured with ``specs``."""
    core = VenueCore(venue_config(specs))
    reports = 0
    started = time.perf_counter()
    for n, event in enumerate(events, 1):
        reports += len(core.apply(event))
        if n % batch == 0:
            core.state_changes()
    core.state_changes()
    return time.perf_counter() - started, reports


def _seconds(events: Sequence[Event], specs: Sequence[VenueSpec], batch: int) -> float:
    return run_once(events, specs, batch)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.venues", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=20_000, help="order messages of the flow")
    parser.add_argument("--batch", type=int, default=500, help="messages per state_changes call")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the median is reported")
    parser.add_argument("--levels", type=int, default=20, help="displayed levels a side for the SMART sweep")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    reporter = Reporter(args.json)
    info = machine_info()
    reporter.machine(info)
    reporter.notes.update(orders=args.orders, batch=args.batch, repeat=args.repeat, seed=args.seed)
    cases: tuple[tuple[str, Sequence[VenueSpec]], ...] = (
        ("one venue (sim, the default: baseline)", ()),
        ("three named venues, own fees, no latency", FEES_ONLY),
        ("three named venues, latencies 0 / 300 / 1000 µs", WITH_LATENCY),
    )
    for label, specs in cases:
        names = [spec.name for spec in specs] or ["sim"]
        reporter.progress(f"{label}: {args.orders} messages")
        events = flow(args.orders, names, args.seed)
        reports = run_once(events, specs, args.batch)[1]
        seconds, spread = median_of_runs(functools.partial(_seconds, events, specs, args.batch), args.repeat)
        reporter.add(
            PHASE,
            label,
            seconds / args.orders * 1e6,
            "µs/message",
            f"{args.orders / seconds:,.0f} messages/s; {reports} reports; {spread}",
        )
    views = [VenueView(spec.name, spec.taker_fee_bps, spec.latency_us, "market") for spec in WITH_LATENCY]
    asks = {"market": [(100 * PRICE_SCALE + n * PRICE_SCALE // 100, QUANTITY_SCALE) for n in range(args.levels)]}
    sweeps = 2_000
    quantity = args.levels // 2 * QUANTITY_SCALE  # half the displayed levels: the sweep stops midway

    def sweep_seconds() -> float:
        started = time.perf_counter()
        for _ in range(sweeps):
            allocate("BUY", quantity, None, views, asks)
        return time.perf_counter() - started

    seconds, spread = median_of_runs(sweep_seconds, args.repeat)
    reporter.add(
        PHASE,
        f"SMART sweep, 3 venues sharing {args.levels} ask levels",
        seconds / sweeps * 1e6,
        "µs/sweep",
        f"{sweeps} sweeps a run; {spread}",
    )
    reporter.finish(machine=info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
