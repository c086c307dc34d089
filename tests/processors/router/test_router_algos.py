"""The execution algorithms through the whole order path (memory engine, every hand-off through Avro bytes):
children placed by event time, decided by risk, filled by the venue and rolled up into the parent."""

from __future__ import annotations

import math

import pytest
from _router_builders import (
    T0,
    P,
    Q,
    S,
    child_cancels,
    children,
    decided,
    deep_book,
    engine,
    events_of,
    instruction,
    kill_switch,
    last_event,
    market,
    open_children,
    parent,
    send_all,
    tick,
    ticks,
)

from schemas.names import AMEND_ORDER, CANCEL_ORDER
from tests.kit.events import amend_record, cancel_record, command, trade
from topics.catalogue import DEAD_LETTERS, PORTFOLIO_POSITIONS


def test_twap_slices_sum_to_the_parent_evenly_timed_each_decided_and_the_parent_fills() -> None:
    path = engine()
    send_all(path, deep_book())
    parent_id, new = parent("twap-1", instruction("TWAP", params={"duration_s": "100", "slices": "10"}))
    path.send(new)
    send_all(path, ticks(T0 + S, T0 + 100 * S))

    placed = children(path, parent_id)
    assert [child["quantity"] for child in placed] == [Q] * 10
    assert [child["meta"]["event_time_us"] for child in placed] == [T0 + n * 10 * S for n in range(10)]
    approvals = decided(path)
    assert all(approvals[child["order_id"]] for child in placed), "every child has an approving risk decision"
    done = last_event(path, parent_id)
    assert (done["status"], done["cum_quantity"], done["avg_price"]) == ("FILLED", 10 * Q, 101 * P)
    assert [e["event_type"] for e in events_of(path, parent_id)][:2] == ["PENDING_NEW", "ACCEPTED"]
    assert path.records(PORTFOLIO_POSITIONS)[-1]["quantity"] == 10 * Q, "each child's fill counted once"
    assert not path.outputs.get(DEAD_LETTERS)


def test_twap_randomisation_moves_slices_within_their_share_of_the_interval() -> None:
    path = engine()
    send_all(path, deep_book())
    params = {"duration_s": "100", "slices": "10", "randomise_pct": "40"}
    parent_id, new = parent("twap-r", instruction("TWAP", params=params))
    path.send(new)
    send_all(path, ticks(T0 + S // 10, T0 + 100 * S, S // 10))
    times = [child["meta"]["event_time_us"] for child in children(path, parent_id)]
    assert sum(child["quantity"] for child in children(path, parent_id)) == 10 * Q
    for n, at in enumerate(times[1:], start=1):
        assert abs(at - (T0 + n * 10 * S)) <= 2 * S + S // 10  # 40 % of a 10 s interval: +-2 s, ticks of 0.1 s
    again = engine()
    send_all(again, deep_book())
    again.send(parent("twap-r", instruction("TWAP", params=params))[1])
    send_all(again, ticks(T0 + S // 10, T0 + 100 * S, S // 10))
    assert [child["meta"]["event_time_us"] for child in children(again, parent_id)] == times, "seeded"


def test_twap_min_slice_makes_fewer_larger_slices() -> None:
    path = engine()
    send_all(path, deep_book())
    params = {"duration_s": "60", "slices": "10", "min_slice": "4"}
    parent_id, new = parent("twap-m", instruction("TWAP", params=params))
    path.send(new)
    send_all(path, ticks(T0 + S, T0 + 60 * S))
    assert [child["quantity"] for child in children(path, parent_id)] == [5 * Q, 5 * Q]  # 10 // 4: two slices


def test_vwap_slices_follow_the_given_volume_profile_and_the_parent_fills() -> None:
    path = engine()
    send_all(path, deep_book())
    parent_id, new = parent(
        "vwap-1", instruction("VWAP", params={"duration_s": "40", "profile": "1,3,0,4"}), quantity=8 * Q
    )
    path.send(new)
    send_all(path, ticks(T0 + S, T0 + 40 * S))
    placed = children(path, parent_id)
    assert [child["quantity"] for child in placed] == [Q, 3 * Q, 4 * Q], "the empty bucket sends nothing"
    assert [child["meta"]["event_time_us"] for child in placed] == [T0, T0 + 10 * S, T0 + 30 * S]
    assert all(decided(path)[child["order_id"]] for child in placed)
    done = last_event(path, parent_id)
    assert (done["status"], done["cum_quantity"]) == ("FILLED", 8 * Q)


def test_implementation_shortfall_front_loads_on_the_almgren_chriss_trajectory() -> None:
    path = engine()
    send_all(path, deep_book())
    # sigma = 0.5 / sqrt(day), urgency 1e4: kappa = 50 per day, kappa*T = 50 x 1 h / 24 h ~ 2.08
    params = {"duration_s": "3600", "slices": "6", "volatility": "0.5", "urgency": "1e4"}
    parent_id, new = parent("is-1", instruction("IMPLEMENTATION_SHORTFALL", params=params), quantity=100 * Q)
    path.send(new)
    send_all(path, ticks(T0 + 60 * S, T0 + 3600 * S, 60 * S))
    placed = children(path, parent_id)
    sizes = [child["quantity"] for child in placed]
    kappa_horizon = 50 / 24
    holdings = [100 * Q * math.sinh(kappa_horizon * (1 - j / 6)) / math.sinh(kappa_horizon) for j in range(7)]
    expected = [holdings[j] - holdings[j + 1] for j in range(6)]
    assert len(sizes) == 6 and sum(sizes) == 100 * Q
    assert all(abs(size - want) <= 1 for size, want in zip(sizes, expected, strict=True))
    assert sizes == sorted(sizes, reverse=True), "urgency front-loads the parent"
    assert [child["meta"]["event_time_us"] for child in placed] == [T0 + n * 600 * S for n in range(6)]
    assert last_event(path, parent_id)["status"] == "FILLED"


def test_pov_keeps_within_one_trade_of_its_target_share_of_traded_volume() -> None:
    path = engine()
    send_all(path, deep_book())
    parent_id, new = parent("pov-1", instruction("POV", participation_bps=1_000), quantity=5 * Q)
    path.send(new)
    volume = 0
    for n in range(1, 400):
        size = (n % 7 + 1) * Q // 2
        path.send(trade(100 * P, size, t=T0 + n * S // 10))
        volume += size
        placed = sum(child["quantity"] for child in children(path, parent_id))
        if placed < 5 * Q:
            # stated tolerance: the placed quantity is the target share, less than one lot of rounding
            assert volume * 1_000 // 10_000 - placed == 0
    assert last_event(path, parent_id)["status"] == "FILLED"
    assert sum(child["quantity"] for child in children(path, parent_id)) == 5 * Q


def test_a_child_finding_no_liquidity_is_not_sent_again_until_the_next_market_event() -> None:
    path = engine()
    send_all(path, deep_book(depth=Q))  # one lot at 101: the first child takes it, the market is then dry
    parent_id, new = parent("pov-dry", instruction("POV", participation_bps=5_000), quantity=50 * Q)
    path.send(new)
    for n in range(1, 11):
        path.send(trade(100 * P, 4 * Q, t=T0 + n * S))
        assert len(children(path, parent_id)) <= n, "at most one child per market event"
    assert last_event(path, parent_id)["status"] == "PARTIALLY_FILLED"


def test_iceberg_never_shows_more_than_its_display_quantity() -> None:
    path = engine()
    execution = instruction("ICEBERG", display_quantity=2 * Q, params={"variance_pct": "30"})
    parent_id, new = parent("ice-1", execution, order_type="LIMIT", price=100 * P, quantity=9 * Q)
    path.send(new)
    for n in range(1, 20):
        assert len(open_children(path, parent_id)) <= 1, "one slice shows at a time"
        path.send(trade(99 * P, 1 * Q, t=T0 + n * S))  # prints through the buy limit: the resting slice fills
    shown = [child["quantity"] for child in children(path, parent_id)]
    assert all(0 < size <= 2 * Q for size in shown) and sum(shown) == 9 * Q
    assert len(set(shown)) > 1, "the variance draws differing sizes"
    assert last_event(path, parent_id)["status"] == "FILLED"


def test_cancelling_the_parent_cancels_its_open_children() -> None:
    path = engine()
    execution = instruction("ICEBERG", display_quantity=2 * Q)
    parent_id, new = parent("ice-c", execution, order_type="LIMIT", price=90 * P, quantity=9 * Q)
    path.send(new)
    [resting] = open_children(path, parent_id)
    path.send(command(CANCEL_ORDER, cancel_record(parent_id, t=T0 + S)))
    assert [cancel["order_id"] for cancel in child_cancels(path)] == [resting]
    assert last_event(path, resting)["status"] == "CANCELLED"
    assert last_event(path, parent_id)["status"] == "CANCELLED"
    send_all(path, ticks(T0 + 2 * S, T0 + 5 * S))
    assert len(children(path, parent_id)) == 1, "a cancelled parent places nothing more"


def test_amending_the_parent_re_plans_the_remainder() -> None:
    path = engine()
    send_all(path, deep_book())
    parent_id, new = parent("twap-a", instruction("TWAP", params={"duration_s": "100", "slices": "10"}))
    path.send(new)
    send_all(path, ticks(T0 + S, T0 + 35 * S))
    path.send(command(AMEND_ORDER, amend_record(parent_id, quantity=20 * Q, t=T0 + 35 * S)))
    send_all(path, ticks(T0 + 36 * S, T0 + 100 * S))
    sizes = [child["quantity"] for child in children(path, parent_id)]
    assert sizes == [Q] * 4 + [4 * Q] + [2 * Q] * 6  # at once up to 4/10 of the new 20, then 2 a slice
    assert (last_event(path, parent_id)["status"], last_event(path, parent_id)["cum_quantity"]) == ("FILLED", 20 * Q)


def test_a_kill_switch_stops_the_algorithm_and_cancels_its_children() -> None:
    path = engine()
    execution = instruction("ICEBERG", display_quantity=2 * Q)
    parent_id, new = parent("ice-k", execution, order_type="LIMIT", price=90 * P, quantity=9 * Q)
    path.send(new)
    [resting] = open_children(path, parent_id)
    path.send(kill_switch(cancel_open_orders=True, t=T0 + S))
    assert last_event(path, resting)["status"] == "CANCELLED"
    assert last_event(path, parent_id)["status"] == "CANCELLED"
    send_all(path, ticks(T0 + 2 * S, T0 + 5 * S))
    assert len(children(path, parent_id)) == 1


def test_a_child_denied_by_the_kill_switch_stops_the_algorithm() -> None:
    path = engine()
    send_all(path, deep_book())
    parent_id, new = parent("twap-k", instruction("TWAP", params={"duration_s": "100", "slices": "10"}))
    path.send(new)
    send_all(path, ticks(T0 + S, T0 + 30 * S))
    path.send(kill_switch(cancel_open_orders=False, t=T0 + 31 * S))
    send_all(path, ticks(T0 + 32 * S, T0 + 100 * S))
    placed = children(path, parent_id)
    assert len(placed) == 5 and not decided(path)[placed[-1]["order_id"]], "the 5th slice is denied"
    done = last_event(path, parent_id)
    assert (done["status"], done["cum_quantity"]) == ("CANCELLED", 4 * Q)


def test_the_end_time_cancels_what_is_left() -> None:
    path = engine()
    execution = instruction("ICEBERG", display_quantity=2 * Q, end_time_us=T0 + 10 * S)
    parent_id, new = parent("ice-e", execution, order_type="LIMIT", price=90 * P, quantity=9 * Q)
    path.send(new)
    send_all(path, ticks(T0 + S, T0 + 10 * S))
    assert last_event(path, parent_id)["status"] == "CANCELLED"
    assert not open_children(path, parent_id)


def test_a_gtd_parent_ends_at_its_expire_time() -> None:
    path = engine()
    execution = instruction("ICEBERG", display_quantity=2 * Q)
    parent_id, new = parent(
        "ice-gtd",
        execution,
        quantity=9 * Q,
        order_type="LIMIT",
        price=90 * P,
        time_in_force="GTD",
        expire_time_us=T0 + 5 * S,
    )
    path.send(new)
    send_all(path, ticks(T0 + S, T0 + 4 * S))
    assert last_event(path, parent_id)["status"] == "NEW"
    path.send(tick(T0 + 5 * S))
    assert last_event(path, parent_id)["status"] == "CANCELLED"
    assert not open_children(path, parent_id)


def test_a_restart_from_a_checkpoint_continues_exactly() -> None:
    parent_id, new = parent("twap-x", instruction("TWAP", params={"duration_s": "50", "slices": "5"}))
    events = [*deep_book(), new, *ticks(T0 + S, T0 + 50 * S)]
    straight = engine()
    send_all(straight, events)
    interrupted = engine()
    send_all(interrupted, events[:25])  # two slices placed and filled
    interrupted.checkpoint()
    restarted = interrupted.restarted()
    send_all(restarted, events[25:])
    assert restarted.outputs == straight.outputs
    assert len(children(restarted, parent_id)) == 5
    assert last_event(restarted, parent_id)["status"] == "FILLED"


@pytest.mark.parametrize("algo", ["PEG", "SNIPER"])
def test_a_restart_keeps_the_book_view_and_continues_exactly(algo: str) -> None:
    parent_id, new = parent(f"{algo}-x", instruction(algo), order_type="LIMIT", price=100 * P, quantity=6 * Q)
    events = [*market(1, [(99 * P, 5 * Q)], [(100 * P, Q)], t=T0), trade(100 * P, Q, t=T0), new]
    for n in range(2, 8):  # the book moves each second: PEG re-pegs, SNIPER takes what shows within its limit
        events += market(n, [((92 + n) * P, 5 * Q)], [(100 * P, Q)], t=T0 + n * S)
    straight = engine()
    send_all(straight, events)
    interrupted = engine()
    send_all(interrupted, events[:7])
    interrupted.checkpoint()
    restarted = interrupted.restarted()
    send_all(restarted, events[7:])
    assert restarted.outputs == straight.outputs
    # PEG: one child on arrival and one per move of the bid; SNIPER: the one lot shown, on each view until done
    assert len(children(restarted, parent_id)) == {"PEG": 7, "SNIPER": 6}[algo]


def test_a_peg_follows_the_book_by_cancel_and_replace_and_never_crosses_its_cap() -> None:
    path = engine()
    cap = 100 * P + P // 2
    send_all(path, market(1, [(99 * P, 5 * Q)], [(101 * P, 5 * Q)], t=T0))
    path.send(trade(100 * P, Q, t=T0))
    parent_id, new = parent("peg-1", instruction("PEG"), order_type="LIMIT", price=cap, quantity=4 * Q)
    path.send(new)
    send_all(path, market(2, [(99 * P + P // 2, 5 * Q)], [(101 * P, 5 * Q)], t=T0 + S))
    send_all(path, market(3, [(101 * P, 5 * Q)], [(102 * P, 5 * Q)], t=T0 + 2 * S))  # the bid above the cap
    send_all(path, market(4, [(101 * P, 5 * Q)], [(102 * P, 3 * Q)], t=T0 + 3 * S))  # the peg does not move
    prices = [child["price"] for child in children(path, parent_id)]
    assert prices == [99 * P, 99 * P + P // 2, cap], "pegged to the best bid, re-pegged as it moved, capped"
    assert len(child_cancels(path)) == 2, "each re-peg cancelled the resting child first"
    assert len(open_children(path, parent_id)) == 1, "one child rests at a time"
    assert all(child["quantity"] == 4 * Q and child["time_in_force"] == "GTC" for child in children(path, parent_id))
    path.send(trade(100 * P, 4 * Q, t=T0 + 4 * S))  # prints through the resting buy at the cap
    done = last_event(path, parent_id)
    assert (done["status"], done["cum_quantity"], done["avg_price"]) == ("FILLED", 4 * Q, cap)


def test_a_mid_peg_with_an_offset_rests_inside_the_spread() -> None:
    path = engine()
    send_all(path, market(1, [(99 * P, 5 * Q)], [(101 * P, 5 * Q)], t=T0))
    path.send(trade(100 * P, Q, t=T0))
    execution = instruction("PEG", peg_offset=-P // 4, params={"peg": "mid"})
    parent_id, new = parent("peg-mid", execution, order_type="LIMIT", price=99 * P, side="SELL", quantity=2 * Q)
    path.send(new)
    assert [child["price"] for child in children(path, parent_id)] == [100 * P + P // 4], "a sell pegs at mid + 0.25"


def test_a_sniper_takes_only_liquidity_at_or_better_than_its_limit_and_otherwise_shows_nothing() -> None:
    path = engine()
    send_all(path, market(1, [(99 * P, 5 * Q)], [(101 * P, 5 * Q)], t=T0))
    path.send(trade(100 * P, Q, t=T0))
    parent_id, new = parent("snipe-1", instruction("SNIPER"), order_type="LIMIT", price=100 * P, quantity=5 * Q)
    path.send(new)
    send_all(path, ticks(T0 + S, T0 + 5 * S))
    assert not children(path, parent_id), "nothing within the limit: nothing shown"
    send_all(path, market(2, [(99 * P, 5 * Q)], [(100 * P, 2 * Q), (101 * P, 5 * Q)], t=T0 + 6 * S))
    send_all(path, ticks(T0 + 7 * S, T0 + 9 * S))
    send_all(path, market(3, [(99 * P, 5 * Q)], [(99 * P + P // 2, Q), (100 * P, 4 * Q)], t=T0 + 10 * S))
    taken = children(path, parent_id)
    assert [(child["quantity"], child["price"], child["time_in_force"]) for child in taken] == [
        (2 * Q, 100 * P, "IOC"),
        (3 * Q, 100 * P, "IOC"),  # 5 shown within the limit, 3 left to do
    ]
    assert not open_children(path, parent_id), "an IOC child never rests"
    done = last_event(path, parent_id)
    assert (done["status"], done["cum_quantity"]) == ("FILLED", 5 * Q)
