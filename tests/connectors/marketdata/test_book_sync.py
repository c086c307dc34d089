"""Binance's local-book procedure: snapshot covering, straddling, continuity (spot U, futures pu), gap → resync."""

from __future__ import annotations

from _md_builders import diff
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.marketdata.binance_messages import Market, venue_of
from connectors.marketdata.book_sync import BookSync, SyncStep
from connectors.marketdata.messages import BookSnapshot, DepthDiff
from processors.orderbook.sequencing import BINANCE_SPOT, BINANCE_USDM_FUTURES, rule_for


def snapshot(last: int) -> BookSnapshot:
    return BookSnapshot("BTCUSDT", last, 0, (), ())


def feed(sync: BookSync, *diffs: DepthDiff) -> list[SyncStep]:
    return [sync.on_diff(d) for d in diffs]


def published_ids(step: SyncStep) -> list[tuple[int, int] | int]:
    return [m.last_update_id if isinstance(m, BookSnapshot) else (m.first_id, m.last_id) for m in step.publish]


def test_first_event_asks_for_a_snapshot_once_while_buffering() -> None:
    sync = BookSync(BINANCE_SPOT)
    steps = feed(sync, diff(95, 100), diff(101, 105))
    assert [s.needs_snapshot for s in steps] == [True, False]
    assert all(s.publish == [] for s in steps) and sync.state == "BUFFERING"


def test_spot_snapshot_drops_covered_events_and_publishes_the_rest_in_order() -> None:
    sync = BookSync(BINANCE_SPOT)
    feed(sync, diff(95, 100), diff(101, 103), diff(104, 110), diff(111, 111))
    step = sync.on_snapshot(snapshot(103))
    assert published_ids(step) == [103, (104, 110), (111, 111)]
    assert step.dropped == 2 and step.resynced is None and sync.state == "LIVE"


def test_spot_first_event_may_straddle_the_snapshot() -> None:
    sync = BookSync(BINANCE_SPOT)
    feed(sync, diff(101, 105), diff(106, 107))
    assert published_ids(sync.on_snapshot(snapshot(103))) == [103, (101, 105), (106, 107)]


def test_futures_keeps_the_event_ending_at_the_snapshot_id_and_chains_on_pu() -> None:
    sync = BookSync(BINANCE_USDM_FUTURES)
    # Spot would drop u == L; futures drops only u < L and wants U <= L <= u.
    feed(sync, diff(90, 99, 80), diff(100, 103, 99), diff(104, 110, 103), diff(111, 115, 110))
    step = sync.on_snapshot(snapshot(103))
    assert published_ids(step) == [103, (100, 103), (104, 110), (111, 115)]
    assert step.dropped == 1


def test_spot_event_starting_after_previous_u_plus_one_is_a_gap_then_a_resync() -> None:
    sync = BookSync(BINANCE_SPOT)
    feed(sync, diff(101, 105))
    sync.on_snapshot(snapshot(103))
    gap = sync.on_diff(diff(108, 110))
    assert gap.publish == [] and gap.needs_snapshot
    assert gap.gaps == ["missing update ids 106..107 (U=108, previous u=105)"]
    assert sync.state == "BUFFERING"
    feed(sync, diff(111, 112))
    resync = sync.on_snapshot(snapshot(109))
    assert published_ids(resync) == [109, (108, 110), (111, 112)]
    assert resync.resynced is not None and resync.resynced.startswith("after a gap (missing update ids 106..107")


def test_futures_pu_mismatch_is_a_gap_even_when_ids_look_contiguous() -> None:
    sync = BookSync(BINANCE_USDM_FUTURES)
    feed(sync, diff(100, 105, 99))
    sync.on_snapshot(snapshot(103))
    # U == previous u + 1 would satisfy spot, but futures chains on pu.
    step = sync.on_diff(diff(106, 108, 104))
    assert step.gaps == ["pu=104 but the previous event's u=105 (U=106, u=108)"] and step.needs_snapshot


def test_futures_continues_when_pu_matches_even_if_ids_jump() -> None:
    sync = BookSync(BINANCE_USDM_FUTURES)
    feed(sync, diff(100, 105, 99))
    sync.on_snapshot(snapshot(103))
    step = sync.on_diff(diff(120, 130, 105))  # futures ids are not contiguous: pu is the chain
    assert published_ids(step) == [(120, 130)] and step.gaps == []


def test_snapshot_older_than_the_buffered_events_is_refused_and_another_is_asked_for() -> None:
    sync = BookSync(BINANCE_SPOT)
    feed(sync, diff(110, 115))
    step = sync.on_snapshot(snapshot(100))
    assert step.publish == [] and step.needs_snapshot and step.rejected_snapshot is not None
    assert "older than the first buffered event (U=110)" in step.rejected_snapshot
    assert published_ids(sync.on_snapshot(snapshot(112))) == [112, (110, 115)]


def test_snapshot_newer_than_everything_buffered_waits_for_a_straddling_event() -> None:
    sync = BookSync(BINANCE_SPOT)
    feed(sync, diff(95, 100))
    assert published_ids(sync.on_snapshot(snapshot(120))) == [120]
    assert feed(sync, diff(101, 110))[0].dropped == 1  # covered, arriving late
    assert published_ids(sync.on_diff(diff(115, 125))) == [(115, 125)]


def test_event_after_a_snapshot_that_skips_past_it_is_a_gap() -> None:
    sync = BookSync(BINANCE_SPOT)
    feed(sync, diff(95, 100))
    sync.on_snapshot(snapshot(120))
    step = sync.on_diff(diff(125, 130))
    assert step.gaps == ["the first event after snapshot 120 starts at U=125, past 121: missing updates"]


def test_gap_inside_the_buffer_keeps_the_rest_for_the_next_snapshot() -> None:
    sync = BookSync(BINANCE_SPOT)
    feed(sync, diff(101, 105), diff(110, 112), diff(113, 114))
    step = sync.on_snapshot(snapshot(103))
    assert published_ids(step) == [103, (101, 105)]
    assert len(step.gaps) == 1 and step.needs_snapshot
    assert [(d.first_id, d.last_id) for d in sync.buffer] == [(110, 112), (113, 114)]


def test_stale_event_after_the_chain_started_is_dropped_not_a_gap() -> None:
    sync = BookSync(BINANCE_SPOT)
    feed(sync, diff(101, 105))
    sync.on_snapshot(snapshot(103))
    step = sync.on_diff(diff(100, 104))
    assert step.dropped == 1 and step.gaps == [] and sync.last_id == 105


def test_reset_after_a_disconnect_makes_the_next_snapshot_a_resync_with_the_reason() -> None:
    sync = BookSync(BINANCE_SPOT)
    feed(sync, diff(1, 5))
    sync.on_snapshot(snapshot(3))
    sync.reset("after stalled (no message for 30 s)")
    assert sync.state == "BUFFERING" and not sync.buffer
    assert feed(sync, diff(50, 60))[0].needs_snapshot
    step = sync.on_snapshot(snapshot(55))
    assert step.resynced == "after stalled (no message for 30 s): snapshot lastUpdateId=55"


def test_resync_request_on_a_live_book_asks_for_a_snapshot_and_publishes_it_with_the_chain_after_it() -> None:
    sync = BookSync(BINANCE_USDM_FUTURES)
    feed(sync, diff(100, 105, 99))
    sync.on_snapshot(snapshot(103))
    step = sync.resync("on request of orderbook (crossed)")
    assert step.needs_snapshot and step.publish == [] and sync.state == "BUFFERING"
    feed(sync, diff(108, 110, 105), diff(113, 120, 110))  # buffered meanwhile
    resync = sync.on_snapshot(snapshot(110))
    assert published_ids(resync) == [110, (108, 110), (113, 120)]  # futures: the event with u == L stays
    assert resync.resynced == "on request of orderbook (crossed): snapshot lastUpdateId=110"


def test_futures_resync_snapshot_at_the_last_applied_events_u_is_bridged_by_that_event() -> None:
    """The snapshot comes back at u of the event the feed applied last, before any other event: on futures
    the next event starts past it, so only the last event straddles it; it is published again after it."""
    sync = BookSync(BINANCE_USDM_FUTURES)
    feed(sync, diff(100, 105, 99))
    sync.on_snapshot(snapshot(103))
    feed(sync, diff(108, 110, 105))
    sync.resync("on request of orderbook (gap)")
    assert published_ids(sync.on_snapshot(snapshot(110))) == [110, (108, 110)]
    step = sync.on_diff(diff(113, 115, 110))
    assert published_ids(step) == [(113, 115)] and step.gaps == []


def test_spot_resync_snapshot_past_the_last_applied_event_drops_it_and_waits_for_the_next() -> None:
    sync = BookSync(BINANCE_SPOT)
    feed(sync, diff(101, 105))
    sync.on_snapshot(snapshot(103))
    sync.resync("on request of orderbook (gap)")
    assert published_ids(sync.on_snapshot(snapshot(107))) == [107]  # (101, 105) is covered
    assert feed(sync, diff(106, 107))[0].dropped == 1  # covered by the new snapshot
    assert published_ids(sync.on_diff(diff(108, 109))) == [(108, 109)]


def test_resync_snapshot_older_than_the_last_applied_event_is_refused() -> None:
    sync = BookSync(BINANCE_USDM_FUTURES)
    feed(sync, diff(100, 105, 99))
    sync.on_snapshot(snapshot(103))
    feed(sync, diff(108, 110, 105))
    sync.resync("on request of orderbook (gap)")
    step = sync.on_snapshot(snapshot(104))  # a stale answer: it cannot be bridged to what comes next
    assert step.publish == [] and step.needs_snapshot and step.rejected_snapshot is not None


def test_resync_request_while_already_resynchronising_changes_nothing() -> None:
    sync = BookSync(BINANCE_SPOT)
    feed(sync, diff(1, 5))
    step = sync.resync("on request of orderbook (gap)")
    assert not step.needs_snapshot and sync.snapshot_pending  # the first snapshot is on its way already
    sync.on_snapshot(snapshot(3))
    sync.on_diff(diff(8, 9))  # a gap: the machine resynchronises on its own
    assert not sync.resync("on request of orderbook (gap)").needs_snapshot


def test_late_snapshot_answer_after_resynchronising_is_ignored() -> None:
    sync = BookSync(BINANCE_SPOT)
    feed(sync, diff(1, 5))
    sync.on_snapshot(snapshot(3))
    assert sync.on_snapshot(snapshot(4)).publish == []


def test_failed_snapshot_request_is_asked_again() -> None:
    sync = BookSync(BINANCE_SPOT)
    feed(sync, diff(1, 5))
    assert sync.snapshot_failed().needs_snapshot


def test_full_buffer_drops_its_oldest_events() -> None:
    sync = BookSync(BINANCE_SPOT, max_buffer=2)
    steps = feed(sync, diff(1, 1), diff(2, 2), diff(3, 3))
    assert steps[-1].dropped == 1 and [d.first_id for d in sync.buffer] == [2, 3]


# -- the invariant, on random streams ------------------------------------------------------------------------
@st.composite
def venue_streams(draw: st.DrawFn) -> tuple[Market, list[tuple[str, int]]]:
    """A venue's event stream (some events lost in transit) with snapshot answers taken at random moments."""
    market: Market = draw(st.sampled_from(["spot", "futures", "coinm"]))
    actions = draw(st.lists(st.sampled_from(["send", "send", "send", "lose", "snapshot"]), min_size=1, max_size=60))
    return market, [(action, draw(st.integers(1, 3))) for action in actions]


@settings(max_examples=200, deadline=None)
@given(venue_streams())
def test_published_depth_is_always_a_snapshot_then_a_continuous_chain(
    case: tuple[Market, list[tuple[str, int]]],
) -> None:
    market, actions = case
    sync = BookSync(rule_for(venue_of(market)))
    venue_last, published = 0, []
    pending_snapshot = False
    for action, size in actions:
        if action == "snapshot":
            if pending_snapshot:
                step = sync.on_snapshot(snapshot(venue_last))
                pending_snapshot = step.needs_snapshot
                published.extend(step.publish)
            continue
        event = diff(venue_last + 1, venue_last + size, venue_last)
        venue_last += size
        if action == "send":
            step = sync.on_diff(event)
            pending_snapshot = pending_snapshot or step.needs_snapshot
            published.extend(step.publish)
    # Recovery: whatever state the stream left it in (losses may not be noticed yet), one more event and, if
    # it asks for one, a current snapshot bring it back in sync; then the next event goes out at once.
    event = diff(venue_last + 1, venue_last + 1, venue_last)
    venue_last += 1
    published.extend(sync.on_diff(event).publish)
    if sync.state == "BUFFERING":
        published.extend(sync.on_snapshot(snapshot(venue_last)).publish)
    assert sync.state == "LIVE"
    event = diff(venue_last + 1, venue_last + 1, venue_last)
    step = sync.on_diff(event)
    assert step.publish == [event]
    published.extend(step.publish)
    # Independent check of what went out: every update continues its snapshot per the market's rules.
    last: int | None = None
    bridged = False
    for message in published:
        if isinstance(message, BookSnapshot):
            last, bridged = message.last_update_id, False
            continue
        assert last is not None, "an update was published before any snapshot"
        if not bridged:
            bound = last + 1 if market == "spot" else last
            assert message.first_id <= bound <= message.last_id
        elif market == "spot":
            assert message.first_id == last + 1
        else:
            assert message.previous_last_id == last
        last, bridged = message.last_id, True
