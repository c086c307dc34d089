"""The schedulers of VWAP and Implementation Shortfall as pure functions: each target follows its curve, never
falls back, never exceeds the parent, and reaches the whole parent at the last slice."""

from __future__ import annotations

import itertools
import math

import pytest
from _router_builders import T0, instruction
from hypothesis import given
from hypothesis import strategies as st

from processors.algos import profile, schedule
from processors.algos.plan import plan_for
from tests.kit.events import new_order_record

IS = "IMPLEMENTATION_SHORTFALL"


def _plan(algo: str, **params: str) -> dict[str, object]:
    return plan_for(new_order_record("o", "c", execution=instruction(algo, params=params)))


@pytest.mark.parametrize(
    ("volatility", "urgency", "hours"), [("0.03", "4e6", "1"), ("0.5", "100", "24"), ("0.2", "0", "2")]
)
def test_implementation_shortfall_matches_the_closed_form_almgren_chriss_trajectory(
    volatility: str, urgency: str, hours: str
) -> None:
    slices, quantity = 20, 1_000_000_000
    plan = _plan(IS, duration_s=str(int(hours) * 3600), slices=str(slices), volatility=volatility, urgency=urgency)
    horizon_days = int(hours) / 24
    kappa = float(volatility) * math.sqrt(float(urgency))  # per day
    for j in range(slices + 1):
        t = j * horizon_days / slices
        closed_form = (
            math.sinh(kappa * (horizon_days - t)) / math.sinh(kappa * horizon_days) * quantity
            if kappa
            else (1 - t / horizon_days) * quantity
        )
        holding = quantity - schedule.shortfall_target(plan, quantity, j)
        assert abs(holding - closed_form) <= 1, (j, holding, closed_form)


def test_implementation_shortfall_front_loads_with_urgency_and_is_twap_without() -> None:
    calm = _plan(IS, duration_s="3600", slices="4", volatility="0.03", urgency="0")
    assert [schedule.shortfall_target(calm, 100, n) for n in range(5)] == [0, 25, 50, 75, 100]
    urgent = _plan(IS, duration_s="3600", slices="4", volatility="0.03", urgency="1e7")
    firsts = [schedule.shortfall_target(urgent, 100, n) for n in range(5)]
    assert firsts[1] > 25 and firsts[-1] == 100


def test_a_large_kappa_does_not_overflow() -> None:
    assert schedule.shortfall_remaining(49.9, 0.0) == pytest.approx(1.0)
    assert schedule.shortfall_remaining(49.9, 0.5) == pytest.approx(math.exp(-49.9 / 2), rel=1e-9)
    assert schedule.shortfall_remaining(1e-12, 0.25) == pytest.approx(0.75)


def test_vwap_follows_a_given_profile_slice_by_slice() -> None:
    plan = _plan("VWAP", duration_s="60", profile="1,3,0,4")
    assert plan["slices"] == 4 and plan["end_us"] == T0 + 60_000_000
    assert [schedule.vwap_target(plan, 80, n) for n in range(5)] == [0, 10, 40, 40, 80]


def test_vwap_default_profile_is_the_shipped_curve_stretched_over_the_slices() -> None:
    plan = _plan("VWAP", duration_s="60", slices="12")
    curve = profile.DEFAULT_PROFILE
    assert len(curve) == 12 and plan["curve"] == list(curve)
    total = sum(curve)
    for n in range(13):
        assert schedule.vwap_target(plan, 10**9, n) == pytest.approx(10**9 * sum(curve[:n]) / total, abs=1)
    halves = _plan("VWAP", duration_s="60", slices="2")
    assert schedule.vwap_target(halves, 10**9, 1) == pytest.approx(10**9 * sum(curve[:6]) / total, abs=1)


curves = st.lists(st.integers(0, 50), min_size=1, max_size=30).filter(lambda weights: sum(weights) > 0)


@given(curve=curves, quantity=st.integers(1, 10**12), slices=st.integers(1, 60))
def test_vwap_targets_never_fall_back_nor_exceed_the_parent(curve: list[int], quantity: int, slices: int) -> None:
    plan = {"slices": slices, "curve": [float(weight) for weight in curve]}
    targets = [schedule.vwap_target(plan, quantity, n) for n in range(slices + 1)]
    assert targets[0] == 0 and targets[-1] == quantity
    assert all(a <= b <= quantity for a, b in itertools.pairwise(targets))


@given(kappa_horizon=st.floats(0, 50), quantity=st.integers(1, 10**12), slices=st.integers(1, 200))
def test_shortfall_targets_never_fall_back_nor_exceed_the_parent(
    kappa_horizon: float, quantity: int, slices: int
) -> None:
    plan = {"slices": slices, "kappa_horizon": kappa_horizon}
    targets = [schedule.shortfall_target(plan, quantity, n) for n in range(slices + 1)]
    assert targets[0] == 0 and targets[-1] == quantity
    assert all(a <= b <= quantity for a, b in itertools.pairwise(targets))


BOOK = {"sequence": 1, "bids": [[99, 5], [98, 5]], "asks": [[101, 2], [102, 7]]}


@pytest.mark.parametrize(
    ("reference", "side", "offset", "cap", "price"),
    [
        ("PRIMARY", "BUY", 0, 1_000, 99),
        ("PRIMARY", "SELL", 0, 0, 101),
        ("MARKET", "BUY", 0, 1_000, 101),
        ("MARKET", "SELL", 0, 0, 99),
        ("MID", "BUY", 0, 1_000, 100),
        ("PRIMARY", "BUY", 1, 1_000, 100),  # a positive offset is more aggressive
        ("PRIMARY", "SELL", 1, 0, 100),
        ("PRIMARY", "BUY", -2, 1_000, 97),
        ("MARKET", "BUY", 0, 100, 100),  # capped by the limit
        ("PRIMARY", "SELL", 0, 105, 105),
    ],
)
def test_the_peg_price(reference: str, side: str, offset: int, cap: int, price: int) -> None:
    assert schedule.peg_price({"reference": reference, "offset": offset}, side, BOOK, cap) == price


def test_a_mid_peg_rounds_away_from_the_far_side_and_needs_both_sides() -> None:
    odd = {"sequence": 1, "bids": [[99, 1]], "asks": [[102, 1]]}
    mid = {"reference": "MID", "offset": 0}
    assert schedule.peg_price(mid, "BUY", odd, 1_000) == 100
    assert schedule.peg_price(mid, "SELL", odd, 0) == 101
    assert schedule.peg_price(mid, "BUY", {"sequence": 1, "bids": [[99, 1]], "asks": []}, 1_000) is None
    assert schedule.peg_price({"reference": "PRIMARY", "offset": 0}, "SELL", {"bids": [], "asks": []}, 0) is None


def test_the_sniper_counts_what_shows_at_or_better_than_its_limit() -> None:
    assert schedule.sniper_available("BUY", BOOK, 100) == 0
    assert schedule.sniper_available("BUY", BOOK, 101) == 2
    assert schedule.sniper_available("BUY", BOOK, 102) == 9
    assert schedule.sniper_available("SELL", BOOK, 98) == 10


@given(
    bids=st.lists(st.integers(1, 200), max_size=5),
    asks=st.lists(st.integers(1, 200), max_size=5),
    reference=st.sampled_from(["PRIMARY", "MID", "MARKET"]),
    side=st.sampled_from(["BUY", "SELL"]),
    offset=st.integers(-20, 20),
    cap=st.integers(1, 200),
)
def test_a_peg_never_crosses_its_cap(
    bids: list[int], asks: list[int], reference: str, side: str, offset: int, cap: int
) -> None:
    view = {"sequence": 1, "bids": [[p, 1] for p in sorted(bids, reverse=True)], "asks": [[p, 1] for p in sorted(asks)]}
    price = schedule.peg_price({"reference": reference, "offset": offset}, side, view, cap)
    if price is not None:
        assert price > 0 and (price <= cap if side == "BUY" else price >= cap)
