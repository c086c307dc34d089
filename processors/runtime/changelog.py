"""A core's state changelog: a compacted topic, one record per state key, partitioned like its keyed inputs.

The kafka engine writes what changed in the same transaction as the outputs and the consumed offsets, and
on (re)assignment reads the owned partitions back into a fresh core before it applies any event. A state
key is its record key (an account, a symbol) or ``"<record key>|<sub key>"``; it lives in the partition its
record key hashes to (``topics.partitioning``), the partition of the inputs that carry that key.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from confluent_kafka import Consumer, TopicPartition

from processors.core import Core, Record, split_state_key
from processors.runtime.state_codec import decode_state
from settings import Settings
from topics.catalogue import CHANGELOG_CONFIG, changelog_topic, spec_for
from topics.partitioning import partition_for

# consume(n, timeout) returns after n records or the timeout: a short one, so a small changelog costs its own
# reading rather than a whole wait (a restart reads several: 0.2 s each made about half of a warm restart).
RESTORE_POLL_S = 0.01


def changelog_partitions(core: Core) -> int:
    """As many as the core's keyed inputs (a core with none keeps its state in one partition)."""
    return max((spec_for(topic).partitions for topic in core.inputs), default=1)


def changelog_wanted(core: Core) -> tuple[str, int, dict[str, str]]:
    """The core's changelog as ``topics.admin.ensure_topics`` takes it."""
    return changelog_topic(core.name), changelog_partitions(core), CHANGELOG_CONFIG


def state_partition(key: str, partitions: int) -> int:
    """The changelog partition of a state key: the partition of its record key."""
    return partition_for(split_state_key(key)[0], partitions)


def read_partitions(
    settings: Settings, topic: str, partitions: list[int], timeout_s: float = 60.0
) -> Iterator[tuple[int, str, Record | None]]:
    """(partition, key, state or None for a tombstone) for every committed record, oldest first."""
    consumer = Consumer(
        settings.kafka_config(
            **{"group.id": "sq-changelog-restore", "enable.auto.commit": False, "isolation.level": "read_committed"}
        )
    )
    try:
        ends = {}
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)
            if high > low:
                ends[partition] = high
        if not ends:
            return
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        deadline = time.monotonic() + timeout_s
        while ends:
            if time.monotonic() > deadline:
                raise TimeoutError(f"restoring from {topic} did not finish within {timeout_s} s")
            for message in consumer.consume(1000, timeout=RESTORE_POLL_S):
                key, at = message.key(), message.partition()
                if message.error() is not None or key is None or at is None:
                    continue
                value = message.value()
                yield at, key.decode(), None if value is None else decode_state(value)
            positions = consumer.position([TopicPartition(topic, p) for p in ends])
            for tp in positions:
                if tp.offset >= ends[tp.partition]:
                    del ends[tp.partition]
    finally:
        consumer.close()
