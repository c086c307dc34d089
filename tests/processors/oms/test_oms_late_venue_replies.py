"""The venue's late reply to a request the OMS already answered is absorbed, never a dead letter.

When an order ends (filled, expired) while a cancel or amend is open, the OMS answers the request itself; the
venue, which got the request after the order had left its book, answers it later with CANCEL_REJECTED /
AMEND_REJECTED. That is an expected race, not bad input. Reports that are truly invalid still go to the dead
letters.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest
from _oms_builders import (
    ACCOUNT,
    P,
    Q,
    accepted,
    amend,
    cancel,
    dead_letters,
    decision,
    fill,
    new_order,
    oid,
    order_events,
    report,
    run,
    types,
)

from processors.core import Emit, Event
from processors.oms import OmsCore
from processors.venue.core import VenueCore
from topics.catalogue import DEAD_LETTERS, ORDERS_EVENTS, VENUE_ORDERS


def _absorbed(core: OmsCore, order_id: str, late: Event) -> None:
    """``late`` emits nothing and changes nothing (not even a changelog record)."""
    before = core.order(ACCOUNT, order_id)
    core.state_changes()
    assert run(core, late) == []
    assert core.order(ACCOUNT, order_id) == before
    assert core.state_changes() == {}


def test_venue_cancel_reject_after_fill_is_absorbed() -> None:
    core = OmsCore()
    order_id = accepted(core)
    run(core, decision(cancel(order_id)))
    assert types(run(core, fill(order_id, 1 * Q))) == [("FILLED", "FILLED"), ("CANCEL_REJECTED", "FILLED")]
    _absorbed(core, order_id, report(order_id, "CANCEL_REJECTED", reject_reason="UNKNOWN_ORDER"))


def test_venue_amend_reject_after_fill_is_absorbed() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=2 * Q)
    run(core, decision(amend(order_id, quantity=3 * Q)))
    emits = run(core, fill(order_id, 2 * Q))
    assert types(emits) == [("FILLED", "FILLED"), ("REPLACE_REJECTED", "FILLED")]
    _absorbed(core, order_id, report(order_id, "AMEND_REJECTED", reject_reason="UNKNOWN_ORDER"))


def test_venue_cancel_reject_after_expiry_is_absorbed() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=2 * Q, time_in_force="DAY")
    run(core, decision(cancel(order_id)))
    run(core, fill(order_id, 1 * Q))
    assert types(run(core, report(order_id, "EXPIRED", cum=1 * Q))) == [
        ("EXPIRED", "EXPIRED"),
        ("CANCEL_REJECTED", "EXPIRED"),
    ]
    _absorbed(core, order_id, report(order_id, "CANCEL_REJECTED", reject_reason="UNKNOWN_ORDER"))


def test_venue_amend_reject_after_fill_with_a_cancel_waiting_is_absorbed() -> None:
    core = OmsCore()
    order_id = accepted(core)
    replace, withdraw = amend(order_id, quantity=2 * Q), cancel(order_id)
    run(core, decision(replace), decision(withdraw))
    emits = run(core, fill(order_id, 1 * Q))
    answers = {event["command_id"]: event["event_type"] for event in order_events(emits)[1:]}
    assert answers == {
        replace[1]["meta"]["event_id"]: "REPLACE_REJECTED",
        withdraw[1]["meta"]["event_id"]: "CANCEL_REJECTED",
    }
    _absorbed(core, order_id, report(order_id, "AMEND_REJECTED", reject_reason="UNKNOWN_ORDER"))


def test_request_reject_for_an_order_that_never_reached_a_venue_is_dead_lettered() -> None:
    core = OmsCore()
    run(core, decision(new_order("c-1"), approved=False, reason="QUANTITY_LIMIT"))
    for exec_type in ("CANCEL_REJECTED", "AMEND_REJECTED"):
        emits = run(core, report(oid("c-1"), exec_type))
        assert order_events(emits) == [] and len(dead_letters(emits)) == 1, exec_type


@pytest.mark.parametrize(
    ("late", "why"),
    [
        (lambda order_id: fill(order_id, 1 * Q), "a fill after the order ended"),
        (lambda order_id: report(order_id, "CANCELLED"), "a cancel of an order the venue filled"),
        (lambda order_id: report(order_id, "ACK"), "an ACK of a finished order"),
        (lambda order_id: report("no-such-order", "CANCEL_REJECTED"), "a reject for an order never held"),
    ],
)
def test_invalid_reports_on_a_finished_order_are_still_dead_lettered(late: Any, why: str) -> None:
    core = OmsCore()
    order_id = accepted(core)
    run(core, fill(order_id, 1 * Q))
    emits = run(core, late(order_id))
    assert order_events(emits) == [] and len(dead_letters(emits)) == 1, why


def test_cancel_racing_a_fill_through_the_venue_leaves_no_dead_letter() -> None:
    """The cancel reaches the venue after a crossing order filled the resting one: the venue's reject is absorbed."""
    oms, venue = OmsCore(), VenueCore()
    log: dict[str, list[dict[str, Any]]] = {ORDERS_EVENTS: [], DEAD_LETTERS: []}

    def deliver(*events: Event, hold_cancel: bool = False) -> list[Event]:
        """Work the events through the OMS and the venue; the venue cancels held back (returned) when asked."""
        held: list[Event] = []
        pending: deque[Event] = deque(events)
        while pending:
            event = pending.popleft()
            if event.topic == VENUE_ORDERS and hold_cancel and event.record["action"] == "CANCEL":
                held.append(event)
                continue
            for emit in run(venue if event.topic == VENUE_ORDERS else oms, event):
                log.setdefault(emit.topic, []).append(emit.record)
                if emit.topic not in (ORDERS_EVENTS, DEAD_LETTERS):
                    pending.append(_as_input(emit))
        return held

    resting = new_order("s-1", account="acc-2", side="SELL", quantity=1 * Q, price=100 * P)
    deliver(decision(resting))
    withdraw = cancel(oid("s-1", "acc-2"), account="acc-2")
    held = deliver(decision(withdraw), hold_cancel=True)
    assert len(held) == 1
    deliver(decision(new_order("b-1", account="acc-1", quantity=1 * Q, price=100 * P)))
    deliver(*held)

    assert log[DEAD_LETTERS] == []
    answers = [e["event_type"] for e in log[ORDERS_EVENTS] if e["command_id"] == withdraw[1]["meta"]["event_id"]]
    assert answers == ["PENDING_CANCEL", "CANCEL_REJECTED"]  # one answer, the OMS's own, to the cancel
    seller = oms.order("acc-2", oid("s-1", "acc-2"))
    assert seller is not None and seller["status"] == "FILLED"


def _as_input(emit: Emit) -> Event:
    return Event(emit.topic, emit.key, emit.schema, emit.record, emit.record["meta"]["ingest_time_us"])
