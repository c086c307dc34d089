"""Builders of the events the OMS core takes, and readers of what it emits (shared by the OMS tests).

Decisions are built the way ``processors/risk/core.py`` emits them: the decided command travels inside the
``RiskDecision`` as a ``(schema full name, record)`` union tuple. Venue reports follow
``processors/venue/matching.py``: exec types of ``shrivenquant.venue.VenueExecType``, each with the venue's
cum / leaves of the order after it.
"""

from __future__ import annotations

from typing import Any

from processors.core import Emit, Event, order_id_for
from processors.oms import OmsCore
from schemas.names import AMEND_ORDER, CANCEL_ORDER, EXECUTION_REPORT, NEW_ORDER, RISK_DECISION
from schemas.statuses import TERMINAL_STATUSES as TERMINAL
from tests.kit.events import (
    ACCOUNT,
    SYMBOL,
    T0,
    P,
    Q,
    amend_record,
    cancel_record,
    meta,
    new_order_record,
    next_id,
    records_to,
    run,
)
from topics.catalogue import DEAD_LETTERS, ORDERS_EVENTS, RISK_DECISIONS, VENUE_EXECUTIONS, VENUE_ORDERS

Command = tuple[str, dict[str, Any]]


# The OMS tests import the shared builders through this module too.
__all__ = [
    "ACCOUNT",
    "AMEND_ORDER",
    "CANCEL_ORDER",
    "NEW_ORDER",
    "SYMBOL",
    "T0",
    "TERMINAL",
    "Command",
    "P",
    "Q",
    "accepted",
    "amend",
    "cancel",
    "dead_letters",
    "decision",
    "fill",
    "meta",
    "new_order",
    "oid",
    "order_events",
    "placed",
    "report",
    "run",
    "types",
    "venue_orders",
]


def oid(client_order_id: str, account: str = ACCOUNT) -> str:
    """The order id of a client order id, as upstream derives it."""
    order_id: str = order_id_for(account, client_order_id)
    return order_id


def new_order(client_order_id: str = "c-1", *, t: int = T0, account: str = ACCOUNT, **terms: Any) -> Command:
    """A NewOrder command (a 1-lot GTC limit buy at 100 unless ``terms`` say otherwise)."""
    return NEW_ORDER, new_order_record(oid(client_order_id, account), client_order_id, t=t, account=account, **terms)


def cancel(order_id: str, *, t: int = T0, account: str = ACCOUNT, symbol: str | None = SYMBOL) -> Command:
    return CANCEL_ORDER, cancel_record(order_id, t=t, account=account, symbol=symbol)


def amend(order_id: str, **changes: Any) -> Command:
    """An AmendOrder command; ``changes`` as ``events.amend_record`` takes them."""
    return AMEND_ORDER, amend_record(order_id, **changes)


_COMMAND_TYPES = {NEW_ORDER: "NEW", CANCEL_ORDER: "CANCEL", AMEND_ORDER: "AMEND"}


def decision(command: Command, *, approved: bool = True, reason: str | None = None, t: int = T0) -> Event:
    """Risk's decision on ``command``, shaped as ``RiskCore._decision`` shapes it."""
    schema, record = command
    decision_meta = meta(t, "risk", record["meta"]["correlation_id"])
    decision_meta["causation_id"] = record["meta"]["event_id"]
    body = {
        "meta": decision_meta,
        "account": record["account"],
        "order_id": record["order_id"],
        "symbol": record.get("symbol"),
        "command_type": _COMMAND_TYPES[schema],
        "approved": approved,
        "reason": reason,
        "detail": "approved: all checks passed" if approved else f"denied: {reason}",
        "checks": [],
        "command": (schema, record),
    }
    return Event(RISK_DECISIONS, record["account"], RISK_DECISION, body, t)


def report(
    order_id: str,
    exec_type: str,
    *,
    cum: int = 0,
    leaves: int = 0,
    t: int = T0,
    account: str = ACCOUNT,
    fill_id: str | None = None,
    last_quantity: int = 0,
    last_price: int | None = None,
    liquidity: str | None = None,
    fee: int = 0,
    reject_reason: str | None = None,
    detail: str = "",
) -> Event:
    """A venue ExecutionReport about one order."""
    record = {
        "meta": meta(t, "venue", order_id),
        "venue": "sim",
        "symbol": SYMBOL,
        "account": account,
        "order_id": order_id,
        "exec_type": exec_type,
        "fill_id": fill_id,
        "last_quantity": last_quantity,
        "last_price": last_price,
        "liquidity": liquidity,
        "fee": fee,
        "cum_quantity": cum,
        "leaves_quantity": leaves,
        "reject_reason": reject_reason,
        "detail": detail,
    }
    return Event(VENUE_EXECUTIONS, account, EXECUTION_REPORT, record, t)


def fill(
    order_id: str, quantity: int, price: int = 100 * P, *, fill_id: str | None = None, cum: int = 0, leaves: int = 0
) -> Event:
    """A FILL report (maker, fee 1 cash unit per fill so fees are visible)."""
    return report(
        order_id,
        "FILL",
        cum=cum,
        leaves=leaves,
        fill_id=fill_id or next_id("f"),
        last_quantity=quantity,
        last_price=price,
        liquidity="MAKER",
        fee=1,
    )


def order_events(emits: list[Emit]) -> list[dict[str, Any]]:
    return records_to(emits, ORDERS_EVENTS)


def venue_orders(emits: list[Emit]) -> list[dict[str, Any]]:
    return records_to(emits, VENUE_ORDERS)


def dead_letters(emits: list[Emit]) -> list[dict[str, Any]]:
    return records_to(emits, DEAD_LETTERS)


def types(emits: list[Emit]) -> list[tuple[str, str]]:
    """(event type, status) of each order event, in order."""
    return [(event["event_type"], event["status"]) for event in order_events(emits)]


def placed(core: OmsCore, client_order_id: str = "c-1", **terms: Any) -> tuple[str, Command]:
    """An order sent to the venue (PENDING_NEW); returns its order id and the command."""
    command = new_order(client_order_id, **terms)
    emits = run(core, decision(command))
    assert types(emits) == [("PENDING_NEW", "PENDING_NEW")], emits
    return command[1]["order_id"], command


def accepted(core: OmsCore, client_order_id: str = "c-1", **terms: Any) -> str:
    """An order the venue acknowledged (NEW); returns its order id."""
    order_id, command = placed(core, client_order_id, **terms)
    quantity = command[1]["quantity"]
    assert types(run(core, report(order_id, "ACK", leaves=quantity))) == [("ACCEPTED", "NEW")]
    return order_id
