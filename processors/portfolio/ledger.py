"""An account's portfolio state: its positions and which fills they already hold (changelog state, JSON-able).

Account state (one dict per account, the changelog key is the account):

- ``positions``: per symbol, the ``processors.portfolio.position`` dict the account's fills build, plus
  ``last_fill_id`` and ``last_fill_price`` (the mark until the symbol trades);
- ``orders``: per order that has fills and is still working, the cumulative quantity already applied;
- ``finished``: ids of the orders with fills that reached a terminal status, oldest first, at most
  ``PortfolioConfig.finished_orders_kept`` of them (a dict used as an ordered set: keys, values null, so
  a lookup is one hash probe; JSON keeps the order).

Why a fill is counted once
--------------------------
A fill reaches the portfolio as an ``OrderEvent`` that carries the order's ``cum_quantity`` after it, and the
OMS applies an order's fills in order, each once (``docs/ORDER_PATH.md``, "oms"). So the applied cumulative
quantity is the order's high-water mark: an event of a working order whose ``cum_quantity`` is not above it —
the same fill id delivered again, or any older fill of the order — is already counted. No fill follows a
terminal event, so every fill event of a finished order is a copy. This needs one integer per working order,
not one id per fill, and lives in the account state, so it survives a restore exactly.

The bound: finished orders are remembered in a window of the account's last ``finished_orders_kept`` (default
1024). A copy of a fill of an order that finished longer ago than that would be counted again. Copies come
from at-least-once redelivery (the faust engine, an OMS replaying a batch), which repeats a recent stretch of
the log, so the window only has to be longer than a redelivered batch; it bounds the changelog record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Final, NamedTuple

from processors.portfolio.position import Position, apply_fill, empty_position
from schemas.scales import Cash, Price, Quantity
from schemas.statuses import TERMINAL_STATUSES

AccountState = dict[str, Any]


@dataclass(frozen=True, slots=True)
class PortfolioConfig:
    finished_orders_kept: int = 1024  # the window of finished orders whose copied fills are recognised


DEFAULT_CONFIG: Final = PortfolioConfig()


class Fill(NamedTuple):
    """The fill an ``OrderEvent`` reports (a NamedTuple: made once per fill, at half a frozen dataclass's cost)."""

    order_id: str
    symbol: str
    side: str
    quantity: Quantity
    price: Price
    fee: Cash
    fill_id: str | None
    cum_quantity: Quantity  # the order's filled quantity including this fill
    finishes_order: bool


def new_account_state() -> AccountState:
    return {"positions": {}, "orders": {}, "finished": {}}


def copy_account_state(state: AccountState) -> AccountState:
    """A copy later fills never modify: the containers are copied, the position dicts shared.

    A fill replaces its symbol's position dict (``apply_fill`` returns a new one) and never edits one in place.
    """
    return {"positions": dict(state["positions"]), "orders": dict(state["orders"]), "finished": dict(state["finished"])}


def own_account_state(state: AccountState) -> AccountState:
    """An independent copy of a state from elsewhere (the changelog): position dicts hold scalars only."""
    return {
        "positions": {symbol: dict(position) for symbol, position in state["positions"].items()},
        "orders": dict(state["orders"]),
        "finished": dict(state["finished"]),
    }


def fill_of(update: Mapping[str, Any]) -> Fill:
    """The fill of a fill ``OrderEvent``; ValueError when it lacks what a position needs."""
    quantity: Quantity = update["last_quantity"]
    price: Price | None = update.get("last_price")
    cum: Quantity = update["cum_quantity"]
    if price is None or price <= 0:
        raise ValueError(f"fill of order {update['order_id']} has no positive last_price ({price})")
    if cum < quantity:
        raise ValueError(f"fill of order {update['order_id']}: cum_quantity {cum} is below last_quantity {quantity}")
    return Fill(
        update["order_id"],
        update["symbol"],
        update["side"],
        quantity,
        price,
        update.get("fee", 0),
        update.get("fill_id"),
        cum,
        update["status"] in TERMINAL_STATUSES,
    )


def already_applied(state: AccountState, fill: Fill) -> bool:
    """Whether the account's positions already hold this fill (see the module docstring)."""
    if fill.order_id in state["finished"]:
        return True
    applied: int = state["orders"].get(fill.order_id, 0)
    return fill.cum_quantity <= applied


def apply_to_account(state: AccountState, fill: Fill, config: PortfolioConfig) -> Position:
    """Book a new fill (``already_applied`` is False) into the account; the symbol's position after it."""
    positions = state["positions"]
    before = positions.get(fill.symbol) or empty_position()
    after = apply_fill(before, fill.side, fill.quantity, fill.price, fill.fee)
    after["last_fill_id"] = fill.fill_id
    after["last_fill_price"] = fill.price
    positions[fill.symbol] = after
    state["orders"][fill.order_id] = fill.cum_quantity
    if fill.finishes_order:
        finish_order(state, fill.order_id, config)
    return after


def finish_order(state: AccountState, order_id: str, config: PortfolioConfig) -> bool:
    """Move a working order with fills to the finished window; False when the account tracks no such order."""
    if state["orders"].pop(order_id, None) is None:
        return False
    finished: dict[str, None] = state["finished"]
    finished[order_id] = None
    excess = len(finished) - config.finished_orders_kept
    if excess > 0:
        for oldest in list(islice(finished, excess)):
            del finished[oldest]
    return True
