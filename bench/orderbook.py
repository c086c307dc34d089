"""Order book processor figures, in-process on one core: level updates applied per second, analytics cost per
update, resync time after a gap.

    .venv/bin/python -m bench.orderbook [--events 50000] [--levels 20] [--book-levels 1000] [--seed 7] [--json]

The input is a seeded synthetic diff-depth stream for one symbol, generated before timing: a snapshot of
``--book-levels`` levels per side, then updates of about ``--levels`` level changes each, concentrated near the
touch (distance from it geometric), with deletions (quantity 0), new levels and a drifting mid that never
crosses the book, and a trade after every update. Events are 100 ms of event time apart, like Binance's
@100ms diff-depth stream.

Figures:
- book structure alone: ``L2Book`` side updates (the dict + sorted list), no core around it;
- core, analytics off: ``OrderBookCore.apply`` on every depth update (sequence check, levels, crossed check,
  top-N change detection, BookTop records on change; derived ids); the schedule is set beyond the run;
- core, analytics on: the same with trades and the default 1 s analytics interval (every measure, PIN refit
  every 60 s of event time); the analytics cost per level update is the difference of the two runs' time per
  level update;
- resync: ``apply`` of an update that leaves a gap (stale, resync notice) plus ``apply`` of the new snapshot
  (book loaded, RESYNCED, fresh BookTop), median over repetitions; this is the processor's part only, not the
  connector's REST round trip;
- changelog state: size and time of one symbol's ``state_changes()`` (the runtime writes it once per batch).
Figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from bench.common import Reporter, machine_info, median_of_runs
from processors.core import Event
from processors.orderbook.analytics.pin import fit_pin
from processors.orderbook.book import L2Book
from processors.orderbook.config import DEFAULT_CONFIG, OrderBookConfig
from processors.orderbook.core import OrderBookCore
from schemas.names import DEPTH_SNAPSHOT, DEPTH_UPDATE, TRADE
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE
from topics.catalogue import MD_DEPTH, MD_TRADES

SYMBOL = "BTCUSDT"
VENUE = "bench"
TICK = PRICE_SCALE // 100  # 0.01
START_US = 1_735_689_600_000_000
STEP_US = 100_000  # 100 ms between updates
PHASE = "orderbook in-process"


def _meta(index: int, t: int) -> dict[str, Any]:
    event_id = f"bench-{index}"
    return {
        "event_id": event_id,
        "producer": "bench",
        "event_time_us": t,
        "ingest_time_us": t,
        "causation_id": None,
        "correlation_id": event_id,
    }


def _levels(levels: Sequence[tuple[int, int]]) -> list[dict[str, int]]:
    return [{"price": p, "quantity": q} for p, q in levels]


class SyntheticSession:
    """A consistent diff-depth stream: the generator keeps its own book so that updates never cross it."""

    def __init__(self, seed: int, book_levels: int, levels_per_update: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.book_levels = book_levels
        self.levels_per_update = levels_per_update
        self.mid_ticks = 6_000_000  # 60000.00 in ticks
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.update_id = 1_000
        self.count = 0

    def _quantity(self) -> int:
        return int(self.rng.integers(1, 500)) * QUANTITY_SCALE // 1000

    def snapshot(self, t: int) -> Event:
        self.bids = {(self.mid_ticks - k) * TICK: self._quantity() for k in range(1, self.book_levels + 1)}
        self.asks = {(self.mid_ticks + k) * TICK: self._quantity() for k in range(1, self.book_levels + 1)}
        self.count += 1
        record = {
            "meta": _meta(self.count, t),
            "venue": VENUE,
            "symbol": SYMBOL,
            "last_update_id": self.update_id,
            "bids": _levels(sorted(self.bids.items(), reverse=True)),
            "asks": _levels(sorted(self.asks.items())),
        }
        return Event(MD_DEPTH, SYMBOL, DEPTH_SNAPSHOT, record, t)

    def update(self, t: int) -> Event:
        rng = self.rng
        changes: dict[str, dict[int, int]] = {"bids": {}, "asks": {}}
        if rng.random() < 0.2:  # the mid moves a few ticks; levels on the wrong side of it go
            self.mid_ticks += int(rng.integers(-3, 4))
            mid = self.mid_ticks * TICK
            for price in [p for p in self.bids if p >= mid]:
                del self.bids[price]
                changes["bids"][price] = 0
            for price in [p for p in self.asks if p <= mid]:
                del self.asks[price]
                changes["asks"][price] = 0
        count = max(1, int(rng.poisson(self.levels_per_update)) - sum(len(c) for c in changes.values()))
        distances = rng.geometric(0.15, count)
        sides = rng.random(count) < 0.5
        deletes = rng.random(count) < 0.25
        for distance, bid, delete in zip(distances.tolist(), sides.tolist(), deletes.tolist(), strict=True):
            side, name, sign = (self.bids, "bids", -1) if bid else (self.asks, "asks", 1)
            price = (self.mid_ticks + sign * distance) * TICK
            quantity = 0 if delete else self._quantity()
            if quantity:
                side[price] = quantity
            else:
                side.pop(price, None)
            changes[name][price] = quantity
        self.update_id += 1
        self.count += 1
        record = {
            "meta": _meta(self.count, t),
            "venue": VENUE,
            "symbol": SYMBOL,
            "first_update_id": self.update_id,
            "last_update_id": self.update_id,
            "previous_last_update_id": None,
            "bids": _levels(list(changes["bids"].items())),
            "asks": _levels(list(changes["asks"].items())),
        }
        return Event(MD_DEPTH, SYMBOL, DEPTH_UPDATE, record, t)

    def trade(self, t: int) -> Event:
        self.count += 1
        buy = bool(self.rng.random() < 0.5)
        price = (self.mid_ticks + (1 if buy else -1)) * TICK
        record = {
            "meta": _meta(self.count, t),
            "venue": VENUE,
            "symbol": SYMBOL,
            "trade_id": str(self.count),
            "price": price,
            "quantity": self._quantity(),
            "aggressor": "BUY" if buy else "SELL",
        }
        return Event(MD_TRADES, SYMBOL, TRADE, record, t)


def generate(seed: int, events: int, book_levels: int, levels: int) -> tuple[Event, list[Event], list[Event]]:
    """(snapshot, depth updates, depth updates interleaved with trades)."""
    session = SyntheticSession(seed, book_levels, levels)
    snapshot = session.snapshot(START_US)
    updates: list[Event] = []
    mixed: list[Event] = []
    for index in range(1, events + 1):
        t = START_US + index * STEP_US
        depth = session.update(t)
        updates.append(depth)
        mixed.append(depth)
        mixed.append(session.trade(t + STEP_US // 2))
    return snapshot, updates, mixed


def level_count(events: Sequence[Event]) -> int:
    return sum(len(e.record["bids"]) + len(e.record["asks"]) for e in events if e.schema == DEPTH_UPDATE)


def time_core(config: OrderBookConfig, snapshot: Event, events: Sequence[Event]) -> tuple[float, int, OrderBookCore]:
    """Seconds to apply ``events`` after the snapshot, and the records emitted."""
    core = OrderBookCore(config)
    core.apply(snapshot)
    apply = core.apply
    gc.collect()
    began = time.perf_counter()
    emitted = 0
    for event in events:
        emitted += len(apply(event))
    return time.perf_counter() - began, emitted, core


def time_book_alone(snapshot: Event, updates: Sequence[Event]) -> float:
    book = L2Book()
    record = snapshot.record
    book.load_snapshot(
        ((x["price"], x["quantity"]) for x in record["bids"]),
        ((x["price"], x["quantity"]) for x in record["asks"]),
        record["last_update_id"],
    )
    changes = [(u.record["bids"], u.record["asks"]) for u in updates]
    bids, asks = book.bids, book.asks
    gc.collect()
    began = time.perf_counter()
    for bid_levels, ask_levels in changes:
        for level in bid_levels:
            bids.set(level["price"], level["quantity"])
        for level in ask_levels:
            asks.set(level["price"], level["quantity"])
    return time.perf_counter() - began


def time_resync(snapshot: Event, repetitions: int) -> list[float]:
    """Seconds from a gap's update to the book in sync again after the next snapshot, per repetition."""
    samples = []
    for repetition in range(repetitions):
        core = OrderBookCore(replace(DEFAULT_CONFIG, interval_us=10**15, pin_period_us=10**15))
        core.apply(snapshot)
        last = snapshot.record["last_update_id"]
        gap_record = {
            "meta": _meta(10**9 + repetition, START_US + STEP_US),
            "venue": VENUE,
            "symbol": SYMBOL,
            "first_update_id": last + 5,
            "last_update_id": last + 5,
            "previous_last_update_id": None,
            "bids": [],
            "asks": [],
        }
        gap = Event(MD_DEPTH, SYMBOL, DEPTH_UPDATE, gap_record, START_US + STEP_US)
        fresh = Event(
            MD_DEPTH,
            SYMBOL,
            DEPTH_SNAPSHOT,
            {
                **snapshot.record,
                "meta": _meta(2 * 10**9 + repetition, START_US + 2 * STEP_US),
                "last_update_id": last + 100,
            },
            START_US + 2 * STEP_US,
        )
        began = time.perf_counter()
        stale = core.apply(gap)
        recovered = core.apply(fresh)
        samples.append(time.perf_counter() - began)
        assert any(e.record.get("status") == "GAP_DETECTED" for e in stale)
        assert any(e.record.get("status") == "RESYNCED" for e in recovered)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.orderbook", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=50_000, help="depth updates (a trade follows each)")
    parser.add_argument("--levels", type=int, default=20, help="mean level changes per update")
    parser.add_argument("--book-levels", type=int, default=1000, help="levels per side in the snapshot")
    parser.add_argument("--resyncs", type=int, default=50, help="repetitions of the resync measurement")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    reporter = Reporter(args.json)
    info = machine_info()
    reporter.machine(info)
    reporter.progress(f"generating {args.events} updates of ~{args.levels} levels on a {args.book_levels}-level book")
    snapshot, updates, mixed = generate(args.seed, args.events, args.book_levels, args.levels)
    levels = level_count(updates)
    reporter.notes.update(
        events=args.events,
        level_updates=levels,
        levels_per_update=levels / len(updates),
        book_levels=args.book_levels,
        seed=args.seed,
    )
    core = core_figures(reporter, args.repeat, snapshot, updates, mixed, levels)
    state_figures(reporter, core, snapshot, args.resyncs, args.book_levels)
    reporter.finish(machine=info)
    return 0


def core_figures(
    reporter: Reporter, repeat: int, snapshot: Event, updates: Sequence[Event], mixed: Sequence[Event], levels: int
) -> OrderBookCore:
    """The book alone, the core with analytics off and on, and what analytics cost (``levels`` level updates in
    ``updates``); the core of the last analytics-on run."""

    def median_of(measure: Callable[[], float]) -> tuple[float, str]:
        return median_of_runs(measure, repeat)

    seconds, spread = median_of(lambda: time_book_alone(snapshot, updates))
    reporter.add(
        PHASE,
        "book structure alone",
        levels / seconds,
        "level updates/s",
        f"{levels} level updates, L2Book side.set only; {spread}",
    )

    off = replace(DEFAULT_CONFIG, interval_us=10**15, pin_period_us=10**15)  # the first boundary lies beyond the run
    seconds_off, spread = median_of(lambda: time_core(off, snapshot, updates)[0])
    emitted_off = time_core(off, snapshot, updates)[1]
    reporter.add(
        PHASE,
        "core, analytics off",
        levels / seconds_off,
        "level updates/s",
        f"{len(updates) / seconds_off:,.0f} depth updates/s; {emitted_off} BookTop records; {spread}",
    )

    trades = len(mixed) - len(updates)
    seconds_trades, _ = median_of(lambda: time_core(off, snapshot, mixed)[0])
    seconds_on, spread = median_of(lambda: time_core(DEFAULT_CONFIG, snapshot, mixed)[0])
    core = time_core(DEFAULT_CONFIG, snapshot, mixed)[2]
    records = (len(updates) * STEP_US) // DEFAULT_CONFIG.interval_us
    reporter.add(
        PHASE,
        "core, analytics on",
        levels / seconds_on,
        "level updates/s",
        f"with {trades} trades; ~{records} MarketAnalytics records (1 s of event time each); {spread}",
    )
    analytics_seconds = seconds_on - seconds_trades
    reporter.add(
        PHASE,
        "analytics cost per level update",
        analytics_seconds / levels * 1e6,
        "µs",
        f"{analytics_seconds / max(records, 1) * 1e3:.3f} ms per analytics record, PIN refits included",
    )
    no_pin = replace(DEFAULT_CONFIG, pin_min_periods=10**9)
    seconds_no_pin, _ = median_of(lambda: time_core(no_pin, snapshot, mixed)[0])
    no_pin_seconds = seconds_no_pin - seconds_trades
    reporter.add(
        PHASE,
        "analytics cost per level update, PIN aside",
        no_pin_seconds / levels * 1e6,
        "µs",
        f"{no_pin_seconds / max(records, 1) * 1e3:.3f} ms per analytics record",
    )
    return core


def state_figures(reporter: Reporter, core: OrderBookCore, snapshot: Event, resyncs: int, book_levels: int) -> None:
    """A PIN refit on the core's periods, a resync after a gap, and the changelog state of one symbol."""
    began = time.perf_counter()
    state = core.state_changes()
    encoded = json.dumps(state).encode()
    state_seconds = time.perf_counter() - began
    symbol_state = state[SYMBOL]
    assert symbol_state is not None
    periods = symbol_state["analytics"]["periods"]
    buys, sells = [b for b, _ in periods], [s for _, s in periods]
    fits = []
    for _ in range(5):
        began = time.perf_counter()
        fit_pin(buys, sells, DEFAULT_CONFIG.pin_starts, DEFAULT_CONFIG.pin_max_iterations)
        fits.append(time.perf_counter() - began)
    reporter.add(
        PHASE,
        "PIN refit",
        statistics.median(fits) * 1e3,
        "ms",
        f"{len(periods)} periods, once per {DEFAULT_CONFIG.pin_period_us // 1_000_000} s of event time",
    )

    samples = time_resync(snapshot, resyncs)
    reporter.add(
        PHASE,
        "resync after a gap",
        statistics.median(samples) * 1e6,
        "µs",
        f"median of {len(samples)}: gap update + {book_levels}x2-level snapshot; max {max(samples) * 1e6:.0f} µs",
    )

    reporter.add(
        PHASE,
        "changelog state per symbol",
        state_seconds * 1e6,
        "µs",
        f"{len(encoded):,} bytes of JSON for one symbol (once per runtime batch)",
    )


if __name__ == "__main__":
    raise SystemExit(main())
