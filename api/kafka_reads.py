"""What the API reads straight from Kafka: an account's current limits, and the live tail of the streams."""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import OffsetSpec  # type: ignore[attr-defined]  # exported, untyped

from schemas.codec import Codec, default_codec
from schemas.errors import DecodeError
from schemas.statuses import FILL_EVENT_TYPES
from settings import Settings
from topics.admin import admin_client, physical_name
from topics.catalogue import MD_BOOK_TOP, ORDERS_EVENTS, PORTFOLIO_POSITIONS, RISK_LIMITS
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


class Channel(StrEnum):
    """What a stream may carry, and the topic each is read from."""

    ORDERS = "orders"  # every OrderEvent of the accounts (orders.events)
    FILLS = "fills"  # the OrderEvents that carry a fill (orders.events)
    POSITIONS = "positions"  # Position updates of the accounts (portfolio.positions)
    BOOK_TOPS = "book_tops"  # BookTop of the symbols asked for (md.book.top)


CHANNEL_TOPICS: Final = {
    Channel.ORDERS: ORDERS_EVENTS,
    Channel.FILLS: ORDERS_EVENTS,
    Channel.POSITIONS: PORTFOLIO_POSITIONS,
    Channel.BOOK_TOPS: MD_BOOK_TOP,
}

Position = tuple[str, int]  # (logical topic, partition)


@dataclass(frozen=True, slots=True)
class TailedEvent:
    channel: Channel
    topic: str  # logical name
    partition: int
    offset: int
    record: dict[str, Any]
    resume: str  # the stream position right after this event (encode_positions): a client passes it back


class StreamTail:
    """Follows the channels' topics from given positions (default: their current end), filtered to accounts
    (orders, fills, positions) and symbols (book tops).

    One consumer reads every partition of every topic; Kafka keeps each partition's order, and the position
    is kept per (topic, partition): after an event is handed out, its partition's next offset is the one
    after it. Every event carries the whole position vector at that point, so a client that resumes from
    the last event it received gets exactly what follows it in each partition: no gap, no duplicate. The
    starting offsets are resolved when the tail is opened, so every event written after ``open`` returns
    is delivered.
    """

    def __init__(
        self,
        settings: Settings,
        channels: Collection[Channel],
        accounts: Collection[str] | None,
        *,
        symbols: Collection[str] = (),
        codec: Codec | None = None,
        timeout_s: float = METADATA_TIMEOUT_S,
    ) -> None:
        self.channels = frozenset(channels)
        self.accounts = None if accounts is None else frozenset(accounts)  # None: every account
        self.symbols = frozenset(symbols)
        self.codec = codec or default_codec()
        self.timeout_s = timeout_s  # for the topics' metadata and end offsets when the tail opens
        self.topics = sorted({CHANNEL_TOPICS[channel] for channel in self.channels})
        self._logical = {physical_name(settings, topic): topic for topic in self.topics}
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
        self.positions: dict[Position, int] = {}

    def open(self, resume_from: dict[Position, int] | None = None) -> None:
        resume_from = resume_from or {}
        assignment: list[TopicPartition] = []
        for physical, topic in self._logical.items():
            metadata = self._consumer.list_topics(physical, timeout=self.timeout_s).topics[physical]
            if metadata.error is not None:
                raise RuntimeError(f"topic {physical} cannot be read: {metadata.error}")
            for partition in sorted(metadata.partitions):
                if (topic, partition) in resume_from:
                    offset = resume_from[(topic, partition)]
                else:
                    _, offset = self._consumer.get_watermark_offsets(
                        TopicPartition(physical, partition), timeout=self.timeout_s
                    )
                    if offset < 0:  # no leader answered yet: starting "somewhere" could skip events, so refuse
                        raise RuntimeError(f"{physical} partition {partition} has no end offset yet; retry")
                self.positions[(topic, partition)] = offset
                assignment.append(TopicPartition(physical, partition, offset))
        self._consumer.assign(assignment)

    def poll(self, timeout_s: float) -> list[TailedEvent]:
        found: list[TailedEvent] = []
        for message in self._consumer.consume(500, timeout=timeout_s):
            if message.error() is not None:
                continue
            topic, partition, offset = self._logical[message.topic() or ""], message.partition(), message.offset()
            assert partition is not None and offset is not None  # a record always has both
            self.positions[(topic, partition)] = offset + 1
            key, value = message.key(), message.value()
            if value is None or key is None:
                continue
            try:
                record = self.codec.decode(value).record
            except DecodeError:
                continue  # not a record we can read: the dead-letter path is the processors' business
            channel = self._channel(topic, key.decode(), record)
            if channel is not None:
                found.append(TailedEvent(channel, topic, partition, offset, record, encode_positions(self.positions)))
        return found

    def _channel(self, topic: str, key: str, record: dict[str, Any]) -> Channel | None:
        """The channel an event goes out on, None when the stream does not carry it. A fill is one message:
        on ``fills`` when asked for, else on ``orders``."""
        if topic == MD_BOOK_TOP:
            return Channel.BOOK_TOPS if key in self.symbols else None
        account = key.split("|", 1)[0]  # portfolio.positions: "account|symbol"
        if self.accounts is not None and account not in self.accounts:
            return None
        if topic == PORTFOLIO_POSITIONS:
            return Channel.POSITIONS
        if Channel.FILLS in self.channels and record["event_type"] in FILL_EVENT_TYPES:
            return Channel.FILLS
        return Channel.ORDERS if Channel.ORDERS in self.channels else None

    def close(self) -> None:
        self._consumer.close()


def encode_positions(positions: dict[Position, int]) -> str:
    """``{("orders.events", 0): 12}`` → ``"orders.events/0/12,…"``: a resume token (the SSE event id a client
    sends back as Last-Event-ID, or as ``?resume=``)."""
    return ",".join(f"{t}/{p}/{o}" for (t, p), o in sorted(positions.items()))


def decode_positions(text: str, topics: Collection[str]) -> dict[Position, int]:
    """A resume token's positions; ValueError for one this API did not write for a stream of ``topics``."""
    positions: dict[Position, int] = {}
    for part in text.split(","):
        fields = part.split("/")
        if len(fields) != 3 or fields[0] not in topics or not fields[1].isdigit() or not fields[2].isdigit():
            raise ValueError(f"not a resume token of this stream (topic/partition/offset,…): {text[:200]!r}")
        positions[(fields[0], int(fields[1]))] = int(fields[2])
    return positions


@dataclass(frozen=True, slots=True)
class RecentRecord:
    partition: int
    offset: int
    timestamp_ms: int
    schema: str  # the Avro full name the record was written with
    record: dict[str, Any]


def recent_records(
    settings: Settings,
    topic: str,
    per_partition: int,
    codec: Codec | None = None,
    timeout_s: float = METADATA_TIMEOUT_S,
) -> list[RecentRecord]:
    """The last ``per_partition`` records of each partition of ``topic`` (read from there to the end as of the
    call), oldest first by broker timestamp; records that do not decode are skipped (they are in the log)."""
    codec = codec or default_codec()
    name = physical_name(settings, topic)
    consumer = Consumer(
        settings.kafka_config(
            **{"group.id": "sq-api-recent", "enable.auto.commit": False, "isolation.level": "read_committed"}
        )
    )
    found: list[RecentRecord] = []
    try:
        metadata = consumer.list_topics(name, timeout=timeout_s).topics[name]
        if metadata.error is not None:
            raise BrokerUnavailable(f"cannot read {topic}: {metadata.error}")
        ends: dict[int, int] = {}
        assignment: list[TopicPartition] = []
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=timeout_s)
            if high > low:
                ends[partition] = high
                assignment.append(TopicPartition(name, partition, max(low, high - per_partition)))
        consumer.assign(assignment)
        deadline = time.monotonic() + timeout_s
        while ends:
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"reading {topic} did not reach its end within {timeout_s} s")
            found.extend(r for m in consumer.consume(500, timeout=0.02) if (r := _recent(m, codec)) is not None)
            for partition in list(ends):  # past the last record, or only markers and aborted records remain
                if consumer.position([TopicPartition(name, partition)])[0].offset >= ends[partition]:
                    del ends[partition]
    except KafkaException as error:
        raise BrokerUnavailable(f"cannot read {topic}: {error}") from None
    finally:
        consumer.close()
    return sorted(found, key=lambda r: (r.timestamp_ms, r.partition, r.offset))


def _recent(message: Message, codec: Codec) -> RecentRecord | None:
    """A consumed message as a RecentRecord; None for markers, tombstones and records that do not decode."""
    partition, offset, value = message.partition(), message.offset(), message.value()
    if message.error() is not None or partition is None or offset is None or value is None:
        return None
    try:
        decoded = codec.decode(value)
    except DecodeError:
        return None
    return RecentRecord(partition, offset, message.timestamp()[1], decoded.schema, decoded.record)


@dataclass(frozen=True, slots=True)
class GroupLag:
    group: str
    committed: int  # offsets of the inputs the group has committed past, summed over partitions
    lag_records: int  # offsets of the inputs not committed yet


def group_lags(settings: Settings, inputs: Mapping[str, Collection[str]], timeout_s: float) -> list[GroupLag]:
    """How far each consumer group (physical name → its logical input topics) is behind the read_committed
    ends of its inputs; groups that never committed are left out. One admin client, its requests in flight
    together: the ends in one request, each group's committed offsets in one each."""
    admin = admin_client(settings)
    try:
        metadata = admin.list_topics(timeout=timeout_s).topics
        partitions = {
            group: [
                TopicPartition(name, p)
                for name in (physical_name(settings, topic) for topic in topics)
                if name in metadata
                for p in sorted(metadata[name].partitions)
            ]
            for group, topics in inputs.items()
        }
        wanted = {(tp.topic, tp.partition) for tps in partitions.values() for tp in tps}
        ends_future = admin.list_offsets(
            {TopicPartition(topic, p): OffsetSpec.latest() for topic, p in wanted},  # type: ignore[no-untyped-call]
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=timeout_s,
        )
        committed_futures = {
            group: admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group, tps)], request_timeout=timeout_s
            )[group]
            for group, tps in partitions.items()
            if tps
        }
        ends = {(tp.topic, tp.partition): f.result(timeout=timeout_s).offset for tp, f in ends_future.items()}
        lags: list[GroupLag] = []
        for group, future in committed_futures.items():
            committed = {
                (tp.topic, tp.partition): tp.offset for tp in future.result(timeout=timeout_s).topic_partitions
            }
            if all(offset < 0 for offset in committed.values()):
                continue  # never committed (librdkafka answers -1001)
            behind = sum(max(ends[key] - max(offset, 0), 0) for key, offset in committed.items() if key in ends)
            lags.append(GroupLag(group, sum(o for o in committed.values() if o >= 0), behind))
        return lags
    except (KafkaException, TimeoutError) as error:
        raise BrokerUnavailable(f"cannot read the consumer groups' offsets: {error}") from None
