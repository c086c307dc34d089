"""Builders of the venue orders the venue core takes, and a small driver that checks what it emits."""

from __future__ import annotations

from typing import Any

from processors.core import Emit, Event
from processors.venue import Fees, VenueConfig, VenueCore
from schemas.codec import default_codec
from schemas.names import EXECUTION_REPORT, VENUE_ORDER
from tests.kit.events import SYMBOL, T0, C, P, Q, S, meta, next_id
from topics.catalogue import VENUE_EXECUTIONS, VENUE_ORDERS

# The venue tests import the shared builders through this module too.
__all__ = [
    "DAY_END",
    "MAKER_BPS",
    "SYMBOL",
    "T0",
    "TAKER_BPS",
    "VENUE",
    "C",
    "P",
    "Q",
    "S",
    "Sim",
    "checked",
    "fills",
    "kinds",
    "venue_order",
]

VENUE = "sim"
MAKER_BPS = 2
TAKER_BPS = 5

_codec = default_codec()


def venue_order(
    action: str,
    order_id: str,
    *,
    account: str = "acc-1",
    side: str = "BUY",
    quantity: int = 1 * Q,
    price: int | None = None,
    order_type: str = "LIMIT",
    time_in_force: str = "GTC",
    stop_price: int | None = None,
    post_only: bool = False,
    expire_time_us: int | None = None,
    t: int = T0,
    venue: str = VENUE,
    symbol: str = SYMBOL,
    event_id: str | None = None,
) -> Event:
    event_id = event_id or next_id("vo")
    record: dict[str, Any] = {
        "meta": meta(t, "oms", f"story-{order_id}", event_id=event_id),
        "venue": venue,
        "symbol": symbol,
        "account": account,
        "order_id": order_id,
        "parent_order_id": None,
        "action": action,
        "side": side,
        "order_type": order_type,
        "time_in_force": time_in_force,
        "quantity": quantity,
        "price": price,
        "stop_price": stop_price,
        "post_only": post_only,
        "expire_time_us": expire_time_us,
        "risk_decision_id": f"rd-{event_id}",
    }
    return Event(VENUE_ORDERS, symbol, VENUE_ORDER, record, t)


def checked(emits: list[Emit]) -> list[dict[str, Any]]:
    """The records of ``emits``, after checking each goes to venue.executions, keyed by its account, and encodes."""
    records = []
    for emit in emits:
        assert emit.topic == VENUE_EXECUTIONS
        assert emit.schema == EXECUTION_REPORT
        assert emit.key == emit.record["account"]
        _codec.encode(emit.schema, emit.record)
        records.append(emit.record)
    return records


class Sim:
    """A venue core driven by short calls; each returns the reports it emitted (checked)."""

    def __init__(self, core: VenueCore | None = None, *, maker_bps: int = MAKER_BPS, taker_bps: int = TAKER_BPS):
        self.core = core or VenueCore(VenueConfig(default_fees=Fees(maker_bps, taker_bps)))
        self.t = T0

    def send(self, event: Event) -> list[dict[str, Any]]:
        return checked(self.core.apply(event))

    def new(
        self, order_id: str, side: str = "BUY", quantity: int = 1 * Q, price: int | None = 100 * P, **kw: Any
    ) -> list[dict[str, Any]]:
        kw.setdefault("t", self.t)
        return self.send(venue_order("NEW", order_id, side=side, quantity=quantity, price=price, **kw))

    def cancel(self, order_id: str, **kw: Any) -> list[dict[str, Any]]:
        kw.setdefault("t", self.t)
        return self.send(venue_order("CANCEL", order_id, **kw))

    def amend(self, order_id: str, quantity: int, price: int | None = None, **kw: Any) -> list[dict[str, Any]]:
        kw.setdefault("t", self.t)
        return self.send(venue_order("AMEND", order_id, quantity=quantity, price=price, **kw))

    def depth(self, side: str, venue: str = VENUE, symbol: str = SYMBOL) -> list[tuple[int, int, int]]:
        book = self.core.book(venue, symbol)
        return [] if book is None else book.depth(side)

    def queue(self, price: int, side: str = "BUY") -> list[str]:
        """Order ids resting at ``price`` in priority order."""
        book = self.core.book(VENUE, SYMBOL)
        assert book is not None
        levels = book.bids if side == "BUY" else book.asks
        return [order.order_id for order in levels[price].orders()] if price in levels else []


def kinds(reports: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(order id, exec type) of each report, in order."""
    return [(r["order_id"], r["exec_type"]) for r in reports]


def fills(reports: list[dict[str, Any]]) -> list[tuple[str, str, int, int]]:
    """(order id, liquidity, quantity, price) of each FILL report."""
    return [
        (r["order_id"], r["liquidity"], r["last_quantity"], r["last_price"])
        for r in reports
        if r["exec_type"] == "FILL"
    ]


DAY_END = 1_735_689_600_000_000 + 86_400 * S  # the end of T0's UTC day
