"""An account's portfolio state: its positions and which fills they already hold, and its changelog layout.

Account state in memory (one dict per account):

- ``positions``: per symbol, the ``processors.portfolio.position`` dict the account's fills build, plus
  ``last_fill_id`` and ``last_fill_price`` (the mark until the symbol trades);
- ``orders``: per order that has fills and is still working, the cumulative quantity already applied;
- ``finished``: the orders with fills that reached a terminal status, order id -> finish sequence (numbers
  the account's finishes, counting up), oldest first, at most ``PortfolioConfig.finished_orders_kept`` of them
  (a dict, so a lookup is one hash probe).

Changelog: the account's record, key ``"<account>"``, is ``{"positions", "orders"}`` (a few hundred bytes per
symbol and per working order with fills); each finished order has its own record, key
``"<account>|<order id>"`` (``processors.core.state_key``; an account name must not contain the separator),
value ``{"seq": <finish sequence>}``. A transaction writes the account record when a fill or a finish changed
it, the record of an order it finished, and a tombstone (None) for each order that left the window, so
compaction removes it: never the whole window. On restore the records come back in any order; the window is
put back in finish order from the sequences, and the next sequence follows the newest.

An account record of the earlier layout (``{"positions", "orders", "finished"}``, ``finished`` the window
oldest first, as an ordered set of order ids) is still read: its finished orders are taken, oldest first,
before any of this layout (unless a per-order record of the same order came back too: that one is newer),
and each is written again as its own record, with the account record in this layout, after the first event.

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
the log, so the window only has to be longer than a redelivered batch; it bounds the finished-order records
the changelog keeps per account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Final, NamedTuple

from processors.core import Record
from processors.portfolio.position import Position, apply_fill, empty_position
from schemas.scales import Cash, Price, Quantity
from schemas.statuses import TERMINAL_STATUSES

AccountState = dict[str, Any]


@dataclass(frozen=True, slots=True)
class PortfolioConfig:
    finished_orders_kept: int = 1024  # the window of finished orders whose copied fills are recognised

    def __post_init__(self) -> None:
        if self.finished_orders_kept < 1:  # the newest finished order numbers the next (module docstring)
            raise ValueError(f"finished_orders_kept must be at least 1, not {self.finished_orders_kept}")


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


FINISH_SEQUENCE: Final = "seq"  # the field of a finished order's changelog record


def new_account_state() -> AccountState:
    return {"positions": {}, "orders": {}, "finished": {}}


def account_record(state: AccountState) -> Record:
    """The account's changelog record: a copy later fills never modify (containers copied, positions shared).

    A fill replaces its symbol's position dict (``apply_fill`` returns a new one) and never edits one in place.
    """
    return {"positions": dict(state["positions"]), "orders": dict(state["orders"])}


def finished_record(state: AccountState, order_id: str) -> Record | None:
    """The changelog record of a finished order; None once it left the window (a tombstone)."""
    sequence: int | None = state["finished"].get(order_id)
    return None if sequence is None else {FINISH_SEQUENCE: sequence}


def take_back_account_record(state: AccountState, record: Record) -> list[str]:
    """An account record into ``state`` (own copies); the finished orders taken from an earlier-layout one."""
    state["positions"] = {symbol: dict(position) for symbol, position in record.get("positions", {}).items()}
    state["orders"] = dict(record.get("orders", {}))
    earlier: dict[str, None] = record.get("finished", {})
    finished: dict[str, int] = state["finished"]
    first = -len(earlier)  # finished before any order of this layout: numbered below zero, oldest first
    taken = [order_id for order_id in earlier if order_id not in finished]
    for offset, order_id in enumerate(earlier):
        if order_id not in finished:
            finished[order_id] = first + offset
    return taken


def take_back_finished(state: AccountState, order_id: str, record: Record) -> None:
    """A finished order's record, in any order of arrival (``settle`` puts the window in finish order)."""
    state["finished"][order_id] = record[FINISH_SEQUENCE]


def settle(state: AccountState, config: PortfolioConfig) -> list[str]:
    """After restore: the window in finish order, trimmed to ``config``; the ids it dropped."""
    state["finished"] = dict(sorted(state["finished"].items(), key=lambda item: item[1]))
    return _trim(state["finished"], config)


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


def apply_to_account(state: AccountState, fill: Fill) -> Position:
    """Book a new fill (``already_applied`` is False) into the account; the symbol's position after it.

    A fill that ends its order leaves it working here: the caller finishes it (``finish_order``).
    """
    positions = state["positions"]
    before = positions.get(fill.symbol) or empty_position()
    after = apply_fill(before, fill.side, fill.quantity, fill.price, fill.fee)
    after["last_fill_id"] = fill.fill_id
    after["last_fill_price"] = fill.price
    positions[fill.symbol] = after
    state["orders"][fill.order_id] = fill.cum_quantity
    return after


def finish_order(state: AccountState, order_id: str, config: PortfolioConfig) -> list[str] | None:
    """Move a working order with fills to the finished window: the ids the window dropped to make room; None
    when the account tracks no such order."""
    if state["orders"].pop(order_id, None) is None:
        return None
    finished: dict[str, int] = state["finished"]
    newest = next(reversed(finished.values()), -1)  # the window is never empty once an order finished
    finished[order_id] = newest + 1
    return _trim(finished, config) if len(finished) > config.finished_orders_kept else []


def _trim(finished: dict[str, int], config: PortfolioConfig) -> list[str]:
    """Drop the oldest finished orders beyond the window; their ids."""
    excess = len(finished) - config.finished_orders_kept
    if excess <= 0:
        return []
    dropped = list(islice(finished, excess))
    for oldest in dropped:
        del finished[oldest]
    return dropped
