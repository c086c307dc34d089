"""Reading broadcast inputs up to their end: shared by both engines (rebuilds and the barrier)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import Consumer, Message, TopicPartition

log = logging.getLogger(__name__)


def read_to_end(
    consumer: Consumer,
    partitions: list[TopicPartition],
    wait_s: float,
    apply: Callable[[list[Message]], None],
    batch_size: int = 500,
) -> bool:
    """Hand ``apply`` the records of ``partitions`` up to their end offsets as of now; False if ``wait_s``
    ran out first (an open transaction holds the readable end back)."""
    ends = {}
    for tp in partitions:
        low, high = consumer.get_watermark_offsets(tp, timeout=5, cached=False)
        if high > low:  # an empty partition has nothing to wait for (and its position stays unset)
            ends[tp.partition, tp.topic] = high
    waiting = [tp for tp in partitions if (tp.partition, tp.topic) in ends]
    deadline = time.monotonic() + wait_s
    while waiting:
        positions = consumer.position(waiting)
        if all(p.offset >= ends[p.partition, p.topic] for p in positions):
            return True
        if time.monotonic() > deadline:
            log.warning("broadcast input not read to its end within %.1f s", wait_s)
            return False
        messages = consumer.consume(batch_size, 0.005)
        if messages:
            apply(messages)
    return True


def assign_from_start(consumer: Consumer, topics: list[str]) -> list[TopicPartition]:
    """Assign every partition of the (physical) topics from offset 0; return them."""
    assignment = []
    for name in topics:
        metadata = consumer.list_topics(name, timeout=30).topics[name]
        assignment += [TopicPartition(name, p, 0) for p in metadata.partitions]
    consumer.assign(assignment)
    return [TopicPartition(tp.topic, tp.partition) for tp in assignment]
