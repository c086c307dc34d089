"""Builders of the events the portfolio core takes, and a runner that checks every emitted record encodes."""

from __future__ import annotations

from typing import Any

from processors.core import Emit, Event
from processors.portfolio.core import PortfolioCore
from tests.kit.events import ACCOUNT, SYMBOL, T0, C, P, Q, run, trade
from tests.kit.events import order_event as _order_event

# The portfolio tests import the shared builders through this module too.
__all__ = [
    "ACCOUNT",
    "SYMBOL",
    "T0",
    "C",
    "P",
    "Q",
    "fill",
    "one",
    "order_event",
    "records",
    "run",
    "trade",
    "without_meta",
]


def order_event(
    order_id: str, event_type: str, status: str, *, last_quantity: int = 0, last_price: int | None = None, **fields: Any
) -> Event:
    """An OrderEvent (see ``events.order_event``) priced at its last fill, taken liquidity when a fill."""
    liquidity = "TAKER" if last_quantity else None
    return _order_event(
        order_id,
        event_type,
        status,
        price=last_price,
        last_quantity=last_quantity,
        last_price=last_price,
        liquidity=liquidity,
        **fields,
    )


def fill(
    order_id: str,
    side: str,
    quantity: int,
    price: int,
    *,
    fee: int = 0,
    order_quantity: int | None = None,
    cum: int | None = None,
    fill_id: str | None = None,
    account: str = ACCOUNT,
    symbol: str = SYMBOL,
    t: int = T0,
) -> Event:
    """A fill event: by default the one fill completing an order of ``quantity``; a partial fill when the
    order (``order_quantity``) is larger than ``cum``."""
    total = quantity if order_quantity is None else order_quantity
    cum = quantity if cum is None else cum
    status = "FILLED" if cum == total else "PARTIALLY_FILLED"
    return order_event(
        order_id,
        status,
        status,
        t=t,
        account=account,
        symbol=symbol,
        side=side,
        quantity=total,
        cum=cum,
        last_quantity=quantity,
        last_price=price,
        fee=fee,
        fill_id=fill_id or f"fill-{order_id}-{cum}",
    )


def records(emits: list[Emit]) -> list[dict[str, Any]]:
    return [emit.record for emit in emits]


def one(core: PortfolioCore, event: Event) -> dict[str, Any]:
    """The one Position record an event publishes."""
    emits = run(core, event)
    assert len(emits) == 1, emits
    return emits[0].record


def without_meta(record: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in record.items() if name != "meta"}
