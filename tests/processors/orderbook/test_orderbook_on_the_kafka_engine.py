"""The order book core on the transactional Kafka engine: the records it publishes are the records an
in-process replay of the same topics gives, across a restart from the changelog."""

from __future__ import annotations

import pytest
from _book_builders import analytics, run, session, tops, without_ingest_time

from processors.core import Emit
from processors.orderbook.core import OrderBookCore
from processors.runtime.kafka_engine import EngineOptions, EngineStats, KafkaEngine
from schemas.names import BOOK_TOP, MARKET_ANALYTICS
from settings import Settings
from topics.catalogue import MD_ANALYTICS, MD_BOOK_TOP, MD_DEPTH, MD_TRADES
from topics.client import AvroProducer, read_events

pytestmark = pytest.mark.integration


def _run_until_consumed(settings: Settings, count: int) -> EngineStats:
    engine = KafkaEngine([OrderBookCore], settings, EngineOptions(worker=0, batch_size=50))

    def stop_when_done(stats: EngineStats) -> None:
        if stats.consumed >= count:
            engine.stop()

    engine.run(max_seconds=60, on_batch=stop_when_done)
    return engine.stats


def _published(settings: Settings, topic: str, schema: str) -> list[Emit]:
    return [Emit(topic, d.record["symbol"], schema, d.record) for d in read_events(settings, topic)]


def test_engine_publishes_what_an_in_process_replay_computes(catalogue_topics: Settings) -> None:
    settings = catalogue_topics
    events = session(17, 1200)  # about 25 s of event time: book tops on change and 1 s analytics
    producer = AvroProducer(settings)
    # All depth first, then all trades: the engine reads the two topics in whatever interleaving it gets.
    for event in [e for e in events if e.topic == MD_DEPTH] + [e for e in events if e.topic == MD_TRADES]:
        producer.produce(event.topic, event.key, event.schema, event.record)
    producer.flush()

    first = _run_until_consumed(settings, len(events) // 2)
    second = _run_until_consumed(settings, len(events) - first.consumed)  # a new worker: state from the changelog
    assert second.restored_keys == 1 and first.dead_letters == second.dead_letters == 0

    expected = run(OrderBookCore(), events)
    live_tops = [emit.record for emit in _published(settings, MD_BOOK_TOP, BOOK_TOP)]
    live_analytics = [emit.record for emit in _published(settings, MD_ANALYTICS, MARKET_ANALYTICS)]
    assert without_ingest_time(live_tops) == without_ingest_time(tops(expected))
    assert len(analytics(expected)) >= 20
    assert without_ingest_time(live_analytics) == without_ingest_time(analytics(expected))
