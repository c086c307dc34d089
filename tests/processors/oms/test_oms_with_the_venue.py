"""The OMS and the simulated venue core composed in process: what the venue reports, the OMS can apply.

Decisions go to the OMS on the memory engine, which hands its ``venue.orders`` to ``VenueCore`` and the
venue's ``venue.executions`` back to the OMS, every record through the codec, until nothing is left to
deliver. ``replay/verify.py`` then checks the log the two wrote.
"""

from __future__ import annotations

from typing import Any

from _oms_builders import P, Q, amend, cancel, decision, new_order, oid, run

from processors.core import Event
from processors.oms import OmsCore
from processors.runtime.memory_engine import MemoryEngine
from processors.venue.core import VenueCore
from replay.verify import OrderPathLog, verify
from schemas.codec import default_codec
from schemas.names import EXECUTION_REPORT
from topics.catalogue import DEAD_LETTERS, ORDERS_EVENTS, VENUE_EXECUTIONS, VENUE_ORDERS

BUYER = "acc-1"
SELLER = "acc-2"


class OrderPath:
    """The OMS and the venue in one process, with the log they write."""

    def __init__(self) -> None:
        self.engine = MemoryEngine([OmsCore, VenueCore], codec=default_codec(), name="oms+venue")
        self.oms: OmsCore = self.engine.core("oms")
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.decisions: list[dict[str, Any]] = []
        self.log: dict[str, list[dict[str, Any]]] = {
            ORDERS_EVENTS: [],
            VENUE_ORDERS: [],
            VENUE_EXECUTIONS: [],
            DEAD_LETTERS: [],
        }

    def submit(self, command: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """Decide (approve) a command and deliver everything that follows; the order events it led to."""
        self.commands.append(command)
        decided = decision(command)
        self.decisions.append(dict(decided.record))
        start = len(self.log[ORDERS_EVENTS])
        for emit in self.engine.send(decided):
            self.log[emit.topic].append(emit.record)
        return self.log[ORDERS_EVENTS][start:]

    def verified(self) -> Any:
        return verify(
            OrderPathLog(
                commands=self.commands,
                decisions=self.decisions,
                order_events=self.log[ORDERS_EVENTS],
                venue_orders=self.log[VENUE_ORDERS],
                executions=self.log[VENUE_EXECUTIONS],
                positions=[],
            )
        )


def _story(events: list[dict[str, Any]], account: str | None = None) -> list[tuple[str, str]]:
    return [(e["event_type"], e["status"]) for e in events if account is None or e["account"] == account]


def test_a_day_of_orders_through_the_venue_is_applied_whole_and_verifies() -> None:
    path = OrderPath()
    resting = path.submit(new_order("s-1", account=SELLER, side="SELL", quantity=2 * Q, price=100 * P))
    assert _story(resting) == [("PENDING_NEW", "PENDING_NEW"), ("ACCEPTED", "NEW")]

    crossing = path.submit(new_order("b-1", account=BUYER, quantity=3 * Q, price=101 * P))
    assert _story(crossing, BUYER) == [
        ("PENDING_NEW", "PENDING_NEW"),
        ("ACCEPTED", "NEW"),
        ("PARTIALLY_FILLED", "PARTIALLY_FILLED"),
    ]
    assert _story(crossing, SELLER) == [("FILLED", "FILLED")]
    taker = crossing[-2] if crossing[-1]["account"] == SELLER else crossing[-1]
    assert (taker["last_price"], taker["liquidity"], taker["avg_price"]) == (100 * P, "TAKER", 100 * P)
    assert taker["fee"] > 0

    buyer_order = oid("b-1", BUYER)
    replaced = path.submit(amend(buyer_order, account=BUYER, quantity=5 * Q))
    assert _story(replaced) == [("PENDING_REPLACE", "PENDING_REPLACE"), ("REPLACED", "PARTIALLY_FILLED")]
    assert (replaced[-1]["version"], replaced[-1]["leaves_quantity"]) == (2, 3 * Q)
    below = path.submit(amend(buyer_order, account=BUYER, quantity=1 * Q))
    assert [(e["event_type"], e["reject_reason"]) for e in below] == [("REPLACE_REJECTED", "AMEND_BELOW_FILLED")]
    cancelled = path.submit(cancel(buyer_order, account=BUYER))
    assert _story(cancelled) == [("PENDING_CANCEL", "PENDING_CANCEL"), ("CANCELLED", "CANCELLED")]
    too_late = path.submit(cancel(oid("s-1", SELLER), account=SELLER))
    assert [(e["event_type"], e["reject_reason"]) for e in too_late] == [("CANCEL_REJECTED", "INVALID_TRANSITION")]

    fok = path.submit(new_order("b-2", account=BUYER, quantity=5 * Q, price=100 * P, time_in_force="FOK"))
    assert [(e["event_type"], e["reject_reason"]) for e in fok][-1] == ("EXPIRED", "FOK_NOT_FILLABLE")

    path.submit(new_order("s-2", account=SELLER, side="SELL", quantity=1 * Q, price=105 * P))
    path.submit(new_order("s-3", account=SELLER, side="SELL", quantity=1 * Q, price=106 * P))
    post_only = path.submit(new_order("b-3", account=BUYER, quantity=1 * Q, price=106 * P, post_only=True))
    assert [(e["event_type"], e["reject_reason"]) for e in post_only] == [
        ("PENDING_NEW", None),
        ("REJECTED", "POST_ONLY_WOULD_TAKE"),
    ]

    stop = path.submit(new_order("b-4", account=BUYER, order_type="STOP", price=None, stop_price=104 * P))
    assert _story(stop) == [("PENDING_NEW", "PENDING_NEW"), ("ACCEPTED", "NEW")]
    market = path.submit(
        new_order("b-5", account=BUYER, order_type="MARKET", price=None, time_in_force="IOC", quantity=1 * Q)
    )
    stop_story = [(e["event_type"], e["status"]) for e in market if e["order_id"] == oid("b-4", BUYER)]
    assert stop_story == [("TRIGGERED", "NEW"), ("FILLED", "FILLED")]

    duplicate = path.submit(new_order("b-1", account=BUYER))
    assert _story(duplicate) == [("DUPLICATE_REJECTED", "CANCELLED")]

    assert path.log[DEAD_LETTERS] == []
    checked = path.verified()
    assert checked.lost == checked.duplicated == checked.unapproved == checked.duplicate_fills == 0, checked.examples
    assert checked.undecided == 0
    assert checked.fills == checked.venue_fills == 6  # three trades, a report for each side
    assert checked.orders_working == 0


def test_executions_redelivered_to_the_oms_change_nothing() -> None:
    path = OrderPath()
    path.submit(new_order("s-1", account=SELLER, side="SELL", quantity=2 * Q, price=100 * P))
    path.submit(new_order("b-1", account=BUYER, quantity=1 * Q, price=100 * P))
    executions = list(path.log[VENUE_EXECUTIONS])
    fills = [e for e in executions if e["exec_type"] == "FILL"]
    assert len(fills) == 2
    again = run(path.oms, *[Event(VENUE_EXECUTIONS, e["account"], EXECUTION_REPORT, e, 0) for e in fills])
    assert again == []
