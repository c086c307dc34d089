"""A processor's state changelog: a compacted topic, one record per state key, partitioned like its inputs.

The kafka engine writes what changed in the same transaction as the outputs and the consumed offsets, and
on (re)assignment reads the assigned partitions back into the core before it applies any event.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import NewTopic

from processors.core import Core, Record
from settings import Settings
from topics.admin import ADMIN_TIMEOUT_S, admin_client, physical_name, wait_for_leaders
from topics.catalogue import spec_for


def changelog_name(settings: Settings, processor: str) -> str:
    return physical_name(settings, f"sq.{processor}.changelog")


def changelog_partitions(core: Core) -> int:
    return max(spec_for(topic).partitions for topic in core.inputs)


def ensure_changelog(settings: Settings, core: Core) -> str:
    name = changelog_name(settings, core.name)
    admin = admin_client(settings)
    if name not in admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics:
        topic = NewTopic(
            name,
            changelog_partitions(core),
            replication_factor=-1,
            config={"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
        )
        try:
            admin.create_topics([topic], operation_timeout=ADMIN_TIMEOUT_S)[name].result()
        except Exception as error:  # another worker created it first
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise
        wait_for_leaders(settings, [name])
    return name


def encode_state(state: Record | None) -> bytes | None:
    return None if state is None else json.dumps(state, separators=(",", ":")).encode()


def decode_state(value: bytes) -> Record:
    state: dict[str, Any] = json.loads(value)
    return state


def read_partitions(
    settings: Settings, topic: str, partitions: list[int], timeout_s: float = 60.0
) -> Iterator[tuple[int, str, Record | None]]:
    """(partition, key, state or None for a tombstone) for every committed record, oldest first."""
    consumer = Consumer(
        settings.kafka_config(
            **{
                "group.id": "sq-changelog-restore",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
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
            for message in consumer.consume(1000, timeout=0.2):
                if message.error() is not None or message.key() is None:
                    continue
                value = message.value()
                yield message.partition(), message.key().decode(), None if value is None else decode_state(value)
            positions = consumer.position([TopicPartition(topic, p) for p in ends])
            for tp in positions:
                if tp.offset >= ends[tp.partition]:
                    del ends[tp.partition]
    finally:
        consumer.close()
