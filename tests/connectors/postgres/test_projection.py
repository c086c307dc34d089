"""The pure projection rules: numbering, duplicates, fill merging and refusals, without Kafka or PostgreSQL."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.postgres.projection import (
    FILL_COLUMNS,
    ORDER_COLUMNS,
    BatchRows,
    Consumed,
    decode_batch,
    project,
)
from processors.runtime.dead_letters import SourceRecord
from schemas.codec import default_codec
from schemas.examples import example_event
from schemas.names import ORDER_EVENT, POSITION
from tests.kit.order_stream import Produced, SampleStream
from topics.catalogue import ORDERS_EVENTS, PORTFOLIO_POSITIONS, VENUE_EXECUTIONS

CODEC = default_codec()
STREAM = SampleStream(14, run="u").records()


def _consumed(records: list[Produced], first_offset: int = 0) -> list[Consumed]:
    return [
        Consumed(
            p.topic,
            SourceRecord(f"x.{p.topic}", 0, first_offset + i, p.key.encode(), CODEC.encode(p.schema, p.record), 0),
        )
        for i, p in enumerate(records)
    ]


def _project(records: list[Produced], known: set[str] | None = None, counts: dict[str, int] | None = None) -> BatchRows:
    decoded, rows = decode_batch(CODEC, _consumed(records))
    return project(decoded, rows, known or set(), counts or {})


def _column(row: tuple[Any, ...], name: str, columns: tuple[str, ...] = ORDER_COLUMNS) -> Any:
    return row[columns.index(name)]


def test_each_orders_events_are_numbered_from_one_in_topic_order() -> None:
    rows = _project(STREAM)
    by_order: dict[str, list[int]] = {}
    for row in rows.order_events:
        by_order.setdefault(row[1], []).append(row[3])
    assert all(seq == list(range(1, len(seq) + 1)) for seq in by_order.values())
    assert len(rows.orders) == 14


def test_numbering_continues_from_the_count_already_stored() -> None:
    events = [p for p in STREAM if p.schema == ORDER_EVENT and p.record["order_id"] == "u-ord-000000"]
    rows = _project(events[2:], counts={"u-ord-000000": 2})
    assert [row[3] for row in rows.order_events] == list(range(3, len(events) + 1))
    assert rows.orders["u-ord-000000"].event_count == len(events)


def test_an_event_already_stored_is_skipped_and_counted_as_duplicate() -> None:
    events = [p for p in STREAM if p.schema == ORDER_EVENT][:3]
    rows = _project(events, known={events[1].record["meta"]["event_id"]})
    assert rows.duplicates == 1 and len(rows.order_events) == 2


def test_a_duplicate_client_order_id_joins_the_history_without_changing_the_order() -> None:
    events = [p for p in STREAM if p.schema == ORDER_EVENT and p.record["order_id"] == "u-ord-000006"]
    upto = next(i for i, p in enumerate(events) if p.record["event_type"] == "DUPLICATE_REJECTED")
    rows = _project(events[: upto + 1])
    state = rows.orders["u-ord-000006"].row()
    assert _column(state, "last_event_type") == "ACCEPTED" and _column(state, "event_count") == upto + 1
    alone = _project(events[upto : upto + 1], counts={"u-ord-000006": upto})
    assert alone.order_upserts() == alone.order_updates() == []
    assert alone.order_counts() == [(upto + 1, "u-ord-000006")]


def test_a_cancel_rejected_updates_an_order_but_never_creates_one() -> None:
    ghost = [p for p in STREAM if p.schema == ORDER_EVENT and p.record["order_id"] == "u-ord-000007"]
    assert [p.record["event_type"] for p in ghost] == ["CANCEL_REJECTED"]
    rows = _project(ghost)
    assert rows.order_upserts() == [] and len(rows.order_updates()) == 1 and len(rows.order_events) == 1
    events = [p for p in STREAM if p.schema == ORDER_EVENT and p.record["order_id"] == "u-ord-000005"]
    later = _project(events[2:], counts={"u-ord-000005": 2})  # PENDING_CANCEL, CANCEL_REJECTED, fills …
    assert len(later.order_upserts()) == 1  # a creating event in the batch: the row may be (re)created
    rejected = _project(events[3:4], counts={"u-ord-000005": 3})
    assert [_column(r, "last_reason") for r in rejected.order_updates()] == ["UNKNOWN_ORDER"]


def test_the_created_time_is_the_first_creating_events_and_the_reason_the_latest() -> None:
    events = [p for p in STREAM if p.schema == ORDER_EVENT and p.record["order_id"] == "u-ord-000005"]
    row = _project(events).orders["u-ord-000005"].row()
    assert _column(row, "created_time_us") == events[0].record["meta"]["event_time_us"]
    assert _column(row, "last_reason") == "UNKNOWN_ORDER" and _column(row, "status") == "FILLED"


def test_a_fill_told_by_the_oms_and_the_venue_is_one_row_with_both_sources() -> None:
    rows = _project(STREAM)
    for fill in rows.fills.values():
        row = fill.row()
        assert _column(row, "side", FILL_COLUMNS) in ("BUY", "SELL")
        assert _column(row, "order_event_id", FILL_COLUMNS) and _column(row, "execution_event_id", FILL_COLUMNS)
    fills = [p for p in STREAM if p.schema == ORDER_EVENT and p.record["fill_id"]]
    assert len(rows.fills) == len(fills)


def test_the_latest_position_per_account_and_symbol_wins() -> None:
    rows = _project(STREAM)
    latest = {p.key: p.record["version"] for p in STREAM if p.schema == POSITION}
    assert {f"{a}|{s}": row[11] for (a, s), row in rows.positions.items()} == latest


def test_offsets_cover_every_record_even_dead_ones() -> None:
    bad = Consumed(ORDERS_EVENTS, SourceRecord("x.orders.events", 3, 41, None, b"junk", 0))
    decoded, rows = decode_batch(CODEC, [bad, *_consumed(STREAM[:2], 7)])
    project(decoded, rows, set(), {})
    assert rows.offsets[("x.orders.events", 3)] == 42
    assert [d.record["reason"] for d in rows.dead_letters] == ["UNDECODABLE"]


def test_records_that_cannot_be_projected_become_dead_letters_with_the_reason() -> None:
    wrong_topic = Produced(VENUE_EXECUTIONS, "a", ORDER_EVENT, example_event(ORDER_EVENT, 1))
    no_fill_id = Produced(ORDERS_EVENTS, "a", ORDER_EVENT, example_event(ORDER_EVENT, 2, fill_id=None))
    nul = Produced(ORDERS_EVENTS, "a", ORDER_EVENT, example_event(ORDER_EVENT, 3, detail="a\x00b"))
    tombstone = Consumed(PORTFOLIO_POSITIONS, SourceRecord("x.p", 0, 0, b"a|B", None, 0))
    decoded, rows = decode_batch(CODEC, [*_consumed([wrong_topic, no_fill_id, nul]), tombstone])
    project(decoded, rows, set(), {})
    details = [d.record["detail"] for d in rows.dead_letters]
    assert len(details) == 4 and rows.order_events == [] and rows.fills == {}
    assert any("OrderEvent on venue.executions" in d for d in details)
    assert any("without a fill_id" in d for d in details)
    assert any("NUL" in d for d in details)
    assert all(CODEC.encode(d.schema, d.record) for d in rows.dead_letters)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(STREAM)), max_size=6))
def test_batch_boundaries_do_not_change_the_numbering(cuts: list[int]) -> None:
    """Projecting in batches (carrying known ids and counts over, as the database does) numbers as in one go."""
    whole = [row[:4] for row in _project(STREAM).order_events]
    known: set[str] = set()
    counts: dict[str, int] = {}
    pieces: list[tuple[Any, ...]] = []
    bounds = [0, *sorted(set(cuts)), len(STREAM)]
    for start, end in itertools.pairwise(bounds):
        rows = _project(STREAM[start:end], known, counts)
        pieces += [row[:4] for row in rows.order_events]
        known |= {row[0] for row in rows.order_events}
        counts |= {order_id: change.event_count for order_id, change in rows.orders.items()}
    assert pieces == whole


def test_a_failure_projecting_one_record_dead_letters_it_and_the_batch_goes_on(monkeypatch: Any) -> None:
    from connectors.postgres import projection

    def broken(position: Any, rows: BatchRows) -> None:
        raise KeyError("a field this code did not expect")

    monkeypatch.setattr(projection, "_project_position", broken)
    rows = _project(STREAM)
    positions = [p for p in STREAM if p.schema == POSITION]
    assert [d.record["reason"] for d in rows.dead_letters] == ["PROCESSING_ERROR"] * len(positions)
    assert "KeyError" in rows.dead_letters[0].record["detail"]
    assert len(rows.order_events) == sum(p.schema == ORDER_EVENT for p in STREAM) and rows.positions == {}
