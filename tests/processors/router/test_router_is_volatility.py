"""Implementation Shortfall without params.volatility: kappa*T fixed once from the order book stage's
md.analytics volatility (scaled from the window to a day), through the whole order path."""

from __future__ import annotations

import math
from itertools import pairwise

from _router_builders import T0, Q, S, analytics, children, deep_book, engine, instruction, parent, send_all, ticks

from processors.algos import schedule
from processors.algos.plan import MAX_KAPPA_HORIZON
from processors.orderbook.config import DEFAULT_CONFIG

IS = "IMPLEMENTATION_SHORTFALL"
DAY_S = 86_400
# sigma_day 0.5 from the window's figure: sigma_window = sigma_day * sqrt(window / day)
WINDOW_VOLATILITY = 0.5 * math.sqrt(DEFAULT_CONFIG.vol_window_us / (DAY_S * S))


def _expected_sizes(kappa_horizon: float, quantity: int, slices: int) -> list[float]:
    holdings = [quantity * math.sinh(kappa_horizon * (1 - j / slices)) / math.sinh(kappa_horizon) for j in range(7)]
    return [holdings[j] - holdings[j + 1] for j in range(slices)]


def _is_parent(params: dict[str, str]) -> tuple[str, list[object]]:
    parent_id, new = parent(
        "is-a", instruction(IS, params={"duration_s": "3600", "slices": "6", **params}), quantity=100 * Q
    )
    return parent_id, [*deep_book(), new]


def test_without_a_volatility_the_parent_waits_then_follows_the_trajectory_of_the_analytics_volatility() -> None:
    path = engine()
    parent_id, opening = _is_parent({"urgency": "1e4"})
    send_all(path, opening)  # type: ignore[arg-type]
    send_all(path, [analytics(None, t=T0 + S), *ticks(T0 + 2 * S, T0 + 10 * S)])
    assert children(path, parent_id) == [], "no volatility known yet: nothing is sent"
    send_all(path, [analytics(WINDOW_VOLATILITY, t=T0 + 11 * S)])
    send_all(path, ticks(T0 + 12 * S, T0 + 3600 * S, 6 * S))
    sent_before_later_analytics = len(children(path, parent_id))
    send_all(path, [analytics(WINDOW_VOLATILITY * 10, t=T0 + 3601 * S), *ticks(T0 + 3602 * S, T0 + 3700 * S)])
    sizes = [child["quantity"] for child in children(path, parent_id)]
    kappa_horizon = 0.5 * math.sqrt(1e4) / 24  # sigma_day * sqrt(urgency) * 1 h in days, as with params.volatility
    assert sent_before_later_analytics == 6 and len(sizes) == 6 and sum(sizes) == 100 * Q
    expected = _expected_sizes(kappa_horizon, 100 * Q, 6)
    assert all(abs(size - want) <= 1 for size, want in zip(sizes, expected, strict=True))


def test_a_later_analytics_record_does_not_change_a_fixed_trajectory() -> None:
    parent_id, opening = _is_parent({"urgency": "1e4"})
    head = [*opening, analytics(WINDOW_VOLATILITY, t=T0 + S), *ticks(T0 + S, T0 + 1200 * S, 60 * S)]
    tail = ticks(T0 + 1260 * S, T0 + 3600 * S, 60 * S)
    steady, shaken = engine(), engine()
    send_all(steady, [*head, *tail])  # type: ignore[list-item]
    send_all(shaken, [*head, analytics(WINDOW_VOLATILITY * 30, t=T0 + 1201 * S), *tail])  # type: ignore[list-item]
    assert [c["quantity"] for c in children(shaken, parent_id)] == [c["quantity"] for c in children(steady, parent_id)]


def test_a_restart_mid_way_continues_identically() -> None:
    parent_id, opening = _is_parent({"urgency": "1e4"})
    events = [*opening, analytics(WINDOW_VOLATILITY, t=T0 + S), *ticks(T0 + 2 * S, T0 + 3600 * S, 60 * S)]
    straight = engine()
    send_all(straight, events)  # type: ignore[arg-type]
    interrupted = engine()
    send_all(interrupted, events[:30])  # type: ignore[arg-type]
    interrupted.checkpoint()
    restarted = interrupted.restarted()
    send_all(restarted, events[30:])  # type: ignore[arg-type]
    assert restarted.outputs == straight.outputs
    assert len(children(restarted, parent_id)) == 6


def test_a_restart_before_the_start_keeps_the_analytics_volatility() -> None:
    parent_id, opening = _is_parent({"urgency": "1e4"})
    straight = engine()
    send_all(straight, [analytics(WINDOW_VOLATILITY, t=T0), *opening, *ticks(T0 + S, T0 + 3600 * S, 60 * S)])  # type: ignore[list-item]
    interrupted = engine()
    send_all(interrupted, [analytics(WINDOW_VOLATILITY, t=T0)])
    interrupted.checkpoint()
    restarted = interrupted.restarted()
    send_all(restarted, [*opening, *ticks(T0 + S, T0 + 3600 * S, 60 * S)])  # type: ignore[list-item]
    assert [c["quantity"] for c in children(restarted, parent_id)] == [
        c["quantity"] for c in children(straight, parent_id)
    ]
    assert len(children(restarted, parent_id)) == 6


def test_a_given_volatility_ignores_the_analytics() -> None:
    parent_id, opening = _is_parent({"urgency": "1e4", "volatility": "0.5"})
    quiet, noisy = engine(), engine()
    run = ticks(T0 + S, T0 + 3600 * S, 60 * S)
    send_all(quiet, [*opening, *run])  # type: ignore[list-item]
    send_all(noisy, [analytics(WINDOW_VOLATILITY * 40, t=T0), *opening, *run])  # type: ignore[list-item]
    sizes = [c["quantity"] for c in children(noisy, parent_id)]
    assert sizes == [c["quantity"] for c in children(quiet, parent_id)]
    expected = _expected_sizes(0.5 * math.sqrt(1e4) / 24, 100 * Q, 6)
    assert all(abs(size - want) <= 1 for size, want in zip(sizes, expected, strict=True))


def test_a_kappa_horizon_above_the_cap_is_clamped_rather_than_rejected() -> None:
    path = engine()
    parent_id, opening = _is_parent({"urgency": "1e8"})  # kappa*T = 0.5 * 1e4 / 24 ~ 208, above the cap
    send_all(path, [analytics(WINDOW_VOLATILITY, t=T0), *opening, *ticks(T0 + S, T0 + 3600 * S, 60 * S)])  # type: ignore[list-item]
    sizes = [c["quantity"] for c in children(path, parent_id)]
    capped = {"slices": 6, "kappa_horizon": MAX_KAPPA_HORIZON}
    targets = [schedule.shortfall_target(capped, 100 * Q, n) for n in range(7)]
    assert sizes == [after - before for before, after in pairwise(targets) if after > before]
    assert sum(sizes) == 100 * Q and sizes[0] > 99 * Q, "kappa*T at the cap puts nearly all in the first slice"
