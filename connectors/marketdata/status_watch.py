"""The feed's ear on md.feed.status: the FeedStatus records published there from the moment it starts listening.

``BinanceClient`` polls it and hands each record to ``BinanceFeed.on_feed_status``, which tells a resync
request (the order book processor's ``GAP_DETECTED``) from everything else. Reading starts at each
partition's end as of the start: a request made before the feed session existed names an epoch the session
never published, and the session's first snapshots answer it anyway. The consumer reads committed records
only (the processor publishes in transactions), assigns the partitions itself and commits nothing, so it
joins no consumer group.
"""

from __future__ import annotations

import threading
from typing import Final

from confluent_kafka import Consumer, TopicPartition

from processors.core import Record
from schemas.codec import Codec, default_codec
from schemas.errors import SerializationError
from schemas.names import FEED_STATUS
from settings import Settings
from topics.admin import physical_name
from topics.catalogue import MD_FEED_STATUS

MAX_RECORDS_PER_POLL: Final = 500


class FeedStatusWatch:
    def __init__(self, settings: Settings, codec: Codec | None = None, timeout_s: float = 30.0) -> None:
        self.codec = codec or default_codec()
        self.skipped = 0  # records that were not a decodable FeedStatus
        self._lock = threading.Lock()  # poll runs in a worker thread: close waits for a poll in flight
        self._closed = False
        name = physical_name(settings, MD_FEED_STATUS)
        self._consumer = Consumer(
            settings.kafka_config(
                **{
                    "group.id": "sq-feed-status-watch",  # required by the client; never joined, never committed
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "enable.partition.eof": False,
                }
            )
        )
        try:
            metadata = self._consumer.list_topics(name, timeout=timeout_s).topics[name]
            if metadata.error is not None:
                raise RuntimeError(f"topic {name} cannot be read: {metadata.error}; did `sq topics create` run?")
            starts = []
            for partition in sorted(metadata.partitions):
                _, high = self._consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=timeout_s)
                starts.append(TopicPartition(name, partition, high))
            self._consumer.assign(starts)
        except BaseException:
            self._consumer.close()
            raise

    def poll(self, timeout_s: float) -> list[Record]:
        """The FeedStatus records that arrived, waiting up to ``timeout_s`` for the first one (blocking)."""
        with self._lock:
            if self._closed:
                return []
            messages = self._consumer.consume(MAX_RECORDS_PER_POLL, timeout=timeout_s)
        records: list[Record] = []
        for message in messages:
            value = message.value()
            if message.error() is not None or value is None:
                continue  # transaction markers and notices carry no record
            try:
                decoded = self.codec.decode(value)
            except SerializationError:
                self.skipped += 1
                continue
            if decoded.schema != FEED_STATUS:
                self.skipped += 1
                continue
            records.append(decoded.record)
        return records

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._consumer.close()
