"""The venue's changelog layout (processors.venue.state): a record per symbol and one per order or waiting
message, rebuilt in any order into a venue that continues exactly as the live one; the earlier whole-symbol
layout read and written again; what one order costs, whatever the book holds."""

from __future__ import annotations

import json
import random
from typing import Any

from _market_builders import snapshot, trade, update
from _venue_builders import SYMBOL, T0, VENUE, P, Q, S, Sim, checked, venue_order
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import Emit, Event, Record, StateChanges
from processors.runtime.changelog import state_partition
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.state_codec import encode_state
from processors.venue import Fees, VenueConfig, VenueCore
from processors.venue.state import split_state_key, symbol_state_key
from topics.catalogue import MD_DEPTH, MD_TRADES
from topics.partitioning import partition_for

ACCOUNTS = ("acc-1", "acc-2")
OTHER_VENUE = "other"

_price = st.integers(96, 104)
_new_order = st.tuples(
    st.just("new"),
    st.sampled_from(["BUY", "SELL"]),
    st.sampled_from(
        [-1, 0, 1, 1, 2, 2]
    ),  # how far from 100 on its own side: most rest and queue behind each other, a few cross
    st.integers(1, 4),
    st.sampled_from(["LIMIT"] * 6 + ["MARKET", "STOP", "STOP_LIMIT"]),
    st.sampled_from(["GTC"] * 4 + ["IOC", "GTD"]),
    st.sampled_from([VENUE, VENUE, OTHER_VENUE]),
)
_other_step = st.one_of(
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("amend"), st.integers(0, 30), st.integers(1, 5), _price),
    st.tuples(st.just("trade"), _price, st.integers(1, 3)),
    st.tuples(st.just("update"), st.sampled_from(["BUY", "SELL"]), _price, st.integers(0, 6)),
)
# Mostly new orders, so that the books fill up and levels hold queues
steps = st.lists(
    st.integers(0, 9).flatmap(lambda draw: _new_order if draw < 6 else _other_step), min_size=8, max_size=50
)


def events_of(drawn: list[tuple[Any, ...]]) -> list[Event]:
    """A market snapshot, then the drawn orders (two venues), cancels, amends, trades and depth updates."""
    events = [snapshot([(98 * P, 3 * Q), (97 * P, 3 * Q)], [(102 * P, 3 * Q), (103 * P, 3 * Q)])]
    placed: list[tuple[str, str, str]] = []  # (order id, account, venue)
    update_id = 100
    for i, step in enumerate(drawn):
        t = T0 + (i // 2 + 1) * S // 2  # two by two at one event time: messages waiting until the same time
        kind = step[0]
        if kind == "new":
            _, side, offset, quantity, order_type, tif, venue = step
            price = 100 - offset if side == "BUY" else 100 + offset
            order_id, account = f"o{i}", ACCOUNTS[i % 2]
            placed.append((order_id, account, venue))
            events.append(
                venue_order(
                    "NEW",
                    order_id,
                    account=account,
                    side=side,
                    quantity=quantity * Q,
                    order_type=order_type,
                    time_in_force=tif,
                    price=price * P if order_type in ("LIMIT", "STOP_LIMIT") else None,
                    stop_price=price * P if order_type in ("STOP", "STOP_LIMIT") else None,
                    expire_time_us=t + 3 * S if tif == "GTD" else None,
                    venue=venue,
                    t=t,
                    event_id=f"e{i}",
                )
            )
        elif kind in ("cancel", "amend") and placed:
            order_id, account, venue = placed[step[1] % len(placed)]
            extra = {} if kind == "cancel" else {"quantity": step[2] * Q, "price": step[3] * P}
            action = kind.upper()
            events.append(venue_order(action, order_id, account=account, venue=venue, t=t, event_id=f"e{i}", **extra))
        elif kind == "trade":
            events.append(trade(step[1] * P, step[2] * Q, t=t))
        elif kind == "update":
            update_id += 1
            levels = [(step[2] * P, step[3] * Q)]
            bids, asks = (levels, []) if step[1] == "BUY" else ([], levels)
            events.append(update(update_id, bids=bids, asks=asks, t=t))
    return events


def transactions_of(events: list[Event], sizes: list[int]) -> list[list[Event]]:
    """The events cut into transactions of the drawn sizes (the rest one event each)."""
    batches: list[list[Event]] = []
    at = 0
    for size in [*sizes, *[1] * len(events)]:
        if at >= len(events):
            break
        batches.append(events[at : at + size])
        at += size
    return batches


def through_json(changes: StateChanges) -> StateChanges:
    decoded: StateChanges = json.loads(json.dumps(changes))
    return decoded


def compacted(log: list[tuple[str, Record | None]]) -> dict[str, Record]:
    """What a compacted changelog gives back: the latest record of each key, none for a key deleted last."""
    latest: dict[str, Record | None] = {}
    for key, value in log:
        latest[key] = value
    return {key: value for key, value in latest.items() if value is not None}


def restored_from(config: VenueConfig, records: dict[str, Record], shuffle: random.Random) -> VenueCore:
    """A fresh core given every record, the keys in a shuffled order."""
    core = VenueCore(config)
    keys = list(records)
    shuffle.shuffle(keys)
    for key in keys:
        core.restore(key, records[key])
    return core


def is_market(event: Event) -> bool:
    return event.topic in (MD_DEPTH, MD_TRADES)


@settings(max_examples=120, deadline=None)
@given(
    steps,
    st.lists(st.integers(1, 4), max_size=20),
    st.integers(0, 40),
    st.sampled_from([0, S]),
    st.booleans(),
    st.randoms(use_true_random=False),
)
def test_a_venue_restored_from_every_record_so_far_in_any_key_order_continues_as_the_live_one(
    drawn: list[tuple[Any, ...]],
    sizes: list[int],
    cut: int,
    latency_us: int,
    history_first: bool,
    shuffle: random.Random,
) -> None:
    config = VenueConfig(default_fees=Fees(2, 5), latency_us=latency_us)
    batches = transactions_of(events_of(drawn), sizes)
    cut %= len(batches) + 1
    live = VenueCore(config)
    log: list[tuple[str, Record | None]] = []
    for batch in batches[:cut]:
        for event in batch:
            checked(live.apply(event))
        log += through_json(live.state_changes()).items()
    history = [event for batch in batches[:cut] for event in batch if is_market(event)]

    rebuilt = VenueCore(config)
    if history_first:  # the kafka engine's order: broadcast state first
        assert [emit for event in history for emit in rebuilt.apply(event)] == []
    records = compacted(log)
    keys = list(records)
    shuffle.shuffle(keys)
    for key in keys:
        rebuilt.restore(key, records[key])
    if not history_first:  # the faust engine's order
        assert [emit for event in history for emit in rebuilt.apply(event)] == []
    for batch in batches[cut:]:
        expected: list[Emit] = [emit for event in batch for emit in live.apply(event)]
        assert [emit for event in batch for emit in rebuilt.apply(event)] == expected
        live_changes, rebuilt_changes = live.state_changes(), rebuilt.state_changes()
        if not history:  # with market history replayed, the market parts may be written at other times
            assert rebuilt_changes == live_changes


@settings(max_examples=80, deadline=None)
@given(
    steps,
    st.lists(st.integers(1, 4), max_size=20),
    st.integers(0, 40),
    st.sampled_from([0, S]),
    st.randoms(use_true_random=False),
)
def test_the_records_written_after_a_restore_keep_the_changelog_whole(
    drawn: list[tuple[Any, ...]], sizes: list[int], cut: int, latency_us: int, shuffle: random.Random
) -> None:
    """Restored at a cut and run on, the changelog (before and after the cut) rebuilds the live venue's state:
    a third core restored from it at the end continues as the live one."""
    config = VenueConfig(default_fees=Fees(2, 5), latency_us=latency_us, market_liquidity=False)
    events = [event for event in events_of(drawn) if not is_market(event)]
    batches = transactions_of(events, sizes)
    cut %= len(batches) + 1
    live = VenueCore(config)
    log: list[tuple[str, Record | None]] = []
    for batch in batches[:cut]:
        for event in batch:
            live.apply(event)
        log += through_json(live.state_changes()).items()
    rebuilt = restored_from(config, compacted(log), shuffle)
    for batch in batches[cut:]:
        for event in batch:
            assert rebuilt.apply(event) == live.apply(event)
        live.state_changes()
        log += through_json(rebuilt.state_changes()).items()
    final = restored_from(config, compacted(log), shuffle)
    probe = venue_order("NEW", "probe", side="SELL", quantity=50 * Q, order_type="MARKET", t=T0 + 100 * S)
    probe_other = venue_order(
        "NEW", "probe-2", side="BUY", quantity=50 * Q, order_type="MARKET", venue=OTHER_VENUE, t=T0 + 100 * S
    )
    for event in (probe, probe_other):
        assert final.apply(event) == live.apply(event)


def test_queue_estimates_lowered_by_trades_and_updates_are_written() -> None:
    """A trade at an order's price short of its queue, an update shrinking its level: the order's estimate
    changes with nothing filled, and a venue restored from the changelog fills it as the live one does."""
    config = VenueConfig(default_fees=Fees(2, 5))
    live = VenueCore(config)
    history = [snapshot([(98 * P, 5 * Q)], [(102 * P, 5 * Q)])]
    log: list[tuple[str, Record | None]] = []
    for event in history:
        live.apply(event)
    live.apply(venue_order("NEW", "b1", side="BUY", quantity=2 * Q, price=98 * P, t=T0 + S))
    log += through_json(live.state_changes()).items()
    for event in (trade(98 * P, 1 * Q, t=T0 + 2 * S), update(101, bids=[(98 * P, 3 * Q)], t=T0 + 3 * S)):
        history.append(event)
        assert live.apply(event) == []  # 4 then 3 ahead of b1: no fill, but a shorter queue
        changes = through_json(live.state_changes())
        assert f"{SYMBOL}|order|{VENUE}|{SYMBOL}|b1" in changes
        log += changes.items()
    rebuilt = restored_from(config, compacted(log), random.Random(1))
    for event in history:
        rebuilt.apply(event)
    later = trade(98 * P, 4 * Q, t=T0 + 4 * S)  # 3 to the queue, 1 to b1
    assert rebuilt.apply(later) == live.apply(later)
    assert [emit.record["last_quantity"] for emit in live.apply(trade(98 * P, 1 * Q, t=T0 + 5 * S))] == [1 * Q]


def earlier_layout(core: VenueCore, key: str) -> Record:
    """The whole-symbol record the venue wrote before the per-order layout, made from a core's state."""
    market = core._markets.get(key)
    return {
        "books": [
            {
                "venue": venue,
                "symbol": symbol,
                "next_seq": book.next_seq,
                "clock_us": book.clock_us,
                "orders": [order.to_state() for order in book.orders.values()],
            }
            for (venue, symbol), book in core._books.get(key, {}).items()
        ],
        "pending": [
            {"ready_us": item.ready_us, "ingest_time_us": item.event.ingest_time_us, "record": item.event.record}
            for item in core._pending.get(key, ())
        ],
        "market_taken": [] if market is None else market.taken_state(),
        "market_seen": None if market is None or not market.seen_any() else market.position(),
    }


@settings(max_examples=80, deadline=None)
@given(steps, st.integers(0, 40), st.sampled_from([0, S]), st.randoms(use_true_random=False))
def test_an_earlier_layout_record_is_restored_and_written_again_in_the_new_layout(
    drawn: list[tuple[Any, ...]], cut: int, latency_us: int, shuffle: random.Random
) -> None:
    config = VenueConfig(default_fees=Fees(2, 5), latency_us=latency_us)
    events = events_of(drawn)
    cut = 1 + cut % len(events)  # the snapshot at least
    live = VenueCore(config)
    for event in events[:cut]:
        live.apply(event)
    live.state_changes()
    history = [event for event in events[:cut] if is_market(event)]
    old_record = json.loads(json.dumps(earlier_layout(live, SYMBOL)))

    rebuilt = VenueCore(config)
    for event in history:
        rebuilt.apply(event)
    rebuilt.restore(SYMBOL, old_record)
    probe = venue_order("NEW", "probe", side="SELL", quantity=1 * Q, price=103 * P, t=events[cut - 1].ingest_time_us)
    rest = [*events[cut:], probe]
    first = rest[0]
    assert rebuilt.apply(first) == live.apply(first)
    migration = through_json(rebuilt.state_changes())
    live.state_changes()
    assert migration[SYMBOL] is None  # the earlier layout's record is deleted
    books = rebuilt._books[SYMBOL]
    held = {(venue, order_id) for (venue, _), book in books.items() for order_id in book.orders}
    written = {
        (value["venue"], value["order"][0])
        for key, value in migration.items()
        if value is not None and split_state_key(key)[1] == "order"
    }
    assert written == held  # every order the symbol holds, in the new layout
    assert symbol_state_key(SYMBOL) in migration

    # The migrated changelog (the earlier record, then the migration's records) rebuilds the venue as it was
    # after the first event
    log: list[tuple[str, Record | None]] = [(SYMBOL, old_record), *migration.items()]
    again = VenueCore(config)
    for event in [*history, first] if is_market(first) else history:
        again.apply(event)
    records = compacted(log)
    assert SYMBOL not in records
    keys = list(records)
    shuffle.shuffle(keys)
    for key in keys:
        again.restore(key, records[key])
    for event in rest[1:]:
        expected = live.apply(event)
        assert rebuilt.apply(event) == expected
        assert again.apply(event) == expected


def test_an_earlier_layout_record_is_ignored_once_this_layouts_symbol_record_came_back() -> None:
    live = Sim()
    live.new("b1", "BUY", 1 * Q, 99 * P)
    live.new("b2", "BUY", 1 * Q, 99 * P)
    stale = json.loads(json.dumps(earlier_layout(live.core, SYMBOL)))
    records = through_json(live.core.state_changes())
    live.cancel("b1")
    records.update(through_json(live.core.state_changes()))
    rebuilt = Sim(VenueCore())
    for key, value in [(SYMBOL, stale), *records.items()]:
        if value is not None:
            rebuilt.core.restore(key, value)
    assert rebuilt.queue(99 * P) == ["b2"] == live.queue(99 * P)
    rebuilt.new("b3", "BUY", 1 * Q, 98 * P)
    assert rebuilt.core.state_changes()[SYMBOL] is None


def test_state_keys_name_the_symbol_first_and_go_to_its_partition() -> None:
    sim = Sim(VenueCore(VenueConfig(latency_us=S)))
    sim.new("b1", "BUY", 1 * Q, 99 * P)
    sim.new("e1", "BUY", 1 * Q, 99 * P, symbol="ETHUSDT", venue=OTHER_VENUE)
    sim.new("b2", "BUY", 1 * Q, 99 * P, t=T0 + 2 * S)  # releases b1
    changes = sim.core.state_changes()
    assert json.loads(json.dumps(changes)) == changes
    assert set(changes) == {
        f"{SYMBOL}|symbol",
        f"{SYMBOL}|order|{VENUE}|{SYMBOL}|b1",
        f"{SYMBOL}|pending|1",  # b2, waiting; b1's message (0) came and went: nothing to delete
        "ETHUSDT|symbol",
        "ETHUSDT|pending|0",
    }
    sim.new("b3", "BUY", 1 * Q, 99 * P, t=T0 + 4 * S)  # releases b2
    assert sim.core.state_changes()[f"{SYMBOL}|pending|1"] is None
    for partitions in (1, 3, 12):
        for key in changes:
            assert state_partition(key, partitions) == partition_for(split_state_key(key)[0], partitions)


def _one_order_bytes(resting: int) -> tuple[int, int]:
    """(changelog bytes, records) of a one-order transaction on a symbol whose book holds ``resting`` orders."""
    sim = Sim()
    for i in range(resting):
        sim.new(f"r{i}", "BUY" if i % 2 else "SELL", 1 * Q, (90 - i % 5) * P if i % 2 else (110 + i % 5) * P)
    sim.core.state_changes()
    sizes: list[tuple[int, int]] = []
    for event in (
        venue_order("NEW", "n1", side="BUY", quantity=1 * Q, price=95 * P),  # comes to rest
        venue_order("AMEND", "n1", quantity=2 * Q, price=96 * P),  # re-queued
        venue_order("NEW", "n2", side="SELL", quantity=1 * Q, price=95 * P),  # fills n1 in part
        venue_order("CANCEL", "n1"),  # leaves the book
    ):
        sim.send(event)
        changes = sim.core.state_changes()
        sizes.append((sum(len(encode_state(v) or b"") for v in changes.values()), len(changes)))
    return max(size for size, _ in sizes), max(records for _, records in sizes)


def test_a_one_order_transaction_writes_the_same_bytes_whatever_the_book_holds() -> None:
    small, small_records = _one_order_bytes(10)
    big, big_records = _one_order_bytes(2_000)
    assert big_records == small_records <= 2
    assert big <= small + 16  # only the wider counters (next_seq) grow
    assert big < 1_024


def test_a_memory_engine_restarted_from_its_checkpoints_continues_as_one_that_ran_on() -> None:
    config = VenueConfig(default_fees=Fees(2, 5), latency_us=S // 2)
    drawn: list[tuple[Any, ...]] = [
        ("new", "BUY" if i % 2 else "SELL", i % 4, 1 + i % 3, "LIMIT", "GTC", VENUE) for i in range(60)
    ]
    drawn += [("cancel", i) for i in range(0, 30, 3)] + [("trade", 100, 2), ("amend", 5, 4, 99)]
    events = events_of(drawn)
    straight = MemoryEngine([lambda: VenueCore(config)], checkpoint_every=3).run(events)
    interrupted = MemoryEngine([lambda: VenueCore(config)], checkpoint_every=3)
    for at, event in enumerate(events):
        interrupted.send(event)
        if at % 17 == 16 and interrupted.events_in % 3 == 0:  # right after a checkpoint
            interrupted = interrupted.restarted()
    assert interrupted.outputs == straight.outputs
    assert interrupted.changelog == straight.changelog
