"""What the API reads straight from Kafka: an account's current limits, and the live tail of order events."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from schemas.codec import Codec, default_codec
from schemas.errors import DecodeError
from settings import Settings
from topics.admin import physical_name
from topics.catalogue import ORDERS_EVENTS, RISK_LIMITS
from topics.client import read_topic

METADATA_TIMEOUT_S = 10.0


class BrokerUnavailable(RuntimeError):
    """The broker did not answer a read in time, or the topic cannot be read (HTTP 503)."""


def latest_limits(
    settings: Settings, account: str, codec: Codec | None = None, timeout_s: float = METADATA_TIMEOUT_S
) -> dict[str, Any] | None:
    """The latest RiskLimits record of an account on the (compacted) risk.limits topic, None when never set.

    The topic holds one live record per account, so reading it whole is cheap; reading it rather than a cache
    means a GET right after a PUT (which waited for the broker's acknowledgement) sees the new limits. A record
    that does not decode is skipped, as risk dead-letters it and keeps the limits it had.
    """
    codec = codec or default_codec()
    latest: dict[str, Any] | None = None
    try:
        for message in read_topic(settings, RISK_LIMITS, timeout_s=timeout_s):
            if message.key == account and message.value is not None:
                try:
                    latest = codec.decode(message.value).record
                except DecodeError:
                    continue
    except (KafkaException, RuntimeError, TimeoutError) as error:
        raise BrokerUnavailable(f"cannot read {RISK_LIMITS}: {error}") from None
    return latest


@dataclass(frozen=True, slots=True)
class TailedEvent:
    partition: int
    offset: int
    record: dict[str, Any]
    resume: str  # the stream position right after this event (encode_positions)


class OrderEventTail:
    """Follows orders.events from given positions (default: its current end) for a set of accounts.

    The starting offsets are resolved when the tail is opened, so every event written after ``open`` returns
    is delivered. ``positions`` (next offset per partition) is what a client passes back to resume.
    """

    def __init__(
        self,
        settings: Settings,
        accounts: Collection[str] | None,
        codec: Codec | None = None,
        timeout_s: float = METADATA_TIMEOUT_S,
    ) -> None:
        self.accounts = None if accounts is None else frozenset(accounts)  # None: every account
        self.codec = codec or default_codec()
        self.timeout_s = timeout_s  # for the topic's metadata and end offsets when the tail opens
        self.topic = physical_name(settings, ORDERS_EVENTS)
        self._consumer = Consumer(
            settings.kafka_config(
                **{
                    "group.id": f"sq-api-stream-{uuid.uuid4().hex}",
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "enable.partition.eof": False,
                }
            )
        )
        self.positions: dict[int, int] = {}

    def open(self, resume_from: dict[int, int] | None = None) -> None:
        metadata = self._consumer.list_topics(self.topic, timeout=self.timeout_s).topics[self.topic]
        if metadata.error is not None:
            raise RuntimeError(f"topic {self.topic} cannot be read: {metadata.error}")
        for partition in sorted(metadata.partitions):
            if resume_from is not None and partition in resume_from:
                self.positions[partition] = resume_from[partition]
            else:
                _, high = self._consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition), timeout=self.timeout_s
                )
                if high < 0:  # no leader answered yet: starting "somewhere" could skip events, so refuse
                    raise RuntimeError(f"{self.topic} partition {partition} has no end offset yet; retry")
                self.positions[partition] = high
        self._consumer.assign([TopicPartition(self.topic, p, o) for p, o in self.positions.items()])

    def poll(self, timeout_s: float) -> list[TailedEvent]:
        found: list[TailedEvent] = []
        for message in self._consumer.consume(500, timeout=timeout_s):
            if message.error() is not None:
                continue
            partition, offset = message.partition(), message.offset()
            assert partition is not None and offset is not None  # a record always has both
            self.positions[partition] = offset + 1
            key, value = message.key(), message.value()
            if value is None or (self.accounts is not None and (key is None or key.decode() not in self.accounts)):
                continue
            try:
                record = self.codec.decode(value).record
            except DecodeError:
                continue  # not an OrderEvent we can read: the dead-letter path is the processors' business
            found.append(TailedEvent(partition, offset, record, encode_positions(self.positions)))
        return found

    def close(self) -> None:
        self._consumer.close()


def encode_positions(positions: dict[int, int]) -> str:
    """``{0: 12, 1: 0}`` → ``"0:12,1:0"``: the SSE event id a client sends back as Last-Event-ID."""
    return ",".join(f"{p}:{o}" for p, o in sorted(positions.items()))


def decode_positions(text: str) -> dict[int, int]:
    positions: dict[int, int] = {}
    for part in text.split(","):
        partition, sep, offset = part.partition(":")
        if not sep or not partition.isdigit() or not offset.isdigit():
            raise ValueError(f"not a stream position: {text!r}")
        positions[int(partition)] = int(offset)
    return positions
