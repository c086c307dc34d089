"""Transaction cost analysis (processors/analytics/tca.py) on a scenario computed by hand (docs/TCA.md)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.analytics.tca import (
    Fill,
    MarketTrade,
    OrderUnderAnalysis,
    Quote,
    analyse,
    consolidated_bbo,
    consolidated_mid,
)
from schemas.scales import CASH_SCALE, PRICE_SCALE, QUANTITY_SCALE

P, Q, C = PRICE_SCALE, QUANTITY_SCALE, CASH_SCALE

# Venue A quotes 99/101 and later 100.5/102; venue B 99.5/100.5; venue C is stale (its 105 bid is no price).
QUOTES = [
    Quote(500, "A", 99 * P, 101 * P, stale=False),
    Quote(800, "B", 995 * P // 10, 1005 * P // 10, stale=False),
    Quote(900, "C", 105 * P, 106 * P, stale=True),
    Quote(5_000, "A", 1005 * P // 10, 102 * P, stale=False),
]
# Inside the interval [1000, 6000]: 10 at 100 and 10 at 101; the others are outside it.
TRADES = [
    MarketTrade(900, "A", 50 * P, 1 * Q),
    MarketTrade(2_000, "A", 100 * P, 10 * Q),
    MarketTrade(3_000, "B", 101 * P, 10 * Q),
    MarketTrade(7_000, "A", 200 * P, 5 * Q),
]
FILLS = [
    Fill(2_500, "A", 4 * Q, 1002 * P // 10, 4 * C // 10),
    Fill(4_000, "B", 4 * Q, 1004 * P // 10, 2 * C // 10),
]


def _order(side: str) -> OrderUnderAnalysis:
    return OrderUnderAnalysis("parent", "X", side, 10 * Q, 1_000, 6_000, "CANCELLED", children=2)


def test_a_buy_parent_filled_on_two_venues() -> None:
    report = analyse(_order("BUY"), FILLS, QUOTES, TRADES)
    # Arrival: best bid 99.5 (B), best offer 100.5 (B): mid 100. End: bid 100.5 (A), offer 100.5 (B): 100.5.
    assert (report.arrival_price, report.arrival_source) == (100.0, "mid")
    assert report.end_price == pytest.approx(100.5)
    assert report.interval_vwap == pytest.approx(100.5)  # (10 x 100 + 10 x 101) / 20
    assert (report.market_volume, report.filled_quantity) == (20.0, 8.0)
    assert report.participation == pytest.approx(0.4)
    assert report.fill_ratio == pytest.approx(0.8)
    assert report.average_price == pytest.approx(100.3)
    assert report.slippage_vs_arrival_bps == pytest.approx(30.0)  # (100.3 - 100) / 100
    assert report.slippage_vs_vwap_bps == pytest.approx((100.3 - 100.5) / 100.5 * 10_000)
    # Paper value 10 x 100 = 1000: execution 8 x 0.3 = 2.4, opportunity 2 x 0.5 = 1.0, fees 0.6: 4.0 = 40 bps.
    assert report.execution_cost_bps == pytest.approx(24.0)
    assert report.opportunity_cost_bps == pytest.approx(10.0)
    assert report.fees_bps == pytest.approx(6.0)
    assert report.implementation_shortfall_bps == pytest.approx(40.0)
    venues = report.as_json()["fees_by_venue"]
    assert venues["A"] == pytest.approx(
        {
            "fills": 1,
            "quantity": 4.0,
            "notional": 400.8,
            "fees": 0.4,
            "fee_bps": 0.4 / 400.8 * 10_000,
            "price_improvement_bps": 0.3 / 100.5 * 10_000,  # 100.2 paid against a consolidated offer of 100.5
        }
    )
    assert venues["B"]["fees"] == pytest.approx(0.2)


def test_the_same_prices_are_a_gain_to_a_seller_and_fees_are_always_a_cost() -> None:
    report = analyse(_order("SELL"), FILLS, QUOTES, TRADES)
    assert report.slippage_vs_arrival_bps == pytest.approx(-30.0)
    assert report.execution_cost_bps == pytest.approx(-24.0)
    assert report.opportunity_cost_bps == pytest.approx(-10.0)
    assert report.fees_bps == pytest.approx(6.0)
    assert report.implementation_shortfall_bps == pytest.approx(-28.0)


def test_without_a_book_the_arrival_is_the_last_trade_and_without_any_market_data_nothing_is_guessed() -> None:
    report = analyse(_order("BUY"), FILLS, [], TRADES)
    assert (report.arrival_price, report.arrival_source) == (50.0, "last_trade")
    bare = analyse(_order("BUY"), FILLS, [], [])
    assert (bare.arrival_price, bare.interval_vwap, bare.participation) == (None, None, None)
    assert bare.implementation_shortfall_bps is None and bare.slippage_vs_arrival_bps is None
    assert bare.average_price == pytest.approx(100.3) and bare.fees == pytest.approx(0.6)


def test_an_order_without_fills_costs_only_its_opportunity() -> None:
    report = analyse(_order("BUY"), [], QUOTES, TRADES)
    assert (report.average_price, report.fill_ratio, report.slippage_vs_arrival_bps) == (None, 0.0, None)
    assert report.implementation_shortfall_bps == pytest.approx(50.0)  # 10 x 0.5 / 1000
    assert report.as_json()["fees_by_venue"] == {}


def test_the_consolidated_mid_uses_each_venues_latest_live_quote_at_the_time() -> None:
    assert consolidated_mid(QUOTES, 499) is None
    assert consolidated_mid(QUOTES, 600) == pytest.approx(100.0)  # A alone
    one_sided = [Quote(1, "A", None, 101 * P, stale=False)]
    assert consolidated_mid(one_sided, 10) is None


@st.composite
def executions(draw: st.DrawFn) -> tuple[list[Fill], list[Quote], list[MarketTrade]]:
    prices = st.integers(90 * P, 110 * P)
    fills = [
        Fill(draw(st.integers(1_000, 6_000)), draw(st.sampled_from(["A", "B", None])), q, p, draw(st.integers(-C, C)))
        for q, p in draw(st.lists(st.tuples(st.integers(1, 2 * Q), prices), max_size=5))
    ]
    quotes = [
        Quote(draw(st.integers(0, 7_000)), draw(st.sampled_from(["A", "B"])), bid, bid + spread, draw(st.booleans()))
        for bid, spread in draw(st.lists(st.tuples(prices, st.integers(1, P)), max_size=6))
    ]
    trades = [
        MarketTrade(t, "A", p, q)
        for t, p, q in draw(st.lists(st.tuples(st.integers(0, 7_000), prices, st.integers(1, Q)), max_size=6))
    ]
    return fills, quotes, trades


@settings(max_examples=300, deadline=None)
@given(executions())
def test_shortfall_is_its_parts_and_a_sell_mirrors_a_buy_except_for_fees(
    execution: tuple[list[Fill], list[Quote], list[MarketTrade]],
) -> None:
    fills, quotes, trades = execution
    buy, sell = (analyse(_order(side), fills, quotes, trades) for side in ("BUY", "SELL"))
    for report in (buy, sell):
        parts = (report.execution_cost_bps, report.opportunity_cost_bps, report.fees_bps)
        if report.implementation_shortfall_bps is None:
            assert report.arrival_price is None
            continue
        assert all(part is not None for part in parts)
        assert report.implementation_shortfall_bps == pytest.approx(sum(p for p in parts if p is not None), abs=1e-9)
    if buy.execution_cost_bps is not None and sell.execution_cost_bps is not None:
        assert sell.execution_cost_bps == pytest.approx(-buy.execution_cost_bps, abs=1e-9)
        assert sell.fees_bps == pytest.approx(buy.fees_bps)
    assert buy.fill_ratio == sell.fill_ratio == pytest.approx(sum(f.quantity for f in fills) / (10 * Q))
    assert sum(c.fees for c in buy.fees_by_venue.values()) == pytest.approx(buy.fees)


def test_best_execution_measures_each_fill_against_the_consolidated_bbo_at_its_time() -> None:
    # Both fills meet a consolidated book of 99.5 / 100.5 (A 99/101, B 99.5/100.5; C is stale).
    assert consolidated_bbo(QUOTES, 4_000) == (995 * P // 10, 1005 * P // 10)
    buy = analyse(_order("BUY"), FILLS, QUOTES, TRADES)
    # Bought at 100.2 and 100.4 against an offer of 100.5: 4 x 0.3 + 4 x 0.1 = 1.6 better on 804.
    assert buy.price_improvement_bps == pytest.approx(1.6 / 804 * 10_000)
    assert buy.at_or_better_than_bbo == 1.0
    assert buy.fees_by_venue["B"].price_improvement_bps == pytest.approx(0.1 / 100.5 * 10_000)
    # Sold at 100.2 and 100.4 against a bid of 99.5: 4 x 0.7 + 4 x 0.9 = 6.4 better on 796.
    sell = analyse(_order("SELL"), FILLS, QUOTES, TRADES)
    assert sell.price_improvement_bps == pytest.approx(6.4 / 796 * 10_000)
    assert sell.as_json()["at_or_better_than_bbo"] == 1.0


def test_a_fill_outside_the_bbo_is_negative_improvement_and_a_fill_without_a_quote_is_not_measured() -> None:
    fills = [
        Fill(600, "A", 1 * Q, 102 * P, 0),  # A alone quotes 99/101: paid 1 above the offer
        Fill(100, "Z", 1 * Q, 90 * P, 0),  # before any quote: no reference
    ]
    report = analyse(_order("BUY"), fills, QUOTES, TRADES)
    assert report.price_improvement_bps == pytest.approx(-1 / 101 * 10_000)
    assert report.at_or_better_than_bbo == 0.0
    assert report.fees_by_venue["Z"].price_improvement_bps is None
    one_sided = [Quote(0, "A", None, 101 * P, stale=False)]
    assert analyse(_order("SELL"), fills, one_sided, []).price_improvement_bps is None  # no bid anywhere
    assert analyse(_order("BUY"), [], QUOTES, TRADES).at_or_better_than_bbo is None


def test_best_execution_takes_the_bbo_of_when_the_order_was_decided_not_of_when_it_filled() -> None:
    # Decided at 600 (A alone: offer 101), filled at 5_000 (offer 100.5 by then) at 100.8: better than the
    # offer it was decided under, worse than the offer when it filled.
    decided = analyse(_order("BUY"), [Fill(5_000, "A", 1 * Q, 1008 * P // 10, 0, decided_us=600)], QUOTES, [])
    assert decided.price_improvement_bps == pytest.approx(0.2 / 101 * 10_000)
    at_fill = analyse(_order("BUY"), [Fill(5_000, "A", 1 * Q, 1008 * P // 10, 0)], QUOTES, [])
    assert at_fill.price_improvement_bps == pytest.approx(-0.3 / 100.5 * 10_000)
