"""The sink against the real broker and database: events produced to real topics become rows, once."""

from __future__ import annotations

from collections import Counter

import psycopg
import pytest
from postgres_sink_helpers import consumed_records, produce, table_rows

from connectors.postgres import read_models as rm
from connectors.postgres.projection import NOT_CREATING
from connectors.postgres.sink import SINK_LOCK, SinkBusy, SinkOptions, run_sink
from replay.projections import rebuild_projections
from schemas.examples import example_event
from schemas.names import ORDER_EVENT
from settings import Settings
from tests.kit.order_stream import Produced, SampleStream
from topics.admin import physical_name
from topics.catalogue import DEAD_LETTERS, ORDERS_EVENTS, PORTFOLIO_POSITIONS, VENUE_EXECUTIONS
from topics.client import AvroProducer, read_events, read_topic

pytestmark = pytest.mark.integration

DRAIN = SinkOptions(until_end=True, batch_size=97)  # small batches: many transactions, boundaries everywhere


def _drain(settings: Settings, options: SinkOptions = DRAIN) -> dict[str, object]:
    return run_sink(settings, max_seconds=60, options=options).as_json()


def _expected(records: list[Produced]) -> dict[str, int]:
    events = [p.record for p in records if p.schema == ORDER_EVENT]
    return {
        "order_events": len(events),
        "orders": len({e["order_id"] for e in events if e["event_type"] not in NOT_CREATING}),
        "fills": len({(e["order_id"], e["fill_id"]) for e in events if e["fill_id"]}),
        "positions": len({p.key for p in records if p.topic == PORTFOLIO_POSITIONS}),
    }


def _counts(conninfo: str) -> dict[str, int]:
    with psycopg.connect(conninfo) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in ("order_events", "orders", "fills", "positions")
        }


def test_events_produced_to_real_topics_appear_in_the_tables(sink_settings: Settings) -> None:
    records = SampleStream(35, run="live").records()
    produce(sink_settings, records)
    stats = _drain(sink_settings)
    database = sink_settings.database_url
    assert stats["caught_up"] and stats["consumed"] == len(records) and stats["dead_letters"] == 0
    assert _counts(database) == _expected(records)
    with psycopg.connect(database) as conn:
        events = [p.record for p in records if p.schema == ORDER_EVENT]
        real = {e["order_id"] for e in events if e["event_type"] not in NOT_CREATING}
        last = {e["order_id"]: e for e in events if e["event_type"] != "DUPLICATE_REJECTED" and e["order_id"] in real}
        for order_id, event in last.items():
            order = rm.get_order(conn, order_id)
            assert order is not None
            assert (order.status, order.version, order.cum_quantity, order.avg_price, order.quantity, order.price) == (
                event["status"],
                event["version"],
                event["cum_quantity"],
                event["avg_price"],
                event["quantity"],
                event["price"],
            )
        history = rm.order_events(conn, "live-ord-000002")  # the amended one
        assert [e.event_type for e in history] == [
            "PENDING_NEW",
            "ACCEPTED",
            "PENDING_REPLACE",
            "REPLACED",
            "PARTIALLY_FILLED",
            "FILLED",
        ]
        assert [e.sequence for e in history] == [1, 2, 3, 4, 5, 6]
        assert history[3].event["quantity"] == rm.get_order(conn, "live-ord-000002").quantity  # type: ignore[union-attr]
        denied = rm.get_order(conn, "live-ord-000003")
        assert denied is not None and (denied.status, denied.last_reason) == ("REJECTED", "QUANTITY_LIMIT")
        assert rm.get_order(conn, "live-ord-000007") is None  # a cancel of an unknown order id is no order …
        assert [e.event_type for e in rm.order_events(conn, "live-ord-000007")] == ["CANCEL_REJECTED"]  # … but told
        duplicate = rm.get_order(conn, "live-ord-000006")
        assert duplicate is not None and duplicate.status == "FILLED" and duplicate.event_count == 5
        fills = rm.list_fills(conn, limit=1000).items
        assert all(f.side is not None and f.venue == "sim" and f.order_event_id and f.execution_event_id for f in fills)
        final_positions = {p.key: p.record for p in records if p.topic == PORTFOLIO_POSITIONS}
        for position in rm.positions(conn):
            expected = final_positions[f"{position.account}|{position.symbol}"]
            assert (position.quantity, position.cash, position.version) == (
                expected["quantity"],
                expected["cash"],
                expected["version"],
            )
        stored = dict(
            ((t, p), o)
            for t, p, o in conn.execute("SELECT topic, partition, next_offset FROM projection_offsets").fetchall()
        )
    ends: Counter[tuple[str, int]] = Counter()
    for topic in (ORDERS_EVENTS, VENUE_EXECUTIONS, PORTFOLIO_POSITIONS):
        for record in read_topic(sink_settings, topic):
            ends[(record.topic, record.partition)] = max(ends[(record.topic, record.partition)], record.offset + 1)
    assert stored == dict(ends)


def test_a_second_run_resumes_from_the_stored_offsets_and_adds_only_new_events(sink_settings: Settings) -> None:
    first, second = SampleStream(14, run="a").records(), SampleStream(14, run="b").records()
    produce(sink_settings, first)
    assert _drain(sink_settings)["consumed"] == len(first)
    assert _drain(sink_settings)["consumed"] == 0
    produce(sink_settings, second)
    again = _drain(sink_settings)
    assert again["consumed"] == len(second) and again["duplicates"] == 0
    assert _counts(sink_settings.database_url) == {
        k: v + w for (k, v), w in zip(_expected(first).items(), _expected(second).values(), strict=True)
    }


def test_an_order_event_delivered_twice_upstream_is_projected_once(sink_settings: Settings) -> None:
    records = SampleStream(7, run="dup").records()
    produce(sink_settings, records)
    events = [p for p in records if p.schema == ORDER_EVENT]
    produce(sink_settings, events[:5])  # an at-least-once producer repeating itself
    stats = _drain(sink_settings)
    assert stats["duplicates"] == 5
    assert _counts(sink_settings.database_url) == _expected(records)


def test_malformed_records_reach_the_dead_letters_and_the_sink_goes_on(sink_settings: Settings) -> None:
    records = SampleStream(7, run="ok").records()
    producer = AvroProducer(sink_settings)
    producer.produce_raw(ORDERS_EVENTS, "acct", b"\xc3\x01not avro at all")
    producer.produce(VENUE_EXECUTIONS, "acct", ORDER_EVENT, example_event(ORDER_EVENT, 90))  # wrong topic
    producer.produce_raw(PORTFOLIO_POSITIONS, "acct|BTCUSDT", None)  # a tombstone
    fill = example_event(ORDER_EVENT, 91, fill_id=None)  # a fill without its id
    producer.produce(ORDERS_EVENTS, fill["account"], ORDER_EVENT, fill)
    nul = example_event(ORDER_EVENT, 92, detail="bad\x00byte")
    producer.produce(ORDERS_EVENTS, nul["account"], ORDER_EVENT, nul)
    producer.flush()
    produce(sink_settings, records)
    stats = _drain(sink_settings)
    assert stats["dead_letters"] == 5 and stats["consumed"] == len(records) + 5
    assert _counts(sink_settings.database_url) == _expected(records)
    letters = read_events(sink_settings, DEAD_LETTERS)
    reasons = Counter((d.record["source_topic"], d.record["reason"]) for d in letters)
    orders_topic = physical_name(sink_settings, ORDERS_EVENTS)
    assert reasons == {
        (orders_topic, "UNDECODABLE"): 1,
        (orders_topic, "INVALID_RECORD"): 2,
        (physical_name(sink_settings, VENUE_EXECUTIONS), "INVALID_RECORD"): 1,
        (physical_name(sink_settings, PORTFOLIO_POSITIONS), "INVALID_RECORD"): 1,
    }
    assert all(d.record["stage"] == "sink.postgres" for d in letters)
    assert any(d.record["value"] == b"\xc3\x01not avro at all" for d in letters)


def test_rebuild_equals_the_live_build(sink_settings: Settings) -> None:
    """Live: the sink runs while the stream arrives in parts; then the rebuild replays it all from empty."""
    import threading

    records = SampleStream(70, run="rb").records()
    assert {"FILLED", "CANCELLED", "REPLACED", "REJECTED", "DENIED"} <= {p.record.get("event_type") for p in records}
    stop = threading.Event()
    live = threading.Thread(
        target=run_sink,
        args=(sink_settings, 120, stop),
        kwargs={"options": SinkOptions(batch_size=13, poll_timeout_s=0.01)},
    )
    live.start()
    try:
        for start in range(0, len(records), 40):
            produce(sink_settings, records[start : start + 40])
        database = sink_settings.database_url
        _wait_for(lambda: consumed_records(database) == len(records), 30)
    finally:
        stop.set()
        live.join(30)
    built_live = table_rows(database)
    report = rebuild_projections(sink_settings, batch_size=1000)
    assert report.stats.consumed == len(records) and report.tables == _expected(records)
    assert table_rows(database) == built_live


def test_rebuild_refuses_to_run_beside_a_live_sink(sink_settings: Settings) -> None:
    import threading

    stop = threading.Event()
    live = threading.Thread(target=run_sink, args=(sink_settings, 60, stop))
    live.start()
    try:
        _wait_for(lambda: _sink_holds_lock(sink_settings.database_url), 15)
        with pytest.raises(SinkBusy):
            rebuild_projections(sink_settings)
    finally:
        stop.set()
        live.join(30)


def _sink_holds_lock(conninfo: str) -> bool:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (SINK_LOCK,)).fetchone()
        free = row is not None and bool(row[0])
        if free:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SINK_LOCK,))
    return not free


def _wait_for(condition: object, timeout_s: float) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout_s} s")
        time.sleep(0.1)


def test_a_sink_that_loses_its_database_connection_resumes_without_duplicates(
    sink_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    import threading

    records = SampleStream(140, run="cut").records()
    half = len(records) // 2
    produce(sink_settings, records[:half])
    database = sink_settings.database_url
    stop = threading.Event()
    result: list[dict[str, object]] = []
    options = SinkOptions(batch_size=20, poll_timeout_s=0.01)
    live = threading.Thread(target=lambda: result.append(run_sink(sink_settings, 60, stop, options=options).as_json()))
    live.start()
    try:
        _wait_for(lambda: _counts(database)["order_events"] > 0, 15)
        with psycopg.connect(database, autocommit=True) as conn:  # the database drops the sink's session
            cut = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert cut is not None and cut[0] >= 1
        produce(sink_settings, records[half:])  # the sink needs its database again, whether it was idle or busy
        _wait_for(lambda: consumed_records(database) == len(records), 30)
    finally:
        stop.set()
        live.join(30)
    assert result and result[0]["duplicates"] == 0 and result[0]["consumed"] == len(records)
    assert "lost the database" in caplog.text  # it did reconnect, not merely finish before the cut


def test_answers_about_an_unknown_order_id_number_on_across_batches_without_a_row(sink_settings: Settings) -> None:
    ghost = {
        "order_id": "ghost-1",
        "account": "acct-g",
        "event_type": "CANCEL_REJECTED",
        "status": "REJECTED",
        "reject_reason": "UNKNOWN_ORDER",
        "version": 0,
        "quantity": 0,
        "last_quantity": 0,
    }
    for n in (1, 2):  # two cancels of the same unknown id, one batch each
        event = example_event(ORDER_EVENT, 200 + n, **ghost)
        produce(sink_settings, [Produced(ORDERS_EVENTS, "acct-g", ORDER_EVENT, event)])
        assert _drain(sink_settings)["dead_letters"] == 0
    with psycopg.connect(sink_settings.database_url) as conn:
        assert [e.sequence for e in rm.order_events(conn, "ghost-1")] == [1, 2]
        assert rm.get_order(conn, "ghost-1") is None


def test_readers_see_the_old_projection_until_a_rebuild_commits(sink_settings: Settings) -> None:
    records = SampleStream(35, run="mvcc").records()
    produce(sink_settings, records)
    _drain(sink_settings)
    database = sink_settings.database_url
    before = table_rows(database)
    seen: list[dict[str, int]] = []
    rebuild = SinkOptions(start_empty=True, until_end=True, batch_size=50, progress_every_s=0)
    run_sink(sink_settings, 60, options=rebuild, on_progress=lambda s: seen.append(_counts(database)))
    assert len(seen) > 3 and all(counts == _expected(records) for counts in seen)  # mid-rebuild: the old rows
    assert table_rows(database) == before


def test_a_rebuild_cut_short_changes_nothing(sink_settings: Settings) -> None:
    records = SampleStream(35, run="cut").records()
    produce(sink_settings, records)
    _drain(sink_settings)
    database = sink_settings.database_url
    before = table_rows(database)
    with psycopg.connect(database) as conn:
        offsets = conn.execute("SELECT * FROM projection_offsets ORDER BY 1, 2, 3").fetchall()
    batches: list[int] = []
    rebuild = SinkOptions(start_empty=True, until_end=True, batch_size=50, progress_every_s=0)
    stats = run_sink(
        sink_settings, 60, lambda: len(batches) >= 3, options=rebuild, on_progress=lambda s: batches.append(s.batches)
    )
    assert not stats.caught_up and 0 < stats.consumed < len(records)
    assert table_rows(database) == before
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT * FROM projection_offsets ORDER BY 1, 2, 3").fetchall() == offsets


def test_aborted_transactions_never_reach_the_tables_and_markers_do_not_stall_a_drain(
    sink_settings: Settings,
) -> None:
    """Processors write in Kafka transactions: read_committed skips aborted records, and a partition ending in
    commit/abort markers still counts as drained."""
    from confluent_kafka import Producer

    from schemas.codec import default_codec

    codec = default_codec()
    kept, aborted = SampleStream(14, run="kept").records(), SampleStream(14, run="gone").records()
    producer = Producer(sink_settings.kafka_config(**{"transactional.id": f"{sink_settings.topic_prefix}tx"}))
    producer.init_transactions(30)
    for records, commit in ((kept[:60], True), (aborted, False), (kept[60:], True)):
        producer.begin_transaction()
        for p in records:
            producer.produce(physical_name(sink_settings, p.topic), codec.encode(p.schema, p.record), p.key.encode())
        producer.flush(30)
        if commit:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)
    stats = _drain(sink_settings)
    assert stats["caught_up"] and stats["consumed"] == len(kept)
    assert _counts(sink_settings.database_url) == _expected(kept)


def test_offsets_stored_past_the_end_of_a_topic_stop_the_sink_with_what_to_do(sink_settings: Settings) -> None:
    """A recreated topic: resuming from the old offsets would silently skip its records."""
    from connectors.postgres.sink import SinkError

    with psycopg.connect(sink_settings.database_url) as conn:
        conn.execute(
            "INSERT INTO projection_offsets VALUES ('postgres', %s, 0, 1000)",
            (physical_name(sink_settings, ORDERS_EVENTS),),
        )
    with pytest.raises(SinkError, match="rebuild-projections"):
        _drain(sink_settings)
