"""A symbol's recorded market data over a time range: its md.trades or md.book.top records, read once.

Both topics are keyed by symbol, so a symbol's records are in one partition. The read starts where the
broker's time index puts the range's start (``offsets_for_times`` on record timestamps) less ``SEEK_SLACK_US``,
since a record's timestamp is when it was produced, not its event time (a live feed's records trail the
venue's clock by its latency; records replayed from a file (`sq feed file`) carry old event times and new
timestamps, so they all lie after the start). Records are kept by their own event time. The read stops once
it is past the time index's offset for the range's end (plus the slack) and has seen a record of the symbol
after the range, or at the partition's end as the read began: for live data the cost is the partition's
records over the range, for replayed data what was replayed up to the range's end.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Final

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from connectors.marketdata.views import MarketDataUnreadable
from schemas.codec import Codec, default_codec
from schemas.errors import DecodeError
from settings import Settings
from topics.admin import physical_name
from topics.catalogue import spec_for
from topics.partitioning import partition_for

SEEK_SLACK_US: Final = 60_000_000  # event time may lead or trail the record timestamp by up to this
BATCH: Final = 1000


def symbol_records(
    settings: Settings,
    topic: str,
    symbol: str,
    *,
    from_us: int,
    to_us: int,
    timeout_s: float = 30.0,
    codec: Codec | None = None,
) -> list[dict[str, Any]]:
    """The decoded records of ``symbol`` on ``topic`` (a symbol-keyed catalogue topic) with an event time in
    ``[from_us, to_us]``, in log order. An empty list when the topic does not exist (nothing was recorded);
    ``MarketDataUnreadable`` when the broker does not answer."""
    codec = codec or default_codec()
    name = physical_name(settings, topic)
    partition = partition_for(symbol, spec_for(topic).partitions)
    consumer = Consumer(
        settings.kafka_config(
            **{
                "group.id": f"sq-history-{uuid.uuid4().hex}",  # never commits: positions are chosen
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": False,
            }
        )
    )
    try:
        try:
            bounds = _offsets(consumer, TopicPartition(name, partition), from_us, to_us, timeout_s=timeout_s)
        except KafkaException as error:
            missing = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION)
            if error.args[0].code() in missing:
                return []
            raise MarketDataUnreadable(f"cannot read {topic}: {error}") from None
        if bounds is None:
            return []
        start, index_end, high = bounds
        wanted = symbol.encode()
        found: list[dict[str, Any]] = []
        past_range = False  # a record of the symbol after the range was seen
        consumer.assign([TopicPartition(name, partition, start)])
        deadline = time.monotonic() + timeout_s
        while True:
            for message in consumer.consume(BATCH, timeout=0.1):
                value = message.value()
                if message.error() is not None or (message.offset() or 0) >= high or message.key() != wanted:
                    continue
                if value is None:
                    continue
                try:
                    record = codec.decode(value).record
                except DecodeError:
                    continue  # the processors dead-letter it; it is no market data
                event_time = record["meta"]["event_time_us"]
                if from_us <= event_time <= to_us:
                    found.append(record)
                past_range = past_range or event_time > to_us
            (position,) = consumer.position([TopicPartition(name, partition)])
            if position.offset >= high or (position.offset >= index_end and past_range):
                return found
            if time.monotonic() > deadline:
                raise MarketDataUnreadable(f"reading {topic} for {symbol} took over {timeout_s} s")
    finally:
        consumer.close()


def _offsets(
    consumer: Consumer, where: TopicPartition, from_us: int, to_us: int, *, timeout_s: float
) -> tuple[int, int, int] | None:
    """Where to start, the time index's end of the range (with the slack) and the partition's end; None when
    the partition holds nothing from the range's start on."""
    name, partition = where.topic, where.partition
    low, high = consumer.get_watermark_offsets(where, timeout=timeout_s)
    if high <= low:
        return None
    first_ms = max(0, (from_us - SEEK_SLACK_US) // 1000)
    last_ms = (to_us + SEEK_SLACK_US) // 1000 + 1
    starts, ends = (
        consumer.offsets_for_times([TopicPartition(name, partition, moment)], timeout=timeout_s)[0]
        for moment in (first_ms, last_ms)
    )
    start = max(low, starts.offset) if starts.offset >= 0 else high  # -1: no record at or after that time
    index_end = ends.offset if ends.offset >= 0 else high
    return (start, index_end, high) if high > start else None
