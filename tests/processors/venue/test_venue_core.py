"""The venue core around the matching: time, named venues, ids, keys and correlation, records."""

from __future__ import annotations

from typing import Any

import pytest
from _venue_builders import DAY_END, SYMBOL, T0, P, Q, S, Sim, fills, kinds, venue_order

from processors.core import Event
from processors.venue import Fees, VenueConfig, VenueCore
from processors.venue.core import day_end_us
from processors.venue.matching import fee_for
from schemas.names import EXECUTION_REPORT, NEW_ORDER
from schemas.scales import Price
from topics.catalogue import VENUE_ORDERS


def test_gtd_order_expires_at_the_first_message_at_or_after_its_expire_time() -> None:
    sim = Sim()
    sim.new("g1", "BUY", 1 * Q, 99 * P, time_in_force="GTD", expire_time_us=T0 + 10 * S)
    assert kinds(sim.new("x1", "SELL", 1 * Q, 200 * P, t=T0 + 10 * S - 1)) == [("x1", "ACK")]
    reports = sim.new("x2", "SELL", 1 * Q, 200 * P, t=T0 + 10 * S)
    assert kinds(reports) == [("g1", "EXPIRED"), ("x2", "ACK")]
    assert (reports[0]["leaves_quantity"], reports[0]["account"]) == (0, "acc-1")
    assert sim.depth("BUY") == []


def test_gtd_order_already_past_its_expire_time_expires_after_ack() -> None:
    reports = Sim().new("g1", "BUY", 1 * Q, 99 * P, time_in_force="GTD", expire_time_us=T0 - 1, t=T0)
    assert kinds(reports) == [("g1", "ACK"), ("g1", "EXPIRED")]


def test_gtd_without_expire_time_is_rejected() -> None:
    reports = Sim().new("g1", "BUY", 1 * Q, 99 * P, time_in_force="GTD")
    assert (reports[0]["exec_type"], reports[0]["reject_reason"]) == ("REJECTED", "INVALID_ORDER")


def test_day_order_expires_at_the_end_of_its_utc_day() -> None:
    sim = Sim()
    sim.new("d1", "BUY", 1 * Q, 99 * P, time_in_force="DAY", t=T0)
    assert kinds(sim.cancel("nope", t=DAY_END - 1)) == [("nope", "CANCEL_REJECTED")]
    assert kinds(sim.cancel("nope", t=DAY_END)) == [("d1", "EXPIRED"), ("nope", "CANCEL_REJECTED")]
    assert day_end_us(T0) == DAY_END


def test_expiry_clock_never_goes_back() -> None:
    sim = Sim()
    sim.new("g1", "BUY", 1 * Q, 99 * P, time_in_force="GTD", expire_time_us=T0 + S, t=T0 + 2 * S)
    assert kinds(sim.new("late", "BUY", 1 * Q, 98 * P, time_in_force="GTD", expire_time_us=T0 + 3 * S, t=T0)) == [
        ("late", "ACK")
    ]


def test_each_named_venue_and_symbol_has_its_own_book() -> None:
    sim = Sim()
    sim.new("a1", "SELL", 1 * Q, 100 * P, venue="alpha")
    sim.new("e1", "SELL", 1 * Q, 100 * P, venue="alpha", symbol="ETHUSDT")
    reports = sim.new("b1", "BUY", 1 * Q, 100 * P, venue="beta")
    assert kinds(reports) == [("b1", "ACK")]
    assert (reports[0]["venue"], reports[0]["symbol"]) == ("beta", SYMBOL)
    assert sim.depth("SELL", venue="alpha") == [(100 * P, 1 * Q, 1)]
    assert sim.depth("BUY", venue="beta") == [(100 * P, 1 * Q, 1)]
    reports = sim.new("b2", "BUY", 1 * Q, 100 * P, venue="alpha", symbol="ETHUSDT")
    assert [f[0] for f in fills(reports)] == ["b2", "e1"]
    assert sim.depth("SELL", venue="alpha") == [(100 * P, 1 * Q, 1)]


def test_fees_come_from_the_named_venue_else_the_default() -> None:
    config = VenueConfig(default_fees=Fees(1, 1), fees_by_venue={"cheap": Fees(0, 0), "dear": Fees(10, 20)})
    sim = Sim(VenueCore(config))
    for venue, expected in (("cheap", [0, 0]), ("dear", [20, 10]), ("other", [1, 1])):
        sim.new(f"a-{venue}", "SELL", 1 * Q, 100 * P, venue=venue)
        reports = sim.new(f"b-{venue}", "BUY", 1 * Q, 100 * P, venue=venue)
        assert [r["fee"] for r in reports if r["exec_type"] == "FILL"] == [
            fee_for(Price(100 * P), 1 * Q, b) for b in expected
        ]


def test_fee_rounds_half_even_at_the_cash_scale() -> None:
    # 0.00000001 x 0.5 at 1 bps is 5e-13 cash: below half a cash unit, so 0; 1 x 0.5 at 1 bps = 0.00005.
    assert fee_for(Price(1), Q // 2, 1) == 0
    assert fee_for(Price(1 * P), Q // 2, 1) == 5_000
    assert fee_for(Price(1 * P), 1, 5_000) == 0  # 0.5 cash unit: ties to even (0)
    assert fee_for(Price(3 * P), 1, 5_000) == 2  # 1.5 cash units: ties to even (2)


def test_fill_ids_are_unique_and_the_same_on_replay() -> None:
    def run() -> list[dict[str, Any]]:
        sim = Sim()
        out = []
        for i, (side, price) in enumerate([("SELL", 100), ("SELL", 101), ("BUY", 101), ("SELL", 99), ("BUY", 100)]):
            out += sim.send(venue_order("NEW", f"o{i}", side=side, price=price * P, quantity=2 * Q, event_id=f"e{i}"))
        return out

    first, second = run(), run()
    assert first == second
    fill_ids = [r["fill_id"] for r in first if r["exec_type"] == "FILL"]
    assert len(fill_ids) >= 4
    assert len(set(fill_ids)) == len(fill_ids)
    assert len({r["meta"]["event_id"] for r in first}) == len(first)


def test_self_trade_gives_two_fills_with_different_ids() -> None:
    sim = Sim()
    sim.new("s1", "SELL", 1 * Q, 100 * P, account="same")
    reports = [r for r in sim.new("b1", "BUY", 1 * Q, 100 * P, account="same") if r["exec_type"] == "FILL"]
    assert [r["account"] for r in reports] == ["same", "same"]
    assert reports[0]["fill_id"] != reports[1]["fill_id"]


def test_reports_carry_their_orders_correlation_and_the_cause() -> None:
    sim = Sim()
    sim.new("s1", "SELL", 1 * Q, 100 * P, account="mm")
    event = venue_order("NEW", "b1", price=100 * P, account="taker", event_id="cause-1")
    reports = sim.send(event)
    by_order = {r["order_id"]: r for r in reports if r["exec_type"] == "FILL"}
    assert by_order["s1"]["meta"]["correlation_id"] == "story-s1"
    assert by_order["b1"]["meta"]["correlation_id"] == "story-b1"
    assert {r["meta"]["causation_id"] for r in reports} == {"cause-1"}
    assert {r["meta"]["producer"] for r in reports} == {"venue"}
    assert {r["meta"]["event_time_us"] for r in reports} == {event.record["meta"]["event_time_us"]}


def test_other_schemas_are_refused() -> None:
    event = Event(VENUE_ORDERS, SYMBOL, NEW_ORDER, {}, T0)
    with pytest.raises(ValueError, match="venue does not take"):
        VenueCore().apply(event)


def test_core_declares_its_topics() -> None:
    assert (VenueCore.name, VenueCore.inputs, VenueCore.outputs) == ("venue", ("venue.orders",), ("venue.executions",))


def test_runtime_registry_builds_the_venue_core() -> None:
    from processors.runtime.registry import new_core

    assert isinstance(new_core("venue"), VenueCore)


def test_every_exec_type_encodes_and_decodes_unchanged() -> None:
    from schemas.codec import default_codec

    sim = Sim()
    reports = sim.new("a1", "SELL", 1 * Q, 100 * P, account="mm")  # ACK
    reports += sim.new("st", "BUY", 1 * Q, None, order_type="STOP", stop_price=100 * P)
    reports += sim.new("b1", "BUY", 2 * Q, 100 * P)  # FILL x2, TRIGGERED, EXPIRED (stop as market, no liquidity)
    reports += sim.amend("b1", 3 * Q, 99 * P)  # AMENDED
    reports += sim.amend("nope", 1 * Q)  # AMEND_REJECTED
    reports += sim.cancel("b1") + sim.cancel("b1")  # CANCELLED, CANCEL_REJECTED
    reports += sim.new("bad", "BUY", 1 * Q, None)  # REJECTED
    assert {r["exec_type"] for r in reports} == {
        "ACK",
        "FILL",
        "TRIGGERED",
        "EXPIRED",
        "AMENDED",
        "AMEND_REJECTED",
        "CANCELLED",
        "CANCEL_REJECTED",
        "REJECTED",
    }
    codec = default_codec()
    for report in reports:
        decoded = codec.decode(codec.encode(EXECUTION_REPORT, report))
        assert (decoded.schema, decoded.record) == (EXECUTION_REPORT, report)
