"""The OMS core on the transactional Kafka engine: records in and out, and its orders back from the changelog."""

from __future__ import annotations

import pytest
from _oms_builders import ACCOUNT, SYMBOL, Q, decision, fill, new_order, report

from processors.oms import OmsCore
from processors.oms.orders import ARCHIVED
from processors.runtime.changelog import changelog_partitions, read_partitions
from processors.runtime.kafka_engine import EngineOptions, EngineStats, KafkaEngine
from settings import Settings
from topics.admin import physical_name
from topics.catalogue import ORDERS_EVENTS, RISK_DECISIONS, VENUE_EXECUTIONS, VENUE_ORDERS, changelog_topic
from topics.client import AvroProducer, read_events

pytestmark = pytest.mark.integration


def _run_until_consumed(settings: Settings, count: int) -> EngineStats:
    """One OMS worker, run until it has consumed ``count`` records (committed batch by batch), then stopped."""
    engine = KafkaEngine([OmsCore], settings, EngineOptions(worker=0, batch_size=50))

    def stop_when_done(stats: EngineStats) -> None:
        if stats.consumed >= count:
            engine.stop()

    engine.run(max_seconds=60, on_batch=stop_when_done)
    return engine.stats


def test_oms_worker_restarted_takes_its_orders_back_from_the_changelog(catalogue_topics: Settings) -> None:
    settings = catalogue_topics
    producer = AvroProducer(settings)
    command = new_order("c-1", quantity=2 * Q)
    order_id = command[1]["order_id"]
    decided = decision(command)
    producer.produce(RISK_DECISIONS, ACCOUNT, decided.schema, decided.record)
    producer.flush()
    assert _run_until_consumed(settings, 1).consumed == 1

    # A second worker of the same slot: it knows the order only from the changelog the first one wrote.
    last_fill = fill(order_id, 2 * Q, fill_id="f-1")
    for event in (report(order_id, "ACK", leaves=2 * Q), last_fill, last_fill):
        producer.produce(VENUE_EXECUTIONS, ACCOUNT, event.schema, event.record)
    producer.flush()
    stats = _run_until_consumed(settings, 3)
    assert stats.consumed == 3 and stats.restored_keys >= 1 and stats.dead_letters == 0

    events = [decoded.record for decoded in read_events(settings, ORDERS_EVENTS)]
    assert [(e["event_type"], e["status"], e["cum_quantity"]) for e in events] == [
        ("PENDING_NEW", "PENDING_NEW", 0),
        ("ACCEPTED", "NEW", 0),
        ("FILLED", "FILLED", 2 * Q),  # once: the repeated fill id is ignored
    ]
    # The changelog holds the order under its own sub key, never the account as one record.
    changelog = physical_name(settings, changelog_topic(OmsCore.name))
    partitions = list(range(changelog_partitions(OmsCore())))
    written = [(key, state) for _, key, state in read_partitions(settings, changelog, partitions)]
    assert {key for key, _ in written} == {f"{ACCOUNT}|{order_id}"}
    assert written[0][1] is not None and "order" in written[0][1]  # working after the first run
    assert written[-1][1] is not None and written[-1][1]["done"][ARCHIVED.index("status")] == "FILLED"

    (sent,) = [decoded.record for decoded in read_events(settings, VENUE_ORDERS)]
    assert (sent["action"], sent["symbol"], sent["risk_decision_id"]) == (
        "NEW",
        SYMBOL,
        decided.record["meta"]["event_id"],
    )
