"""The venues' documented sequencing rules, case by case ("How to manage a local order book correctly").

Spot: drop ``u <= L``; the first event has ``U <= L + 1 <= u``; then ``U == previous u + 1``.
USD-M and COIN-M futures: drop ``u < L``; the first event has ``U <= L <= u``; then ``pu == previous u``.
"""

from __future__ import annotations

import pytest

from processors.orderbook.sequencing import (
    BINANCE_COINM_FUTURES,
    BINANCE_SPOT,
    BINANCE_USDM_FUTURES,
    DEFAULT_RULE,
    SequencingRule,
    Verdict,
    rule_for,
)

APPLY, IGNORE, GAP = Verdict.APPLY, Verdict.IGNORE, Verdict.GAP
L = 100  # the snapshot's lastUpdateId
FUTURES = [BINANCE_USDM_FUTURES, BINANCE_COINM_FUTURES]


def first(rule: SequencingRule, first_id: int, last_id: int, previous: int | None = None) -> tuple[Verdict, str]:
    """The verdict on the first event after a snapshot at L."""
    return rule.check(first_id, last_id, previous, L, bridged=False)


def after(
    rule: SequencingRule, book_id: int, first_id: int, last_id: int, previous: int | None = None
) -> tuple[Verdict, str]:
    """The verdict on an event after the one that ended at ``book_id``."""
    return rule.check(first_id, last_id, previous, book_id, bridged=True)


# -- spot ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first_id", "last_id", "verdict"),
    [
        (90, 99, IGNORE),  # u < L: the snapshot holds it
        (95, 100, IGNORE),  # u == L: spot drops it too (u <= L)
        (95, 105, APPLY),  # U <= L + 1 <= u
        (101, 101, APPLY),  # U == L + 1, u == L + 1
        (101, 107, APPLY),
        (102, 105, GAP),  # U > L + 1: update L + 1 is missing
    ],
)
def test_spot_first_event_after_a_snapshot(first_id: int, last_id: int, verdict: Verdict) -> None:
    assert first(BINANCE_SPOT, first_id, last_id)[0] is verdict


def test_spot_first_event_past_the_snapshot_names_what_is_missing() -> None:
    assert first(BINANCE_SPOT, 102, 105) == (
        GAP,
        "the first event after snapshot 100 starts at U=102, past 101: missing updates",
    )


def test_spot_next_event_continues_on_u_plus_one() -> None:
    assert after(BINANCE_SPOT, 105, 106, 110) == (APPLY, "")
    assert after(BINANCE_SPOT, 105, 106, 106) == (APPLY, "")


def test_spot_jump_in_first_id_is_a_gap_naming_the_missing_ids() -> None:
    assert after(BINANCE_SPOT, 105, 108, 110) == (GAP, "missing update ids 106..107 (U=108, previous u=105)")


def test_spot_overlapping_event_is_a_gap() -> None:
    assert after(BINANCE_SPOT, 105, 104, 107) == (GAP, "update ids overlap: U=104 but the previous event's u=105")


def test_spot_stale_event_is_ignored() -> None:
    assert after(BINANCE_SPOT, 105, 100, 104)[0] is IGNORE
    assert after(BINANCE_SPOT, 105, 105, 105)[0] is IGNORE


def test_spot_chains_on_u_whatever_pu_says() -> None:
    assert after(BINANCE_SPOT, 105, 106, 110, previous=3)[0] is APPLY
    assert after(BINANCE_SPOT, 105, 107, 110, previous=105)[0] is GAP


# -- USD-M and COIN-M futures ------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", FUTURES, ids=lambda r: r.name)
@pytest.mark.parametrize(
    ("first_id", "last_id", "verdict"),
    [
        (90, 99, IGNORE),  # u < L: dropped
        (95, 100, APPLY),  # u == L: kept, the first processed event (it re-sets what the snapshot holds)
        (100, 104, APPLY),  # U == L
        (95, 104, APPLY),  # U <= L <= u
        (101, 104, GAP),  # U > L: the event holding L is missing
    ],
)
def test_futures_first_event_after_a_snapshot(
    rule: SequencingRule, first_id: int, last_id: int, verdict: Verdict
) -> None:
    assert first(rule, first_id, last_id, previous=first_id - 3)[0] is verdict


@pytest.mark.parametrize("rule", FUTURES, ids=lambda r: r.name)
def test_futures_first_event_past_the_snapshot_names_it(rule: SequencingRule) -> None:
    assert first(rule, 101, 104, 99) == (
        GAP,
        "the first event after snapshot 100 starts at U=101, past 100: missing updates",
    )


@pytest.mark.parametrize("rule", FUTURES, ids=lambda r: r.name)
def test_futures_next_event_chains_on_pu_even_when_u_jumps(rule: SequencingRule) -> None:
    """The issue's stream: the first event ended at u == L, the next starts at L + 2 with pu == L."""
    assert first(rule, 95, 100, 94)[0] is APPLY
    assert after(rule, 100, 102, 104, previous=100) == (APPLY, "")
    assert after(rule, 104, 190, 230, previous=104) == (APPLY, "")


@pytest.mark.parametrize("rule", FUTURES, ids=lambda r: r.name)
def test_futures_pu_break_is_a_gap_even_when_ids_look_contiguous(rule: SequencingRule) -> None:
    assert after(rule, 100, 101, 104, previous=99) == (GAP, "pu=99 but the previous event's u=100 (U=101, u=104)")
    assert after(rule, 100, 101, 104, previous=None)[0] is GAP  # an event without pu continues nothing


@pytest.mark.parametrize("rule", FUTURES, ids=lambda r: r.name)
def test_futures_stale_event_is_ignored(rule: SequencingRule) -> None:
    assert after(rule, 100, 90, 98, previous=85)[0] is IGNORE
    assert after(rule, 100, 97, 100, previous=96)[0] is IGNORE


# -- which rule ----------------------------------------------------------------------------------------------
def test_each_binance_market_venue_has_its_documented_rule() -> None:
    assert rule_for("binance-spot") is BINANCE_SPOT
    assert rule_for("binance-futures") is BINANCE_USDM_FUTURES
    assert rule_for("binance-coinm") is BINANCE_COINM_FUTURES
    assert (BINANCE_SPOT.chain, BINANCE_USDM_FUTURES.chain, BINANCE_COINM_FUTURES.chain) == ("U", "pu", "pu")


def test_a_venue_without_a_documented_rule_is_checked_on_contiguous_ids() -> None:
    assert rule_for("sim") is DEFAULT_RULE is BINANCE_SPOT
