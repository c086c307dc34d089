"""Marks: the last trade of a symbol re-values open positions; it never touches account state."""

from __future__ import annotations

from _portfolio_builders import ACCOUNT, SYMBOL, C, P, Q, fill, one, run, trade, without_meta

from processors.core import derived_event_id
from processors.portfolio import PortfolioCore


def test_mark_moves_unrealized_pnl_only() -> None:
    core = PortfolioCore()
    before = one(core, fill("o-1", "BUY", 2 * Q, 100 * P, fee=C))
    core.state_changes()
    marked = one(core, trade(105 * P))
    assert (marked["mark_price"], marked["unrealized_pnl"]) == (105 * P, 10 * C)
    unchanged = {"mark_price", "unrealized_pnl", "meta"}
    assert {k: v for k, v in marked.items() if k not in unchanged} == {
        k: v for k, v in before.items() if k not in unchanged
    }
    assert core.state_changes() == {}  # a broadcast record never changes account state


def test_an_open_position_is_valued_at_its_last_fill_until_the_symbol_trades() -> None:
    core = PortfolioCore()
    run(core, fill("o-1", "BUY", 2 * Q, 100 * P))
    record = one(core, fill("o-2", "BUY", 2 * Q, 110 * P))
    assert (record["mark_price"], record["unrealized_pnl"]) == (110 * P, 20 * C)


def test_a_fill_after_a_trade_is_valued_at_that_trade() -> None:
    core = PortfolioCore()
    assert run(core, trade(120 * P)) == []  # nobody holds the symbol yet
    record = one(core, fill("o-1", "BUY", 1 * Q, 100 * P))
    assert (record["mark_price"], record["unrealized_pnl"]) == (120 * P, 20 * C)


def test_a_trade_at_the_price_a_position_is_valued_at_publishes_nothing() -> None:
    core = PortfolioCore()
    run(core, fill("o-1", "BUY", 1 * Q, 100 * P))
    assert run(core, trade(100 * P)) == []  # the last fill's price
    assert len(run(core, trade(101 * P))) == 1
    assert run(core, trade(101 * P)) == []


def test_a_flat_position_has_no_mark_and_is_not_re_marked() -> None:
    core = PortfolioCore()
    run(core, trade(95 * P), fill("o-1", "BUY", 1 * Q, 100 * P))
    flat = one(core, fill("o-2", "SELL", 1 * Q, 110 * P))
    assert (flat["mark_price"], flat["unrealized_pnl"], flat["realized_pnl"]) == (None, 0, 10 * C)
    assert run(core, trade(120 * P)) == []


def test_a_trade_of_another_symbol_changes_nothing() -> None:
    core = PortfolioCore()
    run(core, fill("o-1", "BUY", 1 * Q, 100 * P))
    assert run(core, trade(5 * P, symbol="ETHUSDT")) == []
    view = core.position_view(ACCOUNT, SYMBOL)
    assert view is not None
    assert view["mark_price"] == 100 * P


def test_a_trade_re_marks_every_open_position_in_its_symbol_under_distinct_ids() -> None:
    core = PortfolioCore()
    run(
        core,
        fill("o-1", "BUY", 1 * Q, 100 * P, account="acc-2"),
        fill("o-2", "SELL", 2 * Q, 100 * P, account="acc-1"),
        fill("o-3", "BUY", 1 * Q, 100 * P, account="acc-3"),
        fill("o-4", "SELL", 1 * Q, 100 * P, account="acc-3"),  # flat again
        fill("o-5", "BUY", 1 * Q, 100 * P, account="acc-4", symbol="ETHUSDT"),
    )
    mark = trade(90 * P)
    emits = run(core, mark)
    assert [emit.key for emit in emits] == [f"acc-1|{SYMBOL}", f"acc-2|{SYMBOL}"]
    assert [emit.record["unrealized_pnl"] for emit in emits] == [20 * C, -10 * C]
    cause = mark.record["meta"]
    for emit in emits:
        meta = emit.record["meta"]
        assert meta["event_id"] == derived_event_id(cause["event_id"], f"portfolio|{emit.key}", 0)
        assert (meta["causation_id"], meta["correlation_id"]) == (cause["event_id"], cause["correlation_id"])
        assert meta["event_time_us"] == cause["event_time_us"]


def test_closing_a_position_stops_its_re_marks_and_reopening_resumes_them() -> None:
    core = PortfolioCore()
    run(core, fill("o-1", "BUY", 1 * Q, 100 * P), fill("o-2", "SELL", 1 * Q, 100 * P))
    assert run(core, trade(101 * P)) == []
    reopened = one(core, fill("o-3", "SELL", 1 * Q, 102 * P))
    assert (reopened["mark_price"], reopened["unrealized_pnl"]) == (101 * P, 1 * C)
    assert without_meta(one(core, trade(99 * P)))["unrealized_pnl"] == 3 * C
