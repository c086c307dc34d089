"""Positions and PnL from fills: realized, average price, fees and cash, counting a fill once, and errors."""

from __future__ import annotations

import pytest
from _portfolio_builders import ACCOUNT, SYMBOL, C, P, Q, fill, one, order_event, run, trade

from processors.core import derived_event_id
from processors.portfolio import PortfolioConfig, PortfolioCore
from processors.runtime.registry import core_class
from schemas.names import DEPTH_UPDATE
from topics.catalogue import MD_TRADES, ORDERS_EVENTS, PORTFOLIO_POSITIONS


def test_the_registry_runs_this_core_on_orders_events_with_trades_broadcast() -> None:
    assert core_class("portfolio") is PortfolioCore
    assert PortfolioCore.inputs == (ORDERS_EVENTS,)
    assert PortfolioCore.broadcast_inputs == (MD_TRADES,)
    assert PortfolioCore.outputs == (PORTFOLIO_POSITIONS,)


def test_buy_then_sell_higher_realizes_the_difference() -> None:
    core = PortfolioCore()
    bought = one(core, fill("o-1", "BUY", 2 * Q, 100 * P))
    assert (bought["quantity"], bought["avg_price"], bought["realized_pnl"]) == (2 * Q, 100 * P, 0)
    sold = one(core, fill("o-2", "SELL", 2 * Q, 110 * P))
    assert sold["quantity"] == 0
    assert sold["avg_price"] is None
    assert sold["realized_pnl"] == 20 * C
    assert sold["cash"] == 20 * C
    assert sold["unrealized_pnl"] == 0
    assert (sold["fill_count"], sold["version"], sold["last_fill_id"]) == (2, 2, "fill-o-2-200000000")


def test_partial_close_realizes_only_the_closed_quantity_and_keeps_the_average() -> None:
    core = PortfolioCore()
    run(core, fill("o-1", "BUY", 3 * Q, 100 * P))
    record = one(core, fill("o-2", "SELL", 1 * Q, 130 * P))
    assert (record["quantity"], record["avg_price"], record["realized_pnl"]) == (2 * Q, 100 * P, 30 * C)
    assert record["unrealized_pnl"] == 60 * C  # 2 left, valued at the last fill (130) with no trade yet


def test_adding_to_a_position_averages_the_entry_price() -> None:
    core = PortfolioCore()
    run(core, fill("o-1", "BUY", 1 * Q, 100 * P))
    record = one(core, fill("o-2", "BUY", 3 * Q, 104 * P))
    assert (record["quantity"], record["avg_price"]) == (4 * Q, 103 * P)
    assert record["unrealized_pnl"] == 4 * C  # (104 - 103) x 4


def test_average_price_rounds_half_even_at_the_price_scale() -> None:
    core = PortfolioCore()
    run(core, fill("o-1", "BUY", 1 * Q, 1))  # 1e-8 ...
    record = one(core, fill("o-2", "BUY", 1 * Q, 2))  # ... and 2e-8: 1.5e-8 rounds to 2e-8 (even)
    assert record["avg_price"] == 2
    run(core, fill("o-3", "SELL", 2 * Q, 2))
    run(core, fill("o-4", "BUY", 1 * Q, 3))
    assert one(core, fill("o-5", "BUY", 1 * Q, 2))["avg_price"] == 2  # 2.5e-8 rounds to 2e-8 (even)


def test_short_covered_lower_realizes_a_gain() -> None:
    core = PortfolioCore()
    short = one(core, fill("o-1", "SELL", 4 * Q, 50 * P))
    assert (short["quantity"], short["avg_price"], short["cash"]) == (-4 * Q, 50 * P, 200 * C)
    covered = one(core, fill("o-2", "BUY", 4 * Q, 45 * P))
    assert (covered["quantity"], covered["realized_pnl"], covered["cash"]) == (0, 20 * C, 20 * C)


def test_flip_from_long_to_short_realizes_the_closed_part() -> None:
    core = PortfolioCore()
    run(core, fill("o-1", "BUY", 2 * Q, 100 * P))
    flipped = one(core, fill("o-2", "SELL", 5 * Q, 90 * P))
    assert flipped["realized_pnl"] == -20 * C  # the 2 long closed at 90
    assert (flipped["quantity"], flipped["avg_price"]) == (-3 * Q, 90 * P)  # the 3 short opened at 90
    assert flipped["cash"] == -200 * C + 450 * C
    assert flipped["unrealized_pnl"] == 0
    marked = one(core, trade(80 * P))
    assert marked["unrealized_pnl"] == 30 * C  # short 3 from 90, marked at 80
    assert marked["realized_pnl"] == -20 * C


def test_fees_are_kept_apart_from_realized_pnl_and_reduce_cash() -> None:
    core = PortfolioCore()
    run(core, fill("o-1", "BUY", 1 * Q, 100 * P, fee=C // 10))
    record = one(core, fill("o-2", "SELL", 1 * Q, 101 * P, fee=C // 5))
    assert record["realized_pnl"] == 1 * C  # fees excluded
    assert record["fees"] == C // 10 + C // 5
    assert record["cash"] == -100 * C - C // 10 + 101 * C - C // 5


def test_a_rebate_is_a_negative_fee_that_adds_cash() -> None:
    core = PortfolioCore()
    record = one(core, fill("o-1", "BUY", 1 * Q, 100 * P, fee=-2 * C // 100))
    assert record["fees"] == -2 * C // 100
    assert record["cash"] == -100 * C + 2 * C // 100


def test_cash_truncates_each_fills_notional_toward_zero() -> None:
    core = PortfolioCore()
    # 0.33333333 x 0.00000003 = 0.0000000099999999: the notional truncates to 0.00000000.
    bought = one(core, fill("o-1", "BUY", 3, 33_333_333))
    assert bought["cash"] == 0
    sold = one(core, fill("o-2", "SELL", 3, 66_666_667))  # 0.0000000200000001 -> 0.00000002
    assert sold["cash"] == 2
    assert sold["realized_pnl"] == 1  # exact 0.0000000100000002, rounded half-even at the cash scale


def test_positions_are_per_account_and_symbol_under_an_account_symbol_key() -> None:
    core = PortfolioCore()
    emits = run(
        core,
        fill("o-1", "BUY", 1 * Q, 100 * P),
        fill("o-2", "SELL", 2 * Q, 10 * P, symbol="ETHUSDT"),
        fill("o-3", "BUY", 3 * Q, 100 * P, account="acc-2"),
    )
    assert [emit.key for emit in emits] == [f"{ACCOUNT}|{SYMBOL}", f"{ACCOUNT}|ETHUSDT", f"acc-2|{SYMBOL}"]
    assert [emit.record["quantity"] for emit in emits] == [1 * Q, -2 * Q, 3 * Q]
    assert all(emit.topic == PORTFOLIO_POSITIONS for emit in emits)


def test_a_position_record_is_derived_from_its_fill() -> None:
    core = PortfolioCore()
    event = fill("o-1", "BUY", 1 * Q, 100 * P)
    record = one(core, event)
    cause = event.record["meta"]
    assert record["meta"] == {
        "event_id": derived_event_id(cause["event_id"], "portfolio", 0),
        "producer": "portfolio",
        "event_time_us": cause["event_time_us"],
        "ingest_time_us": event.ingest_time_us,
        "causation_id": cause["event_id"],
        "correlation_id": cause["correlation_id"],
    }


# -- a fill counts once -----------------------------------------------------------------------------------


def test_fill_seen_twice_counts_once() -> None:
    core = PortfolioCore()
    event = fill("o-1", "BUY", 2 * Q, 100 * P, order_quantity=5 * Q, fee=C)
    first = one(core, event)
    assert run(core, event) == []
    copy = fill("o-1", "BUY", 2 * Q, 100 * P, order_quantity=5 * Q, fee=C)  # re-produced: new event id, same fill
    assert run(core, copy) == []
    assert core.position_view(ACCOUNT, SYMBOL) == {k: v for k, v in first.items() if k != "meta"}
    assert first["fill_count"] == 1


def test_an_older_fill_of_a_working_order_delivered_again_counts_once() -> None:
    core = PortfolioCore()
    first = fill("o-1", "BUY", 3 * Q, 100 * P, order_quantity=10 * Q, cum=3 * Q)
    run(core, first, fill("o-1", "BUY", 3 * Q, 101 * P, order_quantity=10 * Q, cum=6 * Q))
    assert run(core, first) == []
    view = core.position_view(ACCOUNT, SYMBOL)
    assert view is not None
    assert (view["quantity"], view["fill_count"]) == (6 * Q, 2)
    last = one(core, fill("o-1", "BUY", 4 * Q, 102 * P, order_quantity=10 * Q, cum=10 * Q))
    assert (last["quantity"], last["fill_count"]) == (10 * Q, 3)


def test_a_fill_of_a_finished_order_delivered_again_counts_once() -> None:
    core = PortfolioCore()
    partial = fill("o-1", "SELL", 4 * Q, 100 * P, order_quantity=10 * Q, cum=4 * Q)
    final = fill("o-1", "SELL", 6 * Q, 100 * P, order_quantity=10 * Q, cum=10 * Q)
    run(core, partial, final)
    assert run(core, final, partial) == []
    state = core.account_state(ACCOUNT)
    assert state is not None
    assert (state["orders"], list(state["finished"])) == ({}, ["o-1"])
    assert state["positions"][SYMBOL]["quantity"] == -10 * Q


def test_cancel_after_a_partial_fill_retires_the_order_so_a_late_copy_counts_once() -> None:
    core = PortfolioCore()
    partial = fill("o-1", "BUY", 4 * Q, 100 * P, order_quantity=10 * Q, cum=4 * Q)
    run(core, partial)
    core.state_changes()
    run(core, order_event("o-1", "CANCELLED", "CANCELLED", quantity=10 * Q, cum=4 * Q))
    changes = core.state_changes()
    assert changes[f"{ACCOUNT}|o-1"] == {"seq": 0}  # the order's own record: it joined the finished window
    account = changes[ACCOUNT]
    assert account is not None and account["orders"] == {}
    assert run(core, partial) == []


def test_events_that_are_not_fills_publish_nothing_and_change_no_state() -> None:
    core = PortfolioCore()
    run(core, fill("o-1", "BUY", 1 * Q, 100 * P))
    core.state_changes()
    assert (
        run(
            core,
            order_event("o-2", "PENDING_NEW", "PENDING_NEW"),
            order_event("o-2", "ACCEPTED", "NEW"),
            order_event("o-2", "CANCELLED", "CANCELLED"),  # no fills: nothing to retire
            order_event("o-3", "DENIED", "REJECTED", account="acc-9"),  # an account without fills stays unknown
            order_event("o-4", "FILLED", "FILLED", cum=0),  # a fill event type without a fill quantity
        )
        == []
    )
    assert core.state_changes() == {}
    assert core.account_state("acc-9") is None


def test_the_finished_order_window_keeps_the_latest_orders_only() -> None:
    core = PortfolioCore(PortfolioConfig(finished_orders_kept=2))
    run(core, *(fill(f"o-{n}", "BUY", 1 * Q, 100 * P) for n in range(1, 5)))
    state = core.account_state(ACCOUNT)
    assert state is not None
    assert (state["orders"], list(state["finished"])) == ({}, ["o-3", "o-4"])


# -- what the core refuses (the runtime turns the error into a dead letter) ------------------------------


def test_a_fill_without_a_price_is_refused() -> None:
    event = fill("o-1", "BUY", 1 * Q, 100 * P)
    event.record["last_price"] = None  # type: ignore[index]
    with pytest.raises(ValueError, match="last_price"):
        PortfolioCore().apply(event)


def test_a_fill_above_its_orders_cumulative_quantity_is_refused() -> None:
    with pytest.raises(ValueError, match="cum_quantity"):
        PortfolioCore().apply(fill("o-1", "BUY", 2 * Q, 100 * P, order_quantity=5 * Q, cum=1 * Q))


def test_a_trade_without_a_positive_price_is_refused() -> None:
    with pytest.raises(ValueError, match="non-positive"):
        PortfolioCore().apply(trade(0))


def test_an_event_of_another_schema_is_refused() -> None:
    event = trade(100 * P)
    with pytest.raises(ValueError, match="does not take"):
        PortfolioCore().apply(type(event)(event.topic, event.key, DEPTH_UPDATE, event.record, 0))
