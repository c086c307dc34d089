"""Order-path facts for the query tests, written the way the pipeline writes them: OrderEvents, venue fills and
Positions produced to the test's topics, then projected into its database by the real PostgreSQL sink."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from connectors.postgres.sink import SinkOptions, run_sink
from processors.core import order_id_for
from schemas.examples import example_event
from schemas.names import ORDER_EVENT, POSITION
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE
from settings import Settings
from topics.catalogue import ORDERS_EVENTS, PORTFOLIO_POSITIONS
from topics.client import AvroProducer

T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
_ids = itertools.count(1)


@dataclass(frozen=True)
class SeededOrder:
    account: str
    client_order_id: str
    order_id: str
    status: str
    event_types: tuple[str, ...]


def _meta(run: str, t: int, correlation_id: str) -> dict[str, Any]:
    event_id = f"{run}-evt-{next(_ids)}"
    return {
        "event_id": event_id,
        "producer": "oms",
        "event_time_us": t,
        "ingest_time_us": t,
        "causation_id": None,
        "correlation_id": correlation_id,
    }


def _order_events(run: str, account: str, client_order_id: str, t: int, filled: str) -> list[dict[str, Any]]:
    order_id = order_id_for(account, client_order_id)
    quantity, price = 2 * QUANTITY_SCALE, 100 * PRICE_SCALE
    base = example_event(
        ORDER_EVENT,
        account=account,
        order_id=order_id,
        client_order_id=client_order_id,
        symbol="BTCUSDT",
        quantity=quantity,
        price=price,
        post_only=False,
        cum_quantity=0,
        leaves_quantity=quantity,
        avg_price=None,
        last_quantity=0,
        last_price=None,
        fee=0,
        fill_id=None,
        liquidity=None,
        venue="SIM",
    )
    correlation = f"{run}-corr-{client_order_id}"
    steps: list[dict[str, Any]] = [
        dict(base, event_type="PENDING_NEW", status="PENDING_NEW", version=1),
        dict(base, event_type="ACCEPTED", status="NEW", version=1),
    ]
    if filled:  # "all" or "half" of the quantity
        done = quantity if filled == "all" else quantity // 2
        status = "FILLED" if filled == "all" else "PARTIALLY_FILLED"
        steps.append(
            dict(
                base,
                event_type=status,
                status=status,
                version=1,
                cum_quantity=done,
                leaves_quantity=quantity - done,
                avg_price=price,
                last_quantity=done,
                last_price=price,
                fee=1000,
                fill_id=f"{run}-fill-{client_order_id}",
                liquidity="TAKER",
            )
        )
    for index, step in enumerate(steps):
        step["meta"] = _meta(run, t + index * 1_000, correlation)
    return steps


def _position(run: str, account: str, t: int) -> dict[str, Any]:
    return example_event(
        POSITION,
        meta=_meta(run, t, f"{run}-pos-{account}"),
        account=account,
        symbol="BTCUSDT",
        quantity=2 * QUANTITY_SCALE,
        avg_price=100 * PRICE_SCALE,
        mark_price=100 * PRICE_SCALE,
        unrealized_pnl=0,
        realized_pnl=0,
        fees=1000,
        cash=-200 * PRICE_SCALE - 1000,
        fill_count=1,
        last_fill_id=f"{run}-fill",
        version=1,
    )


def seed_orders(
    settings: Settings, run: str, accounts: tuple[str, ...], partial: bool = False
) -> dict[str, dict[str, SeededOrder]]:
    """Per account, a live order ("live"), a filled one ("filled") and with ``partial`` a half-filled one
    ("partial"), plus a position; projected by the sink."""
    producer = AvroProducer(settings)
    seeded: dict[str, dict[str, SeededOrder]] = {}
    t = T0
    for account in accounts:
        seeded[account] = {}
        kinds = (("live", ""), ("filled", "all"), *((("partial", "half"),) if partial else ()))
        for name, filled in kinds:
            client_order_id = f"{run}-{account}-{name}"
            events = _order_events(run, account, client_order_id, t, filled)
            for event in events:
                producer.produce(ORDERS_EVENTS, account, ORDER_EVENT, event)
            t += 10_000
            order_id = order_id_for(account, client_order_id)
            event_types = tuple(e["event_type"] for e in events)
            seeded[account][name] = SeededOrder(account, client_order_id, order_id, events[-1]["status"], event_types)
        producer.produce(PORTFOLIO_POSITIONS, f"{account}|BTCUSDT", POSITION, _position(run, account, t))
    producer.flush()
    stats = run_sink(settings, max_seconds=60, options=SinkOptions(until_end=True))
    assert stats.caught_up, "the sink did not reach the end of the seeded topics"
    return seeded
