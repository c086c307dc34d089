"""Fetch records from Kafka at exact offsets: one consumer, every wanted partition assigned at once.

Within a partition the wanted offsets are read in ascending order; a gap longer than ``SEEK_GAP`` records is
jumped with a seek (one fetch round trip), a shorter one is read through (cheaper than a round trip).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping, Sequence

from confluent_kafka import Consumer, TopicPartition

from settings import Settings
from topics.client import ConsumedRecord

SEEK_GAP = 200


class MissingRecords(RuntimeError):
    """Offsets the index names that the topics no longer hold (retention, a recreated topic)."""


def fetch_records(
    settings: Settings, wanted: Mapping[tuple[str, int], Sequence[int]], timeout_s: float = 10.0
) -> list[ConsumedRecord]:
    """The records at ``wanted`` offsets per (physical topic, partition), in no particular order."""
    pending = {key: deque(sorted(set(offsets))) for key, offsets in wanted.items() if offsets}
    if not pending:
        return []
    consumer = Consumer(
        settings.kafka_config(
            **{
                "group.id": "sq-audit-fetch",  # never committed
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": False,
                "fetch.wait.max.ms": 5,
            }
        )
    )
    found: list[ConsumedRecord] = []
    missing: list[str] = []
    floor = {key: queue[0] for key, queue in pending.items()}  # records below it are left over from before a seek
    try:
        consumer.assign([TopicPartition(topic, partition, queue[0]) for (topic, partition), queue in pending.items()])
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise MissingRecords(f"records not read within {timeout_s} s: {_describe(pending)}")
            for message in consumer.consume(500, timeout=0.1):
                if message.error() is not None:
                    continue
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                assert topic is not None and partition is not None and offset is not None  # a record has them
                key = (topic, partition)
                queue = pending.get(key)
                if queue is None or offset < floor[key]:
                    continue
                while queue and queue[0] < offset:  # skipped by the broker: gone or never committed
                    missing.append(f"{topic} [{partition}] @{queue.popleft()}")
                if queue and queue[0] == offset:
                    queue.popleft()
                    record_key = message.key()
                    found.append(
                        ConsumedRecord(
                            topic,
                            partition,
                            offset,
                            record_key.decode(errors="replace") if record_key is not None else None,
                            message.value(),
                            message.timestamp()[1],
                        )
                    )
                if not queue:
                    del pending[key]
                    consumer.pause([TopicPartition(topic, partition)])
                elif queue[0] - offset > SEEK_GAP:
                    floor[key] = queue[0]
                    consumer.seek(TopicPartition(topic, partition, queue[0]))
    finally:
        consumer.close()
    if missing:
        raise MissingRecords(f"the log no longer holds {', '.join(missing[:5])}")
    return found


def _describe(pending: Mapping[tuple[str, int], deque[int]]) -> str:
    return ", ".join(f"{topic} [{partition}] @{list(queue)[:3]}" for (topic, partition), queue in pending.items())
