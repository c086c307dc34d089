"""The pure check functions and the token bucket."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from processors.risk import checks
from processors.risk.checks import TOKEN, order_rate, reason_for, reduces_position, refill
from schemas.scales import Cash, Price, Quantity

Q = 10**8


def test_each_check_reports_what_it_compared_in_its_unit() -> None:
    assert checks.order_quantity(Quantity(1_500 * Q), Quantity(1_000 * Q)) == {
        "check": "ORDER_QUANTITY",
        "passed": False,
        "observed": 1_500 * Q,
        "limit": 1_000 * Q,
        "detail": "quantity 1500 > limit 1000",
    }
    assert checks.order_quantity(Quantity(150_000_000), Quantity(1_000 * Q))["detail"] == "quantity 1.5 <= limit 1000"
    assert checks.open_orders(201, 200)["detail"] == "open orders 201 > limit 200"
    assert checks.daily_loss(Cash(-2 * Q), Cash(1 * Q), reduces=False)["detail"] == "realized PnL today -2 < -1"
    assert checks.symbol_allowed("BTCUSDT", [])["passed"] is True


def test_trading_state_reason_distinguishes_halted_from_reduce_only() -> None:
    assert reason_for(checks.trading_state("HALTED", reduces=True)) == "TRADING_HALTED"
    assert reason_for(checks.trading_state("REDUCE_ONLY", reduces=False)) == "REDUCE_ONLY"
    assert checks.trading_state("REDUCE_ONLY", reduces=True)["passed"] is True


def test_reduces_position_only_when_opposing_and_not_flipping() -> None:
    assert reduces_position(10, 0, -10) is True
    assert reduces_position(10, -4, -6) is True
    assert reduces_position(10, -4, -7) is False  # with the working sell: 10 - 11 flips
    assert reduces_position(-5, 0, 3) is True
    assert reduces_position(5, 0, 1) is False
    assert reduces_position(0, 0, -1) is False


def test_token_bucket_refills_in_exact_integers_and_caps_at_the_burst() -> None:
    tokens, at = refill(0, 1_000, 1_000 + 250_000, per_second=4, burst=10)
    assert (tokens, at) == (TOKEN, 251_000)  # 4/s: exactly one token per 250 ms
    assert refill(0, 0, 3_600_000_000, per_second=4, burst=10) == (10 * TOKEN, 3_600_000_000)
    assert refill(5, 2_000, 1_000, per_second=4, burst=10) == (5, 2_000)  # time going back refills nothing


@given(tokens=st.integers(0, 50 * TOKEN), burst=st.integers(1, 50))
def test_order_rate_observed_is_within_burst_exactly_when_a_whole_token_is_left(tokens: int, burst: int) -> None:
    tokens = min(tokens, burst * TOKEN)
    result = order_rate(tokens, 10, burst)
    assert result["passed"] == (tokens >= TOKEN) == (result["observed"] <= result["limit"])


@given(price=st.integers(1, 10**12), reference=st.integers(1, 10**12), bps=st.integers(0, 10_000))
def test_price_collar_observed_is_within_limit_exactly_when_it_passes(price: int, reference: int, bps: int) -> None:
    result = checks.price_collar(Price(price), Price(reference), "last trade", bps)
    assert result["passed"] == (result["observed"] <= result["limit"])
    assert result["passed"] == (abs(price - reference) * 10_000 <= bps * reference)


@given(st.integers(-(10**20), 10**20))
def test_amounts_in_details_are_the_exact_decimal_value_without_trailing_zeros(n: int) -> None:
    expected = format(Decimal(n).scaleb(-8).normalize(), "f")
    assert checks.amount(n) == expected
    assert checks.amount(n) == expected  # the remembered text is the same
