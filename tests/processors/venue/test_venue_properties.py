"""Invariants over random streams of orders, cancels and amends, and the changelog state round trip."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from _venue_builders import SYMBOL, T0, VENUE, P, Q, S, Sim, venue_order
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import Event
from processors.venue import VenueCore
from processors.venue.book import BUY, Book

ACCOUNTS = ("acc-1", "acc-2", "acc-3")
TERMINAL_REPORTS = frozenset({"CANCELLED", "EXPIRED", "REJECTED"})


@st.composite
def new_orders(draw: st.DrawFn) -> dict[str, Any]:
    order_type = draw(st.sampled_from(["LIMIT", "LIMIT", "LIMIT", "MARKET", "STOP", "STOP_LIMIT"]))
    tif = draw(st.sampled_from(["GTC", "GTC", "IOC", "FOK", "GTD", "DAY"]))
    return {
        "action": "NEW",
        "account": draw(st.sampled_from(ACCOUNTS)),
        "side": draw(st.sampled_from(["BUY", "SELL"])),
        "order_type": order_type,
        "time_in_force": tif,
        "quantity": draw(st.integers(1, 6)) * Q,
        "price": draw(st.integers(97, 103)) * P if order_type in ("LIMIT", "STOP_LIMIT") else None,
        "stop_price": draw(st.integers(97, 103)) * P if order_type in ("STOP", "STOP_LIMIT") else None,
        "post_only": order_type == "LIMIT" and draw(st.booleans()),
        "expire_time_us": T0 + draw(st.integers(0, 30)) * S if tif == "GTD" else None,
    }


def _targets(draw: st.DrawFn) -> dict[str, Any]:
    return {"target": draw(st.integers(0, 40)), "account_guess": draw(st.integers(0, 5))}


@st.composite
def cancels(draw: st.DrawFn) -> dict[str, Any]:
    return {"action": "CANCEL", **_targets(draw)}


@st.composite
def amends(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "action": "AMEND",
        **_targets(draw),
        "quantity": draw(st.integers(1, 7)) * Q,
        "price": draw(st.one_of(st.none(), st.integers(97, 103).map(lambda p: p * P))),
        "stop_price": draw(st.one_of(st.none(), st.integers(97, 103).map(lambda p: p * P))),
    }


operations = st.lists(
    st.tuples(st.one_of(new_orders(), new_orders(), cancels(), amends()), st.integers(0, 3 * S)),
    max_size=60,
)


def events_for(ops: list[tuple[dict[str, Any], int]]) -> list[Event]:
    """Venue orders for the operations: new orders get fresh ids; cancels and amends aim at earlier ones."""
    events: list[Event] = []
    placed: list[tuple[str, str]] = []  # (order id, account)
    t = T0
    for i, (op, dt) in enumerate(ops):
        t += dt
        if op["action"] == "NEW":
            fields = {k: v for k, v in op.items() if k != "action"}
            order_id = f"o{i}"
            placed.append((order_id, fields["account"]))
            events.append(venue_order("NEW", order_id, t=t, event_id=f"e{i}", **fields))
            continue
        order_id, account = placed[op["target"] % len(placed)] if placed else ("ghost", ACCOUNTS[0])
        if op["account_guess"] == 0:
            account = "stranger"  # someone else's order: must be refused
        extra = {} if op["action"] == "CANCEL" else {k: op[k] for k in ("quantity", "price", "stop_price")}
        events.append(venue_order(op["action"], order_id, account=account, t=t, event_id=f"e{i}", **extra))
    return events


def assert_book_consistent(book: Book) -> None:
    best_bid, best_ask = book.best_bid(), book.best_ask()
    assert best_bid is None or best_ask is None or best_bid < best_ask, "crossed book"
    resting = set()
    for side in ("BUY", "SELL"):
        for level in book.levels(side):
            orders = list(level.orders())
            assert orders, "empty level kept"
            assert level.quantity == sum(o.leaves for o in orders)
            assert level.count == len(orders)
            assert all(o.leaves > 0 and o.cum + o.leaves == o.quantity and o.side == side for o in orders)
            seqs = [o.seq for o in orders]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
            resting |= {o.order_id for o in orders}
    stops = {o.order_id for o in book.orders.values() if o.is_stop}
    assert resting | stops == set(book.orders) and not resting & stops


@settings(max_examples=150, deadline=None)
@given(operations)
def test_matching_invariants_hold_for_any_stream(ops: list[tuple[dict[str, Any], int]]) -> None:
    sim = Sim()
    quantity: dict[str, int] = {}
    filled: dict[str, int] = defaultdict(int)
    done: set[str] = set()
    for event in events_for(ops):
        record = event.record
        order_id = record["order_id"]
        reports = sim.send(event)
        if record["action"] == "NEW":
            first = next(r for r in reports if r["order_id"] == order_id)
            assert first["exec_type"] in ("ACK", "REJECTED")  # an ACK before any fill of the order
            quantity[order_id] = record["quantity"]
        taker_quantity = maker_quantity = 0
        for report in reports:
            rid, exec_type = report["order_id"], report["exec_type"]
            if exec_type in ("CANCEL_REJECTED", "AMEND_REJECTED"):
                continue
            assert rid not in done, f"{exec_type} after {rid} was done"
            if exec_type == "AMENDED":
                quantity[rid] = record["quantity"]
            if exec_type == "FILL":
                filled[rid] += report["last_quantity"]
                if report["liquidity"] == "TAKER":
                    taker_quantity += report["last_quantity"]
                else:
                    maker_quantity += report["last_quantity"]
                assert report["last_quantity"] > 0
            assert report["cum_quantity"] == filled[rid]
            assert filled[rid] + report["leaves_quantity"] <= quantity[rid]
            if exec_type in TERMINAL_REPORTS or (exec_type in ("FILL", "AMENDED") and report["leaves_quantity"] == 0):
                done.add(rid)
        assert taker_quantity == maker_quantity
        book = sim.core.book(VENUE, SYMBOL)
        assert book is not None
        assert_book_consistent(book)
        assert not set(book.orders) & done
    for order_id, total in filled.items():
        assert total <= quantity[order_id]


@settings(max_examples=80, deadline=None)
@given(operations, st.integers(0, 60))
def test_state_round_trip_continues_exactly(ops: list[tuple[dict[str, Any], int]], cut: int) -> None:
    events = events_for(ops)
    cut = min(cut, len(events))
    straight = VenueCore()
    for event in events[:cut]:
        straight.apply(event)
    changes = json.loads(json.dumps(straight.state_changes()))  # what the changelog holds at the cut
    assert straight.state_changes() == {}
    restored = VenueCore()
    for key, state in changes.items():
        if state is not None:  # a tombstone: an order that came and went before the cut
            restored.restore(key, state)
    expected = [emit for event in events[cut:] for emit in straight.apply(event)]
    actual = [emit for event in events[cut:] for emit in restored.apply(event)]
    assert actual == expected
    assert restored.state_changes() == straight.state_changes()


def test_state_is_json_and_keyed_by_symbol() -> None:
    sim = Sim()
    sim.new("b1", "BUY", 1 * Q, 99 * P)
    sim.new("st", "SELL", 1 * Q, None, order_type="STOP", stop_price=90 * P)
    sim.new("e1", "BUY", 1 * Q, 99 * P, symbol="ETHUSDT", venue="other")
    changes = sim.core.state_changes()
    assert set(changes) == {
        f"{SYMBOL}|symbol",
        f"{SYMBOL}|order|{VENUE}|{SYMBOL}|b1",
        f"{SYMBOL}|order|{VENUE}|{SYMBOL}|st",
        "ETHUSDT|symbol",
        "ETHUSDT|order|other|ETHUSDT|e1",
    }
    assert json.loads(json.dumps(changes)) == changes
    symbol = changes[f"{SYMBOL}|symbol"]
    assert symbol is not None
    assert [(b["venue"], b["symbol"], b["next_seq"]) for b in symbol["books"]] == [(VENUE, SYMBOL, 3)]


def test_restored_book_keeps_priority_and_stops() -> None:
    sim = Sim()
    sim.new("b1", "BUY", 2 * Q, 99 * P)
    sim.new("b2", "BUY", 1 * Q, 99 * P)
    sim.amend("b1", 1 * Q, 99 * P)  # keeps its place ahead of b2
    sim.new("st", "BUY", 1 * Q, None, order_type="STOP", stop_price=100 * P)
    restored = Sim(VenueCore())
    for key, state in sim.core.state_changes().items():
        if state is not None:
            restored.core.restore(key, json.loads(json.dumps(state)))
    assert restored.queue(99 * P, BUY) == ["b1", "b2"]
    restored.new("a1", "SELL", 1 * Q, 100 * P, account="mm")
    reports = restored.new("b3", "BUY", 1 * Q, 100 * P)
    assert ("st", "TRIGGERED") in [(r["order_id"], r["exec_type"]) for r in reports]
