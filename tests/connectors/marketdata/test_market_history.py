"""connectors.marketdata.history: a symbol's records over an event-time range, through the real broker, for
live records (event time about the record time) and records replayed with old event times alike."""

from __future__ import annotations

import time
from typing import Any

import pytest

from connectors.marketdata.history import symbol_records
from schemas.examples import example_event
from schemas.names import TRADE
from schemas.scales import PRICE_SCALE
from settings import Settings
from topics.admin import create_topics
from topics.catalogue import MD_BOOK_TOP, MD_TRADES, spec_for
from topics.client import AvroProducer
from topics.partitioning import partition_for

pytestmark = pytest.mark.integration

OLD = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z: a recorded tape's event times
S = 1_000_000
PARTITIONS = spec_for(MD_TRADES).partitions
# Another symbol on the same partition: its records are read past and must not be returned.
NEIGHBOUR = next(
    f"N{n}" for n in range(1000) if partition_for(f"N{n}", PARTITIONS) == partition_for("XUSDT", PARTITIONS)
)


def _trade(symbol: str, t: int, n: int) -> dict[str, Any]:
    record = example_event(TRADE, seq=n, symbol=symbol, trade_id=str(n), price=(100 + n) * PRICE_SCALE)
    record["meta"]["event_time_us"] = t
    return record


def _produce(settings: Settings, trades: list[dict[str, Any]]) -> None:
    producer = AvroProducer(settings)
    for trade in trades:
        producer.produce(MD_TRADES, trade["symbol"], TRADE, trade)
    producer.flush()


def test_replayed_records_with_old_event_times_are_found_by_their_event_time(settings: Settings) -> None:
    create_topics(settings, [spec_for(MD_TRADES)])
    trades = []
    for n in range(6):
        trades.append(_trade("XUSDT", OLD + n * S, n))
        trades.append(_trade(NEIGHBOUR, OLD + n * S, 100 + n))
    _produce(settings, trades)
    found = symbol_records(settings, MD_TRADES, "XUSDT", from_us=OLD + S, to_us=OLD + 3 * S)
    assert [r["trade_id"] for r in found] == ["1", "2", "3"]
    assert symbol_records(settings, MD_TRADES, "XUSDT", from_us=OLD - 10 * S, to_us=OLD - S) == []


def test_live_records_are_found_and_a_topic_never_written_holds_nothing(settings: Settings) -> None:
    create_topics(settings, [spec_for(MD_TRADES)])
    now = time.time_ns() // 1000
    _produce(settings, [_trade("XUSDT", now - (5 - n) * S, n) for n in range(5)])
    found = symbol_records(settings, MD_TRADES, "XUSDT", from_us=now - 3 * S, to_us=now)
    assert [r["trade_id"] for r in found] == ["2", "3", "4"]
    assert symbol_records(settings, MD_BOOK_TOP, "XUSDT", from_us=now - 3 * S, to_us=now) == []
