"""Produces commands to Kafka and waits for the broker's acknowledgement, so a 202 carries a real offset.

One confluent-kafka producer (idempotent, acks=all) is shared by every request thread; a background thread
serves its delivery callbacks, which resolve each request's future.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import ClusterMetadata  # type: ignore[attr-defined]  # not in its __all__

from schemas.codec import Codec, default_codec
from settings import Settings
from topics.admin import physical_name
from topics.client import PRODUCER_DEFAULTS


class ProduceError(RuntimeError):
    """The broker did not take the record in time (HTTP 503: the command may or may not be in the log)."""


@dataclass(frozen=True, slots=True)
class Delivered:
    topic: str  # physical name
    partition: int
    offset: int


class CommandProducer:
    def __init__(
        self, settings: Settings, codec: Codec | None = None, linger_ms: int = 1, ack_timeout_s: float = 10.0
    ) -> None:
        self.settings = settings
        self.codec = codec or default_codec()
        self.ack_timeout_s = ack_timeout_s  # a send waits this long for the acknowledgement, then ProduceError
        self._producer = Producer(settings.kafka_config(**{**PRODUCER_DEFAULTS, "linger.ms": linger_ms}))
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_forever, name="api-producer-poll", daemon=True)
        self._poller.start()

    def send(
        self, topic: str, key: str, schema: str, record: Mapping[str, Any], timeout_s: float | None = None
    ) -> Delivered:
        timeout_s = self.ack_timeout_s if timeout_s is None else timeout_s
        value = self.codec.encode(schema, record)  # an EncodeError here is a bug of ours, not the caller's
        future: Future[Delivered] = Future()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                future.set_exception(ProduceError(f"{topic}: {error}"))
            else:
                partition, offset = message.partition(), message.offset()
                assert partition is not None and offset is not None  # set on every delivered record
                future.set_result(Delivered(message.topic() or "", partition, offset))

        try:
            self._producer.produce(physical_name(self.settings, topic), value, key.encode(), on_delivery=on_delivery)
        except BufferError:
            raise ProduceError("the producer's queue is full; retry shortly") from None
        except KafkaException as error:  # refused before queueing (e.g. the topic is unknown to the client)
            raise ProduceError(f"{topic}: {error}") from None
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            raise ProduceError(f"{topic}: no acknowledgement within {timeout_s} s") from None

    def list_topics(self, timeout_s: float) -> ClusterMetadata:
        """The cluster's metadata: raises when no broker answers within ``timeout_s`` (readiness)."""
        metadata: ClusterMetadata = self._producer.list_topics(timeout=timeout_s)
        return metadata

    def _poll_forever(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout_s)
        self._stop.set()
        self._poller.join(timeout_s)
