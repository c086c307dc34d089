"""The order book core: levels from snapshots and updates, sequencing, stale books and resyncs."""

from __future__ import annotations

from typing import Any

import pytest
from _book_builders import (
    ASKS,
    BIDS,
    FUTURES,
    MS,
    SYMBOL,
    T0,
    P,
    Q,
    levels_of,
    run,
    snapshot,
    statuses,
    tops,
    update,
)

from processors.orderbook.config import OrderBookConfig
from processors.orderbook.core import OrderBookCore
from schemas.names import BOOK_TOP


def synced_core(**config: Any) -> OrderBookCore:
    core = OrderBookCore(OrderBookConfig(**config))
    run(core, [snapshot(100, BIDS, ASKS)])
    return core


def test_snapshot_publishes_top_of_book_and_depth_view_best_first() -> None:
    core = OrderBookCore()
    [top] = tops(run(core, [snapshot(100, list(reversed(BIDS)), ASKS)]))
    assert (top["bid_price"], top["bid_quantity"], top["ask_price"], top["ask_quantity"]) == (100 * P, Q, 101 * P, Q)
    assert levels_of(top["bids"]) == BIDS
    assert levels_of(top["asks"]) == ASKS
    assert top["sequence"] == 100
    assert top["stale"] is False


def test_depth_view_holds_publish_depth_levels() -> None:
    core = OrderBookCore(OrderBookConfig(publish_depth=2))
    [top] = tops(run(core, [snapshot(100, BIDS, ASKS)]))
    assert levels_of(top["bids"]) == BIDS[:2]
    assert levels_of(top["asks"]) == ASKS[:2]


def test_quantity_zero_removes_the_level() -> None:
    core = synced_core()
    [top] = tops(run(core, [update(101, bids=[(100 * P, 0)], asks=[(102 * P, 0)])]))
    assert levels_of(top["bids"]) == BIDS[1:]
    assert levels_of(top["asks"]) == [ASKS[0], ASKS[2]]
    assert top["bid_price"] == 99 * P


def test_new_quantity_replaces_the_level_and_new_prices_are_inserted_in_order() -> None:
    core = synced_core()
    [top] = tops(run(core, [update(101, bids=[(99 * P, 5 * Q), (100 * P + P // 2, Q)], asks=[(104 * P, Q)])]))
    assert levels_of(top["bids"]) == [(100 * P + P // 2, Q), (100 * P, Q), (99 * P, 5 * Q), (98 * P, 3 * Q)]
    assert levels_of(top["asks"]) == [*ASKS, (104 * P, Q)]


def test_removing_a_level_that_is_not_there_changes_nothing() -> None:
    core = synced_core()
    assert run(core, [update(101, bids=[(50 * P, 0)])]) == []
    view = core.book_view(SYMBOL, 10)
    assert view is not None
    assert view["bids"] == BIDS
    assert view["sequence"] == 101


def test_change_outside_the_published_depth_publishes_nothing() -> None:
    core = synced_core(publish_depth=2)
    assert tops(run(core, [update(101, bids=[(98 * P, 7 * Q)])])) == []
    assert tops(run(core, [update(102, bids=[(99 * P, 7 * Q)])])) != []


def test_update_already_covered_by_the_snapshot_is_ignored() -> None:
    core = synced_core()
    assert run(core, [update(90, 100, bids=[(100 * P, 9 * Q)])]) == []
    view = core.book_view(SYMBOL, 1)
    assert view is not None and view["bids"] == [(100 * P, Q)]


def test_first_update_may_overlap_the_snapshot() -> None:
    core = synced_core()
    [top] = tops(run(core, [update(95, 105, bids=[(100 * P, 4 * Q)])]))
    assert top["bid_quantity"] == 4 * Q and top["sequence"] == 105 and not top["stale"]


def test_sequence_gap_marks_stale_and_requests_a_resync() -> None:
    core = synced_core()
    emits = run(core, [update(101, bids=[(100 * P, 2 * Q)]), update(103, bids=[(100 * P, 3 * Q)])])
    [status] = statuses(emits)
    assert status["status"] == "GAP_DETECTED"
    assert "missing update ids 102..102" in status["detail"] and "resync requested" in status["detail"]
    published = tops(emits)
    assert [top["stale"] for top in published] == [False, True]
    stale = published[-1]
    assert stale["bid_price"] is None and stale["ask_price"] is None and stale["bids"] == [] and stale["asks"] == []
    view = core.book_view(SYMBOL, 10)
    assert view is not None and view["stale"] is True


def futures_core() -> OrderBookCore:
    core = OrderBookCore()
    run(core, [snapshot(100, BIDS, ASKS, venue=FUTURES)])
    return core


def test_futures_previous_id_mismatch_is_a_gap() -> None:
    core = futures_core()
    emits = run(
        core,
        [
            update(99, 110, previous=98, venue=FUTURES),
            update(111, 120, previous=110, venue=FUTURES),
            update(125, 130, previous=121, venue=FUTURES),
        ],
    )
    [status] = statuses(emits)
    assert status["status"] == "GAP_DETECTED"
    assert "pu=121 but the previous event's u=120 (U=125, u=130)" in status["detail"]


def test_futures_chain_by_previous_id_applies_without_contiguous_first_ids() -> None:
    core = futures_core()
    emits = run(
        core,
        [
            update(99, 110, previous=98, bids=[(100 * P, 2 * Q)], venue=FUTURES),
            update(115, 120, previous=110, bids=[(100 * P, 3 * Q)], venue=FUTURES),
        ],
    )
    assert statuses(emits) == []
    assert [top["bid_quantity"] for top in tops(emits)] == [2 * Q, 3 * Q]


def test_futures_event_ending_at_the_snapshot_id_then_a_jump_keeps_the_book_in_sync() -> None:
    """The issue's stream: snapshot L, an event with u == L, then U = L + 2 with pu = L."""
    core = futures_core()
    emits = run(
        core,
        [
            update(95, 100, previous=94, bids=[(100 * P, 2 * Q)], venue=FUTURES),
            update(102, 104, previous=100, bids=[(100 * P, 3 * Q)], venue=FUTURES),
        ],
    )
    assert statuses(emits) == []
    assert [(top["bid_quantity"], top["sequence"], top["stale"]) for top in tops(emits)] == [
        (2 * Q, 100, False),
        (3 * Q, 104, False),
    ]


def test_stale_book_ignores_updates_and_asks_for_a_resync_once() -> None:
    core = synced_core()
    emits = run(core, [update(105), update(106, bids=[(100 * P, 9 * Q)]), update(107)])
    assert len(statuses(emits)) == 1
    assert len(tops(emits)) == 1


def test_crossed_book_is_never_published() -> None:
    core = synced_core()
    emits = run(core, [update(101, bids=[(101 * P, Q)])])
    assert [top["stale"] for top in tops(emits)] == [True]
    assert all(top["bid_price"] is None for top in tops(emits))
    [status] = statuses(emits)
    assert status["status"] == "GAP_DETECTED" and "crossed" in status["detail"]


def test_crossed_snapshot_is_never_published() -> None:
    core = OrderBookCore()
    emits = run(core, [snapshot(100, [(102 * P, Q)], ASKS)])
    assert tops(emits) == []  # nothing was published before, so there is nothing to withdraw
    [status] = statuses(emits)
    assert "snapshot 100 is crossed" in status["detail"]


def test_new_snapshot_recovers_the_stale_book() -> None:
    core = synced_core()
    run(core, [update(105)])
    emits = run(core, [snapshot(200, [(99 * P, Q)], [(100 * P, Q)]), update(201, asks=[(100 * P, 2 * Q)])])
    [status] = statuses(emits)
    assert status["status"] == "RESYNCED" and "200" in status["detail"]
    published = tops(emits)
    assert [(top["stale"], top["bid_price"], top["ask_quantity"]) for top in published] == [
        (False, 99 * P, Q),
        (False, 99 * P, 2 * Q),
    ]


def test_update_before_any_snapshot_requests_one() -> None:
    core = OrderBookCore()
    emits = run(core, [update(5), update(6)])
    [status] = statuses(emits)
    assert status["status"] == "GAP_DETECTED" and "no snapshot" in status["detail"]
    assert tops(emits) == []
    emits = run(core, [snapshot(10, BIDS, ASKS)])
    assert [s["status"] for s in statuses(emits)] == ["RESYNCED"]


def test_emitted_ids_are_unique_and_derived_from_the_cause() -> None:
    core = OrderBookCore(OrderBookConfig(interval_us=MS))
    events = [
        snapshot(100, BIDS, ASKS, t=T0),
        update(101, bids=[(100 * P, 2 * Q)], t=T0 + 5 * MS),
        update(103, t=T0 + 10 * MS),
    ]
    emits = run(core, events)
    ids = [emit.record["meta"]["event_id"] for emit in emits]
    assert len(ids) == len(set(ids))
    replayed = run(OrderBookCore(OrderBookConfig(interval_us=MS)), events)
    assert [emit.record for emit in replayed] == [emit.record for emit in emits]
    causes = {event.record["meta"]["event_id"] for event in events}
    assert all(emit.record["meta"]["causation_id"] in causes for emit in emits)


def test_symbols_keep_separate_books() -> None:
    core = synced_core()
    run(core, [snapshot(7, [(10 * P, Q)], [(11 * P, Q)], symbol="ETHUSDT"), update(105)])
    eth = core.book_view("ETHUSDT", 5)
    btc = core.book_view(SYMBOL, 5)
    assert eth is not None and btc is not None
    assert eth["stale"] is False and btc["stale"] is True


def test_state_survives_a_restore_and_the_restored_core_continues_identically() -> None:
    core = synced_core()
    run(core, [update(101, bids=[(100 * P, 2 * Q)])])
    changes = core.state_changes()
    assert set(changes) == {SYMBOL}
    restored = OrderBookCore()
    state = changes[SYMBOL]
    assert state is not None
    restored.restore(SYMBOL, state)
    assert core.state_changes() == {}
    following = [update(102, asks=[(101 * P, 0)]), update(103, bids=[(100 * P, 0)])]
    assert [e.record for e in run(restored, following)] == [e.record for e in run(core, following)]


def test_other_schemas_are_refused() -> None:
    event = update(1)
    with pytest.raises(ValueError, match="does not take"):
        OrderBookCore().apply(type(event)(event.topic, event.key, BOOK_TOP, event.record, 0))
