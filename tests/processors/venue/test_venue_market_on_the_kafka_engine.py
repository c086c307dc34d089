"""The venue on the transactional kafka engine with market data: a fill caused by a public trade (a broadcast
event) is emitted once, and a restarted worker (market data read again, its orders from the changelog)
neither repeats it, nor forgets the order's fill, nor misses a trade printed while it was down."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from typing import Any

import pytest
from _market_builders import snapshot, trade
from _venue_builders import SYMBOL, T0, P, Q, S, venue_order
from _venue_worker import run_venue_engine

from processors.core import Event
from settings import Settings
from topics.catalogue import VENUE_EXECUTIONS
from topics.client import AvroProducer, read_events

pytestmark = pytest.mark.integration

SPAWN = multiprocessing.get_context("spawn")


def _produce(settings: Settings, *events: Event) -> None:
    producer = AvroProducer(settings)
    for event in events:
        producer.produce(event.topic, event.key, event.schema, event.record)
    producer.flush()


def _reports(settings: Settings) -> list[dict[str, Any]]:
    return [decoded.record for decoded in read_events(settings, VENUE_EXECUTIONS, timeout_s=10)]


def _wait_for(settings: Settings, condition: Callable[[list[dict[str, Any]]], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition(_reports(settings)):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {_reports(settings)}")
        time.sleep(0.1)


def _kinds(reports: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["order_id"], r["exec_type"]) for r in reports]


def _worker(settings: Settings) -> Any:
    process = SPAWN.Process(target=run_venue_engine, args=(settings, 90.0))
    process.start()
    return process


def _stop(process: Any) -> None:
    process.terminate()  # SIGTERM: the engine finishes its batch and closes
    process.join(20)


def test_a_trade_fill_is_emitted_once_across_a_worker_restart(catalogue_topics: Settings) -> None:
    settings = catalogue_topics
    _produce(
        settings,
        snapshot([(99 * P, 5 * Q)], [(101 * P, 5 * Q)], t=T0),
        venue_order("NEW", "b1", side="BUY", quantity=2 * Q, price=100 * P, t=T0 + 1),
    )
    first_trade = trade(99 * P, 1 * Q, t=T0 + S)
    first = _worker(settings)
    try:
        _wait_for(settings, lambda reports: ("b1", "ACK") in _kinds(reports), "b1 acknowledged")
        _produce(settings, first_trade)  # through b1's price: fills 1 of 2
        _wait_for(settings, lambda reports: ("b1", "FILL") in _kinds(reports), "b1's first fill")
    finally:
        _stop(first)

    # While no worker runs, a second trade prints. The restarted worker reads both trades, before or after it
    # restores b1 (its broadcast drain ends where the fresh consumer's fetch does): the first fills nothing
    # again, the second fills the rest of b1, at once or at the next event of the symbol (the probe).
    second_trade = trade(99 * P, 3 * Q, t=T0 + 2 * S)
    _produce(
        settings, second_trade, venue_order("NEW", "probe", side="SELL", quantity=1 * Q, price=120 * P, t=T0 + 3 * S)
    )
    second = _worker(settings)
    try:
        _wait_for(settings, lambda reports: ("probe", "ACK") in _kinds(reports), "the restarted worker's answer")
        _wait_for(settings, lambda reports: _kinds(reports).count(("b1", "FILL")) >= 2, "b1's second fill")
    finally:
        _stop(second)
    # b1 has 2 to fill: a repeat of the first trade's fill would have taken the second fill's place
    fills = [
        (r["order_id"], r["last_quantity"], r["cum_quantity"], r["liquidity"], r["meta"]["causation_id"])
        for r in _reports(settings)
        if r["exec_type"] == "FILL"
    ]
    assert fills == [
        ("b1", 1 * Q, 1 * Q, "MAKER", first_trade.record["meta"]["event_id"]),
        ("b1", 1 * Q, 2 * Q, "MAKER", second_trade.record["meta"]["event_id"]),
    ]
    assert {r["symbol"] for r in _reports(settings)} == {SYMBOL}
