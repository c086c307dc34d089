"""Fetch records from Kafka at exact offsets: one consumer, every wanted partition assigned at once.

Within a partition the wanted offsets are read in ascending order; a gap longer than ``SEEK_GAP`` records is
jumped with a seek (one fetch round trip), a shorter one is read through (cheaper than a round trip).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping, Sequence

from confluent_kafka import Consumer, Message, TopicPartition

from settings import Settings
from topics.client import ConsumedRecord

SEEK_GAP = 200


class MissingRecords(RuntimeError):
    """Offsets the index names that the topics no longer hold (retention, a recreated topic)."""


def audit_consumer(settings: Settings) -> Consumer:
    """A consumer for reading records at chosen offsets: no group membership, nothing committed, committed
    records only, and short fetch waits (a look-up wants a few records now, not a full batch)."""
    return Consumer(
        settings.kafka_config(
            **{
                "group.id": "sq-audit",  # never joined, never committed: partitions are assigned by hand
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": False,
                "fetch.wait.max.ms": 5,
            }
        )
    )


def fetch_records(
    settings: Settings,
    wanted: Mapping[tuple[str, int], Sequence[int]],
    timeout_s: float = 10.0,
    consumer: Consumer | None = None,
) -> list[ConsumedRecord]:
    """The records at ``wanted`` offsets per (physical topic, partition), in no particular order. ``consumer``:
    one of ``audit_consumer`` to reuse (its assignment is replaced); else one is made and closed."""
    pending = {key: deque(sorted(set(offsets))) for key, offsets in wanted.items() if offsets}
    if not pending:
        return []
    own = consumer is None
    consumer = consumer or audit_consumer(settings)
    found: list[ConsumedRecord] = []
    missing: list[str] = []
    floor = {key: queue[0] for key, queue in pending.items()}  # records below it are left over from before a seek
    try:
        for name in {name for name, _ in pending}:
            # Partition leaders known before the assignment: without, the first fetch waits a metadata refresh (~1 s).
            consumer.list_topics(name, timeout=timeout_s)
        assignment = [TopicPartition(topic, partition, queue[0]) for (topic, partition), queue in pending.items()]
        consumer.assign(assignment)
        consumer.resume(assignment)  # a reused consumer may have paused these in an earlier fetch
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise MissingRecords(f"records not read within {timeout_s} s: {_describe(pending)}")
            for message in arrived(consumer, 0.1):
                if message.error() is not None:
                    continue
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                assert topic is not None and partition is not None and offset is not None  # a record has them
                key = (topic, partition)
                queue = pending.get(key)
                if queue is None or offset < floor[key]:
                    continue
                missing += _take(queue, message, found)
                if not queue:
                    del pending[key]
                    consumer.pause([TopicPartition(topic, partition)])
                elif queue[0] - offset > SEEK_GAP:
                    floor[key] = queue[0]
                    consumer.seek(TopicPartition(topic, partition, queue[0]))
    finally:
        if own:
            consumer.close()
    if missing:
        raise MissingRecords(f"the log no longer holds {', '.join(missing[:5])}")
    return found


def _take(queue: deque[int], message: Message, found: list[ConsumedRecord]) -> list[str]:
    """Keep the message when its offset is the next wanted; the wanted offsets it passed are missing."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None  # a record has them
    missing = []
    while queue and queue[0] < offset:  # skipped by the broker: gone or never committed
        missing.append(f"{topic} [{partition}] @{queue.popleft()}")
    if queue and queue[0] == offset:
        queue.popleft()
        key = message.key()
        found.append(
            ConsumedRecord(
                topic,
                partition,
                offset,
                key.decode(errors="replace") if key is not None else None,
                message.value(),
                message.timestamp()[1],
            )
        )
    return missing


def arrived(consumer: Consumer, timeout_s: float, batch: int = 500) -> list[Message]:
    """What has arrived, up to ``batch``; waits up to ``timeout_s`` for the first record only (``consume(n, t)``
    would wait the whole timeout for n records)."""
    first = consumer.poll(timeout_s)
    if first is None:
        return []
    return [first, *consumer.consume(batch - 1, 0)]


def _describe(pending: Mapping[tuple[str, int], deque[int]]) -> str:
    return ", ".join(f"{topic} [{partition}] @{list(queue)[:3]}" for (topic, partition), queue in pending.items())
