"""One order as the OMS keeps it (a JSON-able dict) and the full order view every OrderEvent carries.

An order dict holds the order's terms (as last replaced), ``status`` and ``working`` (the status underneath
a pending cancel or replace, see ``processors.oms.transitions``), ``version`` (1, +1 per replace), ``cum``,
``fill_value`` (the exact sum of price x quantity of its fills, so the average price is rounded once, from
the exact value), ``fill_ids`` (fills seen, for idempotency), ``triggered`` (a stop that has triggered),
``command_id`` (the event id of the NewOrder), ``pending``: the open cancel or replace request, or None, and
``queued_cancel``: a cancel that waits for the open replace's answer (its command and decision ids), or None.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import Any, Final

from processors.oms.transitions import TERMINAL
from processors.portfolio.position import div_half_even

Order = dict[str, Any]

MARKET: Final = "MARKET"
LIMIT: Final = "LIMIT"
STOP: Final = "STOP"
STOP_LIMIT: Final = "STOP_LIMIT"
PRICED: Final = frozenset({LIMIT, STOP_LIMIT})
STOPS: Final = frozenset({STOP, STOP_LIMIT})
GTD: Final = "GTD"

# The terms of a NewOrder the OMS keeps and shows.
TERMS: Final = (
    "account",
    "order_id",
    "client_order_id",
    "symbol",
    "side",
    "order_type",
    "time_in_force",
    "quantity",
    "price",
    "stop_price",
    "expire_time_us",
    "post_only",
    "reduce_only",
    "parent_order_id",
)


def new_order_invalid_reason(command: Mapping[str, Any]) -> str | None:
    """Why an approved NewOrder cannot become an order (detail text), or None when it is valid."""
    order_type = command["order_type"]
    if command["quantity"] <= 0:
        return f"quantity must be positive, not {command['quantity']}"
    price, stop_price = command.get("price"), command.get("stop_price")
    if order_type in PRICED and (price is None or price <= 0):
        return f"{order_type} needs a positive price"
    if order_type in STOPS and (stop_price is None or stop_price <= 0):
        return f"{order_type} needs a positive stop price"
    if command["time_in_force"] == GTD and command.get("expire_time_us") is None:
        return "GTD needs an expire time"
    if command.get("post_only") and order_type != LIMIT:
        return "post-only is only for LIMIT orders"
    return None


def amend_invalid_reason(order: Mapping[str, Any], amend: Mapping[str, Any]) -> str | None:
    """Why an approved AmendOrder cannot be sent (detail text), or None; below-filled is checked apart."""
    quantity, price, stop_price = amend.get("quantity"), amend.get("price"), amend.get("stop_price")
    if quantity is None and price is None and stop_price is None:
        return "amend changes nothing"
    if quantity is not None and quantity <= 0:
        return f"quantity must be positive, not {quantity}"
    if price is not None and (order["order_type"] not in PRICED or price <= 0):
        return f"a {order['order_type']} order cannot take limit price {price}"
    if stop_price is not None and (order["order_type"] not in STOPS or order["triggered"] or stop_price <= 0):
        return f"stop price {stop_price} cannot be set on this {order['order_type']} order (or it has triggered)"
    return None


def new_order_state(command: Mapping[str, Any], status: str, venue: str | None, command_id: str) -> Order:
    """The order a NewOrder creates, in ``status`` (PENDING_NEW, or REJECTED when denied or invalid).

    Its keys: ``TERMS`` (absent optional terms are None, flags are booleans), then the bookkeeping fields.
    """
    get = command.get
    return {
        "account": get("account"),
        "order_id": get("order_id"),
        "client_order_id": get("client_order_id"),
        "symbol": get("symbol"),
        "side": get("side"),
        "order_type": get("order_type"),
        "time_in_force": get("time_in_force"),
        "quantity": get("quantity"),
        "price": get("price"),
        "stop_price": get("stop_price"),
        "expire_time_us": get("expire_time_us"),
        "post_only": bool(get("post_only")),
        "reduce_only": bool(get("reduce_only")),
        "parent_order_id": get("parent_order_id"),
        "venue": venue,
        "status": status,
        "working": status,
        "version": 1,
        "cum": 0,
        "fill_value": 0,
        "fill_ids": [],
        "triggered": False,
        "command_id": command_id,
        "pending": None,
        "queued_cancel": None,
    }


# A finished order is kept as a list of these fields, in this order: it is never modified again, and without
# the repeated key names it takes half the room in the changelog record of its account.
ARCHIVED: Final = (*TERMS, "venue", "status", "version", "cum", "fill_value", "fill_ids", "triggered", "command_id")


_ARCHIVED_FIELDS: Final = itemgetter(*ARCHIVED)  # one C call for the row's fields


def archived(order: Mapping[str, Any]) -> list[Any]:
    """The compact form of a terminal order (no request is open on it)."""
    return list(_ARCHIVED_FIELDS(order))


def from_archive(row: list[Any]) -> Order:
    """The order dict of an archived terminal order (a fresh copy)."""
    order: Order = dict(zip(ARCHIVED, row, strict=True))
    order["fill_ids"] = list(order["fill_ids"])
    order.update(working=order["status"], pending=None, queued_cancel=None)
    return order


# A working order in the changelog: its archived fields, then the status underneath a pending request and the
# open requests; a row as well, so its record is about half the bytes of the order dict with its key names.
WORKING_ROW: Final = (*ARCHIVED, "working", "pending", "queued_cancel")
_FILL_IDS_AT: Final = WORKING_ROW.index("fill_ids")
_REQUESTS_AT: Final = (WORKING_ROW.index("pending"), WORKING_ROW.index("queued_cancel"))
_WORKING_FIELDS: Final = itemgetter(*WORKING_ROW)


def working_row(order: Mapping[str, Any]) -> list[Any]:
    """The changelog form of a working order, sharing nothing mutable with it."""
    try:
        row: list[Any] = list(_WORKING_FIELDS(order))
    except KeyError:  # an order of the earlier layout may lack a request field: None
        row = [order.get(field) for field in WORKING_ROW]
    row[_FILL_IDS_AT] = list(row[_FILL_IDS_AT])
    for at in _REQUESTS_AT:
        if row[at] is not None:
            row[at] = dict(row[at])
    return row


def from_working_row(row: list[Any]) -> Order:
    """The order dict of a working order's changelog row (a fresh copy)."""
    order: Order = dict(zip(WORKING_ROW, row, strict=True))
    order["fill_ids"] = list(order["fill_ids"])
    for request in ("pending", "queued_cancel"):
        if order[request] is not None:
            order[request] = dict(order[request])
    return order


def copy_order(order: Mapping[str, Any]) -> Order:
    """A copy sharing nothing mutable with ``order`` (much faster than copy.deepcopy for this flat shape)."""
    copied = dict(order)
    copied["fill_ids"] = list(order["fill_ids"])
    for request in ("pending", "queued_cancel"):
        if copied.get(request) is not None:
            copied[request] = dict(copied[request])
    return copied


def leaves(order: Mapping[str, Any]) -> int:
    """Quantity still working: 0 once the order is done."""
    if order["status"] in TERMINAL:
        return 0
    remaining: int = order["quantity"] - order["cum"]
    return remaining


def avg_price(order: Mapping[str, Any]) -> int | None:
    """Average fill price at the price scale, rounded half-even from the exact fill value; None before a fill."""
    cum: int = order["cum"]
    return div_half_even(order["fill_value"], cum) if cum else None


def view(order: Mapping[str, Any]) -> dict[str, Any]:
    """The order-describing fields of an OrderEvent (everything but meta, event type, fill and reason fields)."""
    return {
        "account": order["account"],
        "order_id": order["order_id"],
        "client_order_id": order["client_order_id"],
        "symbol": order["symbol"],
        "side": order["side"],
        "order_type": order["order_type"],
        "time_in_force": order["time_in_force"],
        "status": order["status"],
        "version": order["version"],
        "quantity": order["quantity"],
        "price": order["price"],
        "stop_price": order["stop_price"],
        "cum_quantity": order["cum"],
        "leaves_quantity": leaves(order),
        "avg_price": avg_price(order),
        "post_only": order["post_only"],
        "reduce_only": order["reduce_only"],
        "expire_time_us": order["expire_time_us"],
        "venue": order["venue"],
        "parent_order_id": order["parent_order_id"],
    }
