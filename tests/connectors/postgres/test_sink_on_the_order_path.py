"""The sink on what the real order path cores write: the tables agree with the log, and a rebuild equals the
live build (fills, partial fills, cancels, amends, denials, venue rejects, expiries, duplicates)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import psycopg
import pytest
from postgres_sink_helpers import consumed_records, produce, table_rows
from real_order_path import order_path_log

from connectors.postgres import read_models as rm
from connectors.postgres.projection import NOT_CREATING
from connectors.postgres.sink import SinkOptions, SinkStats, run_sink
from replay.projections import rebuild_projections
from schemas.names import ORDER_EVENT
from settings import Settings
from topics.catalogue import PORTFOLIO_POSITIONS, VENUE_EXECUTIONS

pytestmark = pytest.mark.integration


def test_live_build_matches_the_log_and_a_rebuild_equals_it(sink_settings: Settings) -> None:
    log = order_path_log(300)
    events = [p.record for p in log if p.schema == ORDER_EVENT]
    types = Counter(e["event_type"] for e in events)
    assert all(types[t] for t in ("FILLED", "PARTIALLY_FILLED", "CANCELLED", "REPLACED", "DENIED", "REJECTED"))

    stop = threading.Event()
    result: list[SinkStats] = []
    options = SinkOptions(batch_size=64, poll_timeout_s=0.01)
    live = threading.Thread(target=lambda: result.append(run_sink(sink_settings, 120, stop, options=options)))
    live.start()
    try:
        for start in range(0, len(log), 250):  # the log arrives in parts while the sink runs
            produce(sink_settings, log[start : start + 250])
        _wait_until_consumed(sink_settings.database_url, len(log), 60)
    finally:
        stop.set()
        live.join(30)
    assert result and result[0].dead_letters == 0 and result[0].consumed == len(log)

    database = sink_settings.database_url
    with psycopg.connect(database) as conn:
        _orders_agree_with_their_last_events(conn, events)
        _fills_agree_with_both_sources(conn, log)
        final = {p.key: p.record for p in log if p.topic == PORTFOLIO_POSITIONS}
        projected = {f"{p.account}|{p.symbol}": p for p in rm.positions(conn)}
        assert projected.keys() == final.keys()
        for key, position in projected.items():
            assert (position.quantity, position.realized_pnl, position.fees, position.cash, position.fill_count) == (
                final[key]["quantity"],
                final[key]["realized_pnl"],
                final[key]["fees"],
                final[key]["cash"],
                final[key]["fill_count"],
            )

    built_live = table_rows(database)
    report = rebuild_projections(sink_settings, batch_size=1000)
    assert report.stats.consumed == len(log) and report.stats.dead_letters == 0
    assert table_rows(database) == built_live


def _wait_until_consumed(conninfo: str, records: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while consumed_records(conninfo) < records:
        assert time.monotonic() < deadline, "the live sink did not consume the whole log in time"
        time.sleep(0.1)


def _orders_agree_with_their_last_events(conn: psycopg.Connection[Any], events: list[dict[str, Any]]) -> None:
    by_order: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_order.setdefault(event["order_id"], []).append(event)
    for order_id, history in by_order.items():
        order = rm.get_order(conn, order_id)
        if all(e["event_type"] in NOT_CREATING for e in history):
            assert order is None, f"{order_id} answers a command about no order, yet has a row"
            continue
        assert order is not None
        last = [e for e in history if e["event_type"] != "DUPLICATE_REJECTED"][-1]
        assert (
            order.status,
            order.version,
            order.quantity,
            order.price,
            order.cum_quantity,
            order.leaves_quantity,
            order.avg_price,
            order.last_event_id,
            order.event_count,
        ) == (
            last["status"],
            last["version"],
            last["quantity"],
            last["price"],
            last["cum_quantity"],
            last["leaves_quantity"],
            last["avg_price"],
            last["meta"]["event_id"],
            len(history),
        )
        projected = rm.order_events(conn, order_id)
        assert [e.event_id for e in projected] == [e["meta"]["event_id"] for e in history]


def _fills_agree_with_both_sources(conn: psycopg.Connection[Any], log: list[Any]) -> None:
    oms_fills = {
        (p.record["order_id"], p.record["fill_id"]): p.record
        for p in log
        if p.schema == ORDER_EVENT and p.record["fill_id"] is not None
    }
    venue_fills = {
        (p.record["order_id"], p.record["fill_id"])
        for p in log
        if p.topic == VENUE_EXECUTIONS and p.record["exec_type"] == "FILL"
    }
    projected = {(f.order_id, f.fill_id): f for f in rm.list_fills(conn, limit=rm.MAX_LIMIT).items}
    assert len(oms_fills) < rm.MAX_LIMIT  # one page holds them all
    assert projected.keys() == oms_fills.keys() | venue_fills
    for key, fill in projected.items():
        told = oms_fills[key]
        assert (fill.side, fill.quantity, fill.price, fill.fee, fill.liquidity) == (
            told["side"],
            told["last_quantity"],
            told["last_price"],
            told["fee"],
            told["liquidity"],
        )
        assert fill.execution_event_id is not None and fill.order_event_id == told["meta"]["event_id"]
