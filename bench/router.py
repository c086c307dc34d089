"""Execution algorithms in process, no Kafka: what scheduling costs, and how many parents one stage keeps up with.

    .venv/bin/python -m bench.router [--parents 1,10,100,1000] [--events 5000] [--stage-parents 10,100,300,1000]
                                     [--seconds 120] [--algo-parents 100] [--repeat 3] [--json]

- scheduling: ``RouterCore`` alone. ``--parents`` parents (half TWAP over an hour in 3,600 slices, half POV at
  10 %), accepted, all on one symbol, then ``--events`` market events (a trade and a clock tick in turn, 10 ms of
  event time apart) through ``apply``. The children it sends are not fed back (the cost is the scheduling).
  Figures: µs per market event, and per market event per active parent.
- per algorithm: ``RouterCore`` alone with ``--algo-parents`` parents of one algorithm (TWAP, VWAP and IS over an
  hour in 3,600 slices, POV at 10 %, PEG at mid capped above the market, SNIPER with a limit the book reaches
  every other view), then ``--events`` market events (a trade, a clock tick and a book view that moves, in turn).
  Children are not fed back: a PEG or SNIPER parent keeps its one working child, so after the first view it
  pays the check (re-peg price, book lookup), not the sending. Figure: µs per market event per parent.
- stage: the sample session (``connectors/marketdata/sample``), its first ``--seconds`` of recorded market data,
  through the single stage's pipeline (risk, OMS, router, venue, portfolio; ``MemoryEngine``) with N POV parents
  at 10 % working on BTCUSDT (one per account) from the start; every child is decided, booked and filled against
  the sample's books in the same pipeline. Figure: CPU time for the window as a percentage of the window's
  recorded length (below 100 %: one stage keeps up with the sample's rate with N parents working).

CPU time of this process (``time.process_time``), the median of ``--repeat`` runs. Figures are measured, never
asserted.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from bench.common import Reporter, machine_info, median_of_runs
from connectors.clock import ticks_between
from connectors.marketdata.sample import SAMPLE_DIR, SAMPLE_FILE
from connectors.marketdata.tape import TapePlayer
from connectors.marketdata.tape_io import merged_rows
from processors.core import Event, derived_event_id, order_id_for
from processors.router import RouterCore
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import stage_spec
from processors.runtime.registry import core_class
from schemas.names import BOOK_TOP, CLOCK_TICK, NEW_ORDER, ORDER_EVENT, RISK_DECISION, TRADE
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE
from topics.catalogue import CLOCK_TICKS, MD_BOOK_TOP, MD_TRADES, ORDERS_COMMANDS, ORDERS_EVENTS, RISK_DECISIONS

SYMBOL = "BTCUSDT"
T0 = 1_767_225_600_000_000
PHASE_SCHEDULING = "scheduling"
PHASE_STAGE = "stage at the sample's rate"
PHASE_ALGOS = "scheduling per algorithm"
HOUR = {"duration_s": "3600", "slices": "3600"}
# algo -> (params, participation_bps, order type, limit price in units)
EXECUTIONS: dict[str, tuple[dict[str, str], int | None, str, int | None]] = {
    "TWAP": (HOUR, None, "MARKET", None),
    "VWAP": (HOUR, None, "MARKET", None),
    "IMPLEMENTATION_SHORTFALL": ({**HOUR, "volatility": "0.5", "urgency": "1e4"}, None, "MARKET", None),
    "POV": ({}, 1_000, "MARKET", None),
    "PEG": ({"peg": "mid"}, None, "LIMIT", 90_002),
    "SNIPER": ({}, None, "LIMIT", 90_000),
}


def _meta(event_id: str, t: int) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "producer": "bench",
        "event_time_us": t,
        "ingest_time_us": t,
        "causation_id": None,
        "correlation_id": event_id,
    }


def _parent_command(n: int, algo: str, t: int) -> dict[str, Any]:
    account, client_order_id = f"acct-{n}", f"parent-{n}"
    params, participation, order_type, limit = EXECUTIONS[algo]
    execution: dict[str, Any] = {
        "algo": algo,
        "start_time_us": None,
        "end_time_us": None,
        "participation_bps": participation,
        "display_quantity": None,
        "peg_offset": None,
        "params": params,
    }
    return {
        "meta": _meta(derived_event_id("bench", "command", n), t),
        "account": account,
        "order_id": order_id_for(account, client_order_id),
        "client_order_id": client_order_id,
        "symbol": SYMBOL,
        "side": "BUY",
        "order_type": order_type,
        "quantity": 50 * QUANTITY_SCALE,  # within the default limits' notional; more than 10 % of the window trades
        "price": None if limit is None else limit * PRICE_SCALE,
        "stop_price": None,
        "time_in_force": "GTC",
        "expire_time_us": None,
        "post_only": False,
        "reduce_only": False,
        "venue": None,
        "parent_order_id": None,
        "execution": execution,
    }


def _accepted_router(parents: int, algo: str | None = None) -> RouterCore:
    """A router holding ``parents`` accepted parents (their decision and the OMS's ACCEPTED applied): of ``algo``,
    or half TWAP, half POV."""
    router = RouterCore()
    for n in range(parents):
        command = _parent_command(n, algo or ("TWAP" if n % 2 else "POV"), T0)
        decision = {"meta": _meta(derived_event_id("bench", "decision", n), T0), "approved": True}
        decision["command"] = (NEW_ORDER, command)
        router.apply(Event(RISK_DECISIONS, command["account"], RISK_DECISION, decision, T0))
        accepted = {
            "meta": _meta(derived_event_id("bench", "accepted", n), T0),
            "account": command["account"],
            "order_id": command["order_id"],
            "event_type": "ACCEPTED",
            "status": "NEW",
            "venue": "algo:" + command["execution"]["algo"],
            "quantity": command["quantity"],
            "price": None,
        }
        router.apply(Event(ORDERS_EVENTS, command["account"], ORDER_EVENT, accepted, T0))
    return router


def _book_top(n: int, t: int) -> Event:
    """A book view of the symbol that moves every time (the ask at 90,000 or 90,001 in turn)."""
    ask = (90_000 + n % 2) * PRICE_SCALE
    record = {
        "meta": _meta(derived_event_id("bench", "book", n), t),
        "venue": "sim",
        "symbol": SYMBOL,
        "sequence": n,
        "bid_price": ask - PRICE_SCALE,
        "bid_quantity": QUANTITY_SCALE,
        "ask_price": ask,
        "ask_quantity": QUANTITY_SCALE,
        "bids": [{"price": ask - PRICE_SCALE, "quantity": QUANTITY_SCALE}],
        "asks": [{"price": ask, "quantity": QUANTITY_SCALE}],
        "stale": False,
    }
    return Event(MD_BOOK_TOP, SYMBOL, BOOK_TOP, record, t)


def _market_events(count: int, *, books: bool = False) -> list[Event]:
    """A trade and a clock tick in turn (and a book view, with ``books``), 10 ms of event time apart (the ticks
    as a backtest writes them)."""
    ticks = iter(ticks_between(T0 + 20_000, T0 + count * 10_000, 20_000, "bench"))
    events = []
    for n in range(count):
        t = T0 + (n + 1) * 10_000
        if books and n % 3 == 2:
            events.append(_book_top(n, t))
        elif n % 2:
            tick = next(ticks)
            events.append(Event(CLOCK_TICKS, "bench", CLOCK_TICK, tick, tick["meta"]["event_time_us"]))
        else:
            trade = {
                "meta": _meta(derived_event_id("bench", "trade", n), t),
                "venue": "sim",
                "symbol": SYMBOL,
                "trade_id": str(n),
                "price": 90_000 * PRICE_SCALE,
                "quantity": QUANTITY_SCALE // 10,
                "aggressor": None,
            }
            events.append(Event(MD_TRADES, SYMBOL, TRADE, trade, t))
    return events


def scheduling(reporter: Reporter, parent_counts: Sequence[int], events: int, repeat: int) -> None:
    market = _market_events(events)
    for parents in parent_counts:

        def run(parents: int = parents) -> float:
            router = _accepted_router(parents)
            began = time.process_time()
            for event in market:
                router.apply(event)
            return time.process_time() - began

        seconds, spread = median_of_runs(run, repeat)
        per_event = seconds / events * 1e6
        detail = f"{parents} parents, {events} events; runs {spread}"
        reporter.add(PHASE_SCHEDULING, f"per market event, {parents} parents", per_event, "µs", detail)
        reporter.add(PHASE_SCHEDULING, f"per event per parent, {parents} parents", per_event / parents, "µs", detail)


def scheduling_per_algo(reporter: Reporter, parents: int, events: int, repeat: int) -> None:
    market = _market_events(events, books=True)
    for algo in EXECUTIONS:

        def run(algo: str = algo) -> float:
            router = _accepted_router(parents, algo)
            began = time.process_time()
            for event in market:
                router.apply(event)
            return time.process_time() - began

        seconds, spread = median_of_runs(run, repeat)
        detail = f"{parents} parents, {events} events (trades, ticks, book views); runs {spread}"
        reporter.add(PHASE_ALGOS, f"per event per parent, {algo}", seconds / events * 1e6 / parents, "µs", detail)


def _sample_events(seconds: int) -> list[Event]:
    """The sample's first ``seconds`` of market data as the stage reads it (trades and depth)."""
    player = TapePlayer(SAMPLE_FILE)
    events: list[Event] = []
    first: int | None = None
    for row in merged_rows([SAMPLE_DIR / SAMPLE_FILE]):
        emit = player.play(row.values, row.number, 0)
        t: int = emit.record["meta"]["event_time_us"]
        first = t if first is None else first
        if t - first > seconds * 1_000_000:
            break
        events.append(Event(emit.topic, emit.key, emit.schema, emit.record, t))
    return events


def stage(reporter: Reporter, parent_counts: Sequence[int], seconds: int, repeat: int) -> None:
    market = _sample_events(seconds)
    factories = [core_class(name) for name in stage_spec("orderpath").cores]
    # The books and a first BTCUSDT trade (risk's reference price for market orders) before the parents arrive.
    warm_up = 1 + next(n for n, e in enumerate(market) if e.schema == TRADE and e.record["symbol"] == SYMBOL)
    for parents in parent_counts:
        working = 0

        def run(parents: int = parents) -> float:
            nonlocal working
            engine = MemoryEngine(factories, name="orderpath")
            engine.run(market[:warm_up])
            start = market[warm_up].record["meta"]["event_time_us"]
            for n in range(parents):
                command = _parent_command(n, "POV", start)
                engine.send(Event(ORDERS_COMMANDS, command["account"], NEW_ORDER, command, start))
            began = time.process_time()
            for event in market[warm_up:]:
                engine.send(event)
                engine.outputs.clear()  # a worker keeps no outputs
            elapsed = time.process_time() - began
            working = engine.core("router").working_parents()
            return elapsed

        cpu, spread = median_of_runs(run, repeat)
        reporter.add(
            PHASE_STAGE,
            f"CPU per recorded second, {parents} POV parents",
            cpu / seconds * 100,
            "%",
            f"{len(market) - warm_up} market events in {seconds} s of the sample; {working} parents still working; "
            f"runs {spread}",
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.router", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--parents", default="1,10,100,1000", help="parents held by the router (scheduling)")
    parser.add_argument("--events", type=int, default=5_000, help="market events per scheduling run")
    parser.add_argument("--stage-parents", default="10,100,300,1000", help="POV parents working in the stage")
    parser.add_argument("--seconds", type=int, default=120, help="recorded seconds of the sample (stage)")
    parser.add_argument("--algo-parents", type=int, default=100, help="parents of one algorithm (per algorithm)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    reporter = Reporter(args.json)
    info = machine_info()
    reporter.machine(info)
    scheduling(reporter, [int(n) for n in args.parents.split(",")], args.events, args.repeat)
    scheduling_per_algo(reporter, args.algo_parents, args.events, args.repeat)
    stage(reporter, [int(n) for n in args.stage_parents.split(",")], args.seconds, args.repeat)
    reporter.finish(machine=info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
