"""Producing Avro events to catalogue topics and reading topics back, with confluent-kafka.

These are the plain clients tools use (demo, flow, verify, tests, benchmarks); processors run on the
runtime's engines instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from schemas.codec import Codec, Decoded, default_codec
from settings import Settings
from topics.admin import physical_name
from topics.partitioning import PARTITIONER

PRODUCER_DEFAULTS: dict[str, object] = {
    "partitioner": PARTITIONER,
    "enable.idempotence": True,  # no duplicates from producer retries
    "acks": "all",
    "linger.ms": 5,
}


class DeliveryError(RuntimeError):
    """The broker did not take a record (after librdkafka's retries)."""


class AvroProducer:
    """Encodes events with the codec and produces them to a catalogue topic by its logical name."""

    def __init__(self, settings: Settings, codec: Codec | None = None, **config: object) -> None:
        self.settings = settings
        self.codec = codec or default_codec()
        self._producer = Producer(settings.kafka_config(**{**PRODUCER_DEFAULTS, **config}))
        self._errors: list[str] = []

    def produce(self, topic: str, key: str | None, schema: str, record: Mapping[str, Any]) -> None:
        value = self.codec.encode(schema, record)
        self.produce_raw(topic, key, value)

    def produce_raw(self, topic: str, key: str | None, value: bytes | None) -> None:
        name = physical_name(self.settings, topic)
        while True:
            try:
                self._producer.produce(
                    name, value, key.encode() if key is not None else None, on_delivery=self._on_delivery
                )
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                self._producer.poll(0.05)
        self._producer.poll(0)

    def _on_delivery(self, error: KafkaError | None, _message: object) -> None:
        if error is not None:
            self._errors.append(str(error))

    def flush(self, timeout_s: float = 30.0) -> None:
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise DeliveryError(f"{remaining} records were not delivered within {timeout_s} s")
        if self._errors:
            errors, self._errors = self._errors, []
            raise DeliveryError(f"{len(errors)} records failed: {errors[0]}")


@dataclass(frozen=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None
    timestamp_ms: int


def read_topic(
    settings: Settings, topic: str, timeout_s: float = 30.0, isolation: str = "read_committed"
) -> Iterator[ConsumedRecord]:
    """Every record of a topic from the start up to its end as of the call (no consumer group)."""
    name = physical_name(settings, topic)
    consumer = Consumer(
        settings.kafka_config(
            **{
                "group.id": "sq-reader",
                "enable.auto.commit": False,
                "isolation.level": isolation,
                "enable.partition.eof": False,
            }
        )
    )
    try:
        metadata = consumer.list_topics(name, timeout=timeout_s).topics[name]
        if metadata.error is not None:
            raise RuntimeError(f"topic {name} cannot be read: {metadata.error}; did `sq topics create` run?")
        ends: dict[int, int] = {}
        assignment = []
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=timeout_s)
            if high > low:
                ends[partition] = high
                assignment.append(TopicPartition(name, partition, low))
        if not assignment:
            return
        consumer.assign(assignment)
        deadline = time.monotonic() + timeout_s
        while ends:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {name} did not reach its end within {timeout_s} s")
            for message in _arrived(consumer):
                if message.error() is not None:
                    continue  # transaction markers and EOF notices carry no record
                partition, offset = message.partition(), message.offset()
                assert partition is not None and offset is not None  # a record always has both
                key = message.key()
                yield ConsumedRecord(
                    name,
                    partition,
                    offset,
                    key.decode() if key is not None else None,
                    message.value(),
                    message.timestamp()[1],
                )
                if partition in ends and offset + 1 >= ends[partition]:
                    del ends[partition]
            # A partition whose remaining offsets are only aborted records or control markers ends early.
            for partition in list(ends):
                position = consumer.position([TopicPartition(name, partition)])[0].offset
                if position >= ends[partition]:
                    del ends[partition]
    finally:
        consumer.close()


def _arrived(consumer: Consumer) -> list[Message]:
    """Wait for the first record only, then take what has arrived: consume(500, t) holds a partial batch for the
    whole timeout (half a second for every topic a tool reads)."""
    messages = consumer.consume(1, timeout=0.5)
    return messages + consumer.consume(499, timeout=0) if messages else messages


def read_events(settings: Settings, topic: str, codec: Codec | None = None, timeout_s: float = 30.0) -> list[Decoded]:
    codec = codec or default_codec()
    return [codec.decode(r.value) for r in read_topic(settings, topic, timeout_s) if r.value is not None]
