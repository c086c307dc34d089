"""Matching rules of the simulated venue, one behaviour per test (docs/ORDER_PATH.md, "venue")."""

from __future__ import annotations

from _venue_builders import C, P, Q, Sim, fills, kinds, venue_order


def _asks(sim: Sim, *levels: tuple[int, int], account: str = "mm") -> None:
    """Rest one sell order per (price, quantity), ids a1, a2, ..."""
    for i, (price, quantity) in enumerate(levels, 1):
        sim.new(f"a{i}", "SELL", quantity * Q, price * P, account=account)


def test_limit_order_rests_after_ack() -> None:
    sim = Sim()
    reports = sim.new("b1", "BUY", 2 * Q, 99 * P)
    assert kinds(reports) == [("b1", "ACK")]
    assert (reports[0]["cum_quantity"], reports[0]["leaves_quantity"]) == (0, 2 * Q)
    assert sim.depth("BUY") == [(99 * P, 2 * Q, 1)]
    assert sim.depth("SELL") == []


def test_marketable_limit_takes_level_by_level_at_makers_prices_and_rests_the_rest() -> None:
    sim = Sim()
    _asks(sim, (100, 1), (101, 1), (102, 1))
    reports = sim.new("b1", "BUY", 3 * Q, 101 * P, account="taker")
    assert kinds(reports) == [("b1", "ACK"), ("b1", "FILL"), ("a1", "FILL"), ("b1", "FILL"), ("a2", "FILL")]
    assert fills(reports) == [
        ("b1", "TAKER", 1 * Q, 100 * P),
        ("a1", "MAKER", 1 * Q, 100 * P),
        ("b1", "TAKER", 1 * Q, 101 * P),
        ("a2", "MAKER", 1 * Q, 101 * P),
    ]
    taker_fills = [r for r in reports if r["order_id"] == "b1" and r["exec_type"] == "FILL"]
    assert [(r["cum_quantity"], r["leaves_quantity"]) for r in taker_fills] == [(1 * Q, 2 * Q), (2 * Q, 1 * Q)]
    assert sim.depth("BUY") == [(101 * P, 1 * Q, 1)]
    assert sim.depth("SELL") == [(102 * P, 1 * Q, 1)]


def test_partial_fill_of_a_maker_reports_its_own_cum_and_leaves() -> None:
    sim = Sim()
    _asks(sim, (100, 5))
    reports = sim.new("b1", "BUY", 2 * Q, 100 * P, account="taker")
    maker = next(r for r in reports if r["order_id"] == "a1")
    assert (maker["account"], maker["cum_quantity"], maker["leaves_quantity"]) == ("mm", 2 * Q, 3 * Q)
    taker = next(r for r in reports if r["order_id"] == "b1" and r["exec_type"] == "FILL")
    assert (taker["account"], taker["cum_quantity"], taker["leaves_quantity"]) == ("taker", 2 * Q, 0)
    assert sim.depth("SELL") == [(100 * P, 3 * Q, 1)]


def test_oldest_order_at_a_price_fills_first() -> None:
    sim = Sim()
    sim.new("s1", "SELL", 1 * Q, 100 * P)
    sim.new("s2", "SELL", 1 * Q, 100 * P)
    reports = sim.new("b1", "BUY", 1 * Q, 100 * P)
    assert [f[0] for f in fills(reports)] == ["b1", "s1"]
    assert sim.queue(100 * P, "SELL") == ["s2"]


def test_better_price_fills_before_older_order() -> None:
    sim = Sim()
    sim.new("s1", "SELL", 1 * Q, 101 * P)
    sim.new("s2", "SELL", 1 * Q, 100 * P)
    reports = sim.new("b1", "BUY", 1 * Q, 101 * P)
    assert fills(reports)[1] == ("s2", "MAKER", 1 * Q, 100 * P)


def test_market_order_remainder_expires_and_never_rests() -> None:
    sim = Sim()
    _asks(sim, (100, 1))
    reports = sim.new("m1", "BUY", 3 * Q, None, order_type="MARKET")
    assert kinds(reports) == [("m1", "ACK"), ("m1", "FILL"), ("a1", "FILL"), ("m1", "EXPIRED")]
    expired = reports[-1]
    assert (expired["cum_quantity"], expired["leaves_quantity"], expired["reject_reason"]) == (1 * Q, 0, None)
    assert sim.depth("BUY") == []


def test_market_order_on_an_empty_side_expires_for_no_liquidity() -> None:
    sim = Sim()
    reports = sim.new("m1", "SELL", 1 * Q, None, order_type="MARKET")
    assert kinds(reports) == [("m1", "ACK"), ("m1", "EXPIRED")]
    assert reports[-1]["reject_reason"] == "NO_LIQUIDITY"
    assert sim.depth("SELL") == []


def test_ioc_remainder_expires() -> None:
    sim = Sim()
    _asks(sim, (100, 1), (105, 1))
    reports = sim.new("b1", "BUY", 3 * Q, 101 * P, time_in_force="IOC")
    assert kinds(reports) == [("b1", "ACK"), ("b1", "FILL"), ("a1", "FILL"), ("b1", "EXPIRED")]
    assert (reports[-1]["cum_quantity"], reports[-1]["leaves_quantity"]) == (1 * Q, 0)
    assert sim.depth("BUY") == []
    assert sim.depth("SELL") == [(105 * P, 1 * Q, 1)]


def test_fok_not_fully_fillable_expires_without_fills() -> None:
    sim = Sim()
    _asks(sim, (100, 1), (101, 1), (103, 5))
    reports = sim.new("b1", "BUY", 3 * Q, 101 * P, time_in_force="FOK")
    assert kinds(reports) == [("b1", "ACK"), ("b1", "EXPIRED")]
    assert (reports[-1]["reject_reason"], reports[-1]["cum_quantity"], reports[-1]["leaves_quantity"]) == (
        "FOK_NOT_FILLABLE",
        0,
        0,
    )
    assert sim.depth("SELL") == [(100 * P, 1 * Q, 1), (101 * P, 1 * Q, 1), (103 * P, 5 * Q, 1)]


def test_fok_fully_fillable_fills_in_full() -> None:
    sim = Sim()
    _asks(sim, (100, 1), (101, 2))
    reports = sim.new("b1", "BUY", 3 * Q, 101 * P, time_in_force="FOK")
    assert [f for f in fills(reports) if f[0] == "b1"] == [
        ("b1", "TAKER", 1 * Q, 100 * P),
        ("b1", "TAKER", 2 * Q, 101 * P),
    ]
    assert reports[-1]["leaves_quantity"] == 0
    assert sim.depth("SELL") == []


def test_market_fok_counts_every_level() -> None:
    sim = Sim()
    _asks(sim, (100, 1), (200, 1))
    assert kinds(sim.new("m1", "BUY", 3 * Q, None, order_type="MARKET", time_in_force="FOK"))[-1] == (
        "m1",
        "EXPIRED",
    )
    assert len(fills(sim.new("m2", "BUY", 2 * Q, None, order_type="MARKET", time_in_force="FOK"))) == 4


def test_post_only_that_would_take_is_rejected() -> None:
    sim = Sim()
    _asks(sim, (100, 1))
    reports = sim.new("b1", "BUY", 1 * Q, 100 * P, post_only=True)
    assert kinds(reports) == [("b1", "REJECTED")]
    assert reports[0]["reject_reason"] == "POST_ONLY_WOULD_TAKE"
    assert sim.depth("BUY") == []
    assert sim.depth("SELL") == [(100 * P, 1 * Q, 1)]


def test_post_only_that_would_not_take_rests() -> None:
    sim = Sim()
    _asks(sim, (100, 1))
    assert kinds(sim.new("b1", "BUY", 1 * Q, 99 * P, post_only=True)) == [("b1", "ACK")]
    assert sim.depth("BUY") == [(99 * P, 1 * Q, 1)]


def test_stop_rests_untriggered_until_a_trade() -> None:
    sim = Sim()
    _asks(sim, (100, 1))
    reports = sim.new("st", "BUY", 1 * Q, None, order_type="STOP", stop_price=99 * P)
    assert kinds(reports) == [("st", "ACK")]  # the ask at 100 is no trade: nothing triggers it
    assert sim.depth("BUY") == []
    book = sim.core.book("sim", "BTCUSDT")
    assert book is not None and "st" in book.orders and book.orders["st"].is_stop


def test_stop_triggers_when_trade_prints_through() -> None:
    sim = Sim()
    _asks(sim, (100, 1), (101, 1), (102, 1))
    sim.new("st", "BUY", 1 * Q, None, order_type="STOP", stop_price=100 * P, account="stopper")
    reports = sim.new("b1", "BUY", 1 * Q, 100 * P)  # prints at 100: at the stop
    assert kinds(reports) == [
        ("b1", "ACK"),
        ("b1", "FILL"),
        ("a1", "FILL"),
        ("st", "TRIGGERED"),
        ("st", "FILL"),
        ("a2", "FILL"),
    ]
    assert fills(reports)[2] == ("st", "TAKER", 1 * Q, 101 * P)
    assert reports[3]["leaves_quantity"] == 1 * Q
    assert sim.depth("SELL") == [(102 * P, 1 * Q, 1)]


def test_stop_does_not_trigger_on_a_trade_short_of_its_stop() -> None:
    sim = Sim()
    _asks(sim, (100, 1), (101, 1))
    sim.new("st", "BUY", 1 * Q, None, order_type="STOP", stop_price=101 * P)
    reports = sim.new("b1", "BUY", 1 * Q, 100 * P)
    assert ("st", "TRIGGERED") not in kinds(reports)


def test_sell_stop_limit_triggers_on_a_trade_at_or_below_and_rests_as_a_limit() -> None:
    sim = Sim()
    sim.new("bid", "BUY", 1 * Q, 95 * P, account="mm")
    sim.new("st", "SELL", 2 * Q, 94 * P, order_type="STOP_LIMIT", stop_price=96 * P)
    reports = sim.new("s1", "SELL", 1 * Q, 95 * P)  # prints at 95, through the stop at 96
    assert kinds(reports)[-1] == ("st", "TRIGGERED")  # nothing left to take at 94 or better
    assert sim.depth("SELL") == [(94 * P, 2 * Q, 1)]


def test_stops_trigger_in_cascade() -> None:
    sim = Sim()
    _asks(sim, (100, 1), (101, 1), (102, 1))
    sim.new("st1", "BUY", 1 * Q, None, order_type="STOP", stop_price=100 * P)
    sim.new("st2", "BUY", 1 * Q, None, order_type="STOP", stop_price=101 * P)
    reports = sim.new("b1", "BUY", 1 * Q, 100 * P)
    assert [k for k in kinds(reports) if k[1] == "TRIGGERED"] == [("st1", "TRIGGERED"), ("st2", "TRIGGERED")]
    assert sim.depth("SELL") == []


def test_cancel_takes_the_order_out_of_the_book() -> None:
    sim = Sim()
    sim.new("b1", "BUY", 1 * Q, 99 * P)
    reports = sim.cancel("b1")
    assert kinds(reports) == [("b1", "CANCELLED")]
    assert (reports[0]["cum_quantity"], reports[0]["leaves_quantity"]) == (0, 0)
    assert sim.depth("BUY") == []


def test_cancel_of_unknown_order_is_rejected() -> None:
    sim = Sim()
    reports = sim.cancel("nope")
    assert kinds(reports) == [("nope", "CANCEL_REJECTED")]
    assert reports[0]["reject_reason"] == "UNKNOWN_ORDER"


def test_cancel_of_a_filled_order_is_rejected() -> None:
    sim = Sim()
    _asks(sim, (100, 1))
    sim.new("b1", "BUY", 1 * Q, 100 * P)
    assert kinds(sim.cancel("b1")) == [("b1", "CANCEL_REJECTED")]


def test_cancel_of_another_accounts_order_is_rejected() -> None:
    sim = Sim()
    sim.new("b1", "BUY", 1 * Q, 99 * P, account="owner")
    assert kinds(sim.cancel("b1", account="intruder")) == [("b1", "CANCEL_REJECTED")]
    assert sim.depth("BUY") == [(99 * P, 1 * Q, 1)]


def test_amend_quantity_down_keeps_priority() -> None:
    sim = Sim()
    sim.new("b1", "BUY", 3 * Q, 99 * P)
    sim.new("b2", "BUY", 1 * Q, 99 * P)
    reports = sim.amend("b1", 2 * Q, 99 * P)
    assert kinds(reports) == [("b1", "AMENDED")]
    assert (reports[0]["cum_quantity"], reports[0]["leaves_quantity"]) == (0, 2 * Q)
    assert sim.queue(99 * P) == ["b1", "b2"]
    assert sim.depth("BUY") == [(99 * P, 3 * Q, 2)]


def test_amend_price_change_loses_priority() -> None:
    sim = Sim()
    sim.new("b1", "BUY", 1 * Q, 99 * P)
    sim.new("b2", "BUY", 1 * Q, 98 * P)
    sim.amend("b1", 1 * Q, 98 * P)
    assert sim.queue(98 * P) == ["b2", "b1"]
    assert sim.depth("BUY") == [(98 * P, 2 * Q, 2)]


def test_amend_quantity_up_loses_priority() -> None:
    sim = Sim()
    sim.new("b1", "BUY", 1 * Q, 99 * P)
    sim.new("b2", "BUY", 1 * Q, 99 * P)
    sim.amend("b1", 2 * Q, 99 * P)
    assert sim.queue(99 * P) == ["b2", "b1"]
    reports = sim.new("s1", "SELL", 1 * Q, 99 * P)
    assert fills(reports)[1][0] == "b2"


def test_amend_back_to_an_old_price_queues_the_order_once() -> None:
    sim = Sim()
    sim.new("b1", "BUY", 1 * Q, 99 * P)
    sim.new("b2", "BUY", 1 * Q, 99 * P)
    sim.amend("b1", 1 * Q, 98 * P)
    sim.amend("b1", 1 * Q, 99 * P)
    assert sim.queue(99 * P) == ["b2", "b1"]
    reports = sim.new("s1", "SELL", 2 * Q, 99 * P)
    assert [f[0] for f in fills(reports) if f[1] == "MAKER"] == ["b2", "b1"]
    assert sim.depth("BUY") == []


def test_amend_to_a_crossing_price_matches_at_once() -> None:
    sim = Sim()
    _asks(sim, (100, 1))
    sim.new("b1", "BUY", 2 * Q, 99 * P)
    reports = sim.amend("b1", 2 * Q, 100 * P)
    assert kinds(reports) == [("b1", "AMENDED"), ("b1", "FILL"), ("a1", "FILL")]
    assert sim.depth("BUY") == [(100 * P, 1 * Q, 1)]


def test_amend_below_filled_is_rejected() -> None:
    sim = Sim()
    _asks(sim, (100, 2))
    sim.new("b1", "BUY", 3 * Q, 100 * P)
    reports = sim.amend("b1", 1 * Q, 100 * P)
    assert kinds(reports) == [("b1", "AMEND_REJECTED")]
    assert reports[0]["reject_reason"] == "AMEND_BELOW_FILLED"
    assert sim.depth("BUY") == [(100 * P, 1 * Q, 1)]


def test_amend_down_to_filled_quantity_finishes_the_order() -> None:
    sim = Sim()
    _asks(sim, (100, 2))
    sim.new("b1", "BUY", 3 * Q, 100 * P)
    reports = sim.amend("b1", 2 * Q, 100 * P)
    assert (reports[0]["exec_type"], reports[0]["cum_quantity"], reports[0]["leaves_quantity"]) == (
        "AMENDED",
        2 * Q,
        0,
    )
    assert sim.depth("BUY") == []


def test_amend_of_unknown_order_is_rejected() -> None:
    reports = Sim().amend("nope", 1 * Q, 100 * P)
    assert kinds(reports) == [("nope", "AMEND_REJECTED")]
    assert reports[0]["reject_reason"] == "UNKNOWN_ORDER"


def test_post_only_amended_to_a_crossing_price_is_rejected_and_unchanged() -> None:
    sim = Sim()
    _asks(sim, (100, 1))
    sim.new("b1", "BUY", 1 * Q, 99 * P, post_only=True)
    reports = sim.amend("b1", 1 * Q, 100 * P)
    assert kinds(reports) == [("b1", "AMEND_REJECTED")]
    assert reports[0]["reject_reason"] == "POST_ONLY_WOULD_TAKE"
    assert sim.depth("BUY") == [(99 * P, 1 * Q, 1)]


def test_amend_of_a_stop_changes_its_stop_price() -> None:
    sim = Sim()
    _asks(sim, (100, 1), (101, 1))
    sim.new("st", "BUY", 1 * Q, None, order_type="STOP", stop_price=101 * P)
    amended = sim.send(venue_order("AMEND", "st", quantity=1 * Q, stop_price=100 * P, order_type="STOP"))
    assert kinds(amended) == [("st", "AMENDED")]
    reports = sim.new("b1", "BUY", 1 * Q, 100 * P)
    assert ("st", "TRIGGERED") in kinds(reports)


def test_invalid_order_is_rejected_without_ack() -> None:
    sim = Sim()
    reports = sim.new("b1", "BUY", 1 * Q, None, order_type="LIMIT")
    assert kinds(reports) == [("b1", "REJECTED")]
    assert reports[0]["reject_reason"] == "INVALID_ORDER"
    assert kinds(sim.new("b2", "BUY", 0, 100 * P)) == [("b2", "REJECTED")]


def test_second_new_with_a_working_order_id_is_rejected_as_duplicate() -> None:
    sim = Sim()
    sim.new("b1", "BUY", 1 * Q, 99 * P)
    reports = sim.new("b1", "BUY", 1 * Q, 98 * P)
    assert kinds(reports) == [("b1", "REJECTED")]
    assert reports[0]["reject_reason"] == "DUPLICATE_CLIENT_ORDER_ID"
    assert sim.depth("BUY") == [(99 * P, 1 * Q, 1)]


def test_fees_are_maker_and_taker_bps_of_notional_in_cash_scale() -> None:
    sim = Sim(maker_bps=2, taker_bps=5)
    sim.new("a1", "SELL", 2 * Q, 100 * P, account="mm")
    reports = sim.new("b1", "BUY", 2 * Q, 100 * P)
    fees = {r["liquidity"]: r["fee"] for r in reports if r["exec_type"] == "FILL"}
    assert fees == {"TAKER": 10 * C // 100, "MAKER": 4 * C // 100}  # 200 notional: 0.10 and 0.04


def test_negative_maker_bps_is_a_rebate() -> None:
    sim = Sim(maker_bps=-1, taker_bps=3)
    sim.new("a1", "SELL", 1 * Q, 100 * P, account="mm")
    reports = sim.new("b1", "BUY", 1 * Q, 100 * P)
    assert [r["fee"] for r in reports if r["exec_type"] == "FILL"] == [3 * C // 100, -1 * C // 100]


def test_non_fill_reports_carry_no_fill_fields() -> None:
    sim = Sim()
    for report in sim.new("b1", "BUY", 1 * Q, 99 * P) + sim.cancel("b1") + sim.cancel("b1"):
        assert (report["fill_id"], report["last_quantity"], report["last_price"], report["liquidity"]) == (
            None,
            0,
            None,
            None,
        )
        assert report["fee"] == 0


def test_aggressive_order_sweeps_what_it_crosses_before_resting() -> None:
    sim = Sim()
    _asks(sim, (100, 1), (101, 1), (103, 1))
    sim.new("b1", "BUY", 5 * Q, 102 * P)
    assert sim.depth("BUY") == [(102 * P, 3 * Q, 1)]
    assert sim.depth("SELL") == [(103 * P, 1 * Q, 1)]


def test_cancel_of_an_untriggered_stop_removes_it() -> None:
    sim = Sim()
    _asks(sim, (100, 2))
    sim.new("st", "BUY", 1 * Q, None, order_type="STOP", stop_price=100 * P)
    assert kinds(sim.cancel("st")) == [("st", "CANCELLED")]
    assert ("st", "TRIGGERED") not in kinds(sim.new("b1", "BUY", 1 * Q, 100 * P))


def test_quote_churn_behind_a_resting_order_keeps_the_queue_small() -> None:
    sim = Sim()
    sim.new("first", "BUY", 1 * Q, 99 * P)
    for i in range(500):
        sim.new(f"q{i}", "BUY", 1 * Q, 99 * P)
        sim.cancel(f"q{i}")
    book = sim.core.book("sim", "BTCUSDT")
    assert book is not None
    assert len(book.bids[99 * P].queue) < 40
    assert sim.queue(99 * P) == ["first"]
