"""Produces commands to Kafka and waits for the broker's acknowledgement, so a 202 carries a real offset.

One confluent-kafka producer (idempotent, acks=all) is shared by every request; a background thread serves its
delivery callbacks. ``send_async`` (the order routes) awaits the acknowledgement on the event loop without a
thread per request: the reports one ``poll`` serves reach each waiting loop in one wake-up, so many concurrent
requests' deliveries cost one cross-thread hand-off, not one each. ``send`` blocks its (worker) thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
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

POLL_S = 0.05  # the poller's wait when nothing is in flight; a delivery report ends it at once
# Measured (docs/BENCHMARKS.md, "Read side (issue 19): API"): with linger.ms=1 an acknowledgement takes at least
# the linger (p50 1.3 ms one at a time); with 0 and Nagle off, p50 0.05 ms alone and 0.17 ms with 8 in flight.
# Concurrent requests still share produce requests: what queues while one is in flight goes out together.
LATENCY_FIRST: dict[str, object] = {"linger.ms": 0, "socket.nagle.disable": True}


class ProduceError(RuntimeError):
    """The broker did not take the record in time (HTTP 503: the command may or may not be in the log)."""


@dataclass(frozen=True, slots=True)
class Delivered:
    topic: str  # physical name
    partition: int
    offset: int


Outcome = Delivered | ProduceError
_Waiter = tuple["asyncio.Future[Delivered]", Outcome]


def _outcome(topic: str, error: KafkaError | None, message: Message) -> Outcome:
    if error is not None:
        return ProduceError(f"{topic}: {error}")
    partition, offset = message.partition(), message.offset()
    assert partition is not None and offset is not None  # set on every delivered record
    return Delivered(message.topic() or "", partition, offset)


def _settle(waiters: list[_Waiter]) -> None:
    """On the event loop: resolve each waiting request (one that timed out meanwhile is cancelled: skipped)."""
    for future, outcome in waiters:
        if future.done():
            continue
        if isinstance(outcome, ProduceError):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class CommandProducer:
    def __init__(self, settings: Settings, codec: Codec | None = None, ack_timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.codec = codec or default_codec()
        self.ack_timeout_s = ack_timeout_s  # a send waits this long for the acknowledgement, then ProduceError
        self._producer = Producer(settings.kafka_config(**{**PRODUCER_DEFAULTS, **LATENCY_FIRST}))
        # Reports for send_async's waiters, by loop: filled by the callbacks poll() serves (the poller thread
        # only, which is the only thread that polls), handed to each loop once the poll returns.
        self._ready: defaultdict[asyncio.AbstractEventLoop, list[_Waiter]] = defaultdict(list)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_forever, name="api-producer-poll", daemon=True)
        self._poller.start()

    def send(
        self, topic: str, key: str, schema: str, record: Mapping[str, Any], timeout_s: float | None = None
    ) -> Delivered:
        """Blocks until the broker has the record (acks=all); for routes served on worker threads."""
        timeout_s = self.ack_timeout_s if timeout_s is None else timeout_s
        future: Future[Delivered] = Future()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            outcome = _outcome(topic, error, message)
            if isinstance(outcome, ProduceError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

        self._produce(topic, key, schema, record, on_delivery)
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            raise ProduceError(f"{topic}: no acknowledgement within {timeout_s} s") from None

    async def send_async(
        self, topic: str, key: str, schema: str, record: Mapping[str, Any], timeout_s: float | None = None
    ) -> Delivered:
        """Awaits the broker's acknowledgement (acks=all) on the running loop; the same guarantee as ``send``."""
        timeout_s = self.ack_timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Delivered] = loop.create_future()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            self._ready[loop].append((future, _outcome(topic, error, message)))

        self._produce(topic, key, schema, record, on_delivery)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise ProduceError(f"{topic}: no acknowledgement within {timeout_s} s") from None

    def _produce(
        self,
        topic: str,
        key: str,
        schema: str,
        record: Mapping[str, Any],
        on_delivery: Callable[[KafkaError | None, Message], None],
    ) -> None:
        value = self.codec.encode(schema, record)  # an EncodeError here is a bug of ours, not the caller's
        try:
            self._producer.produce(physical_name(self.settings, topic), value, key.encode(), on_delivery=on_delivery)
        except BufferError:
            raise ProduceError("the producer's queue is full; retry shortly") from None
        except KafkaException as error:  # refused before queueing (e.g. the topic is unknown to the client)
            raise ProduceError(f"{topic}: {error}") from None

    def list_topics(self, timeout_s: float) -> ClusterMetadata:
        """The cluster's metadata: raises when no broker answers within ``timeout_s`` (readiness)."""
        metadata: ClusterMetadata = self._producer.list_topics(timeout=timeout_s)
        return metadata

    def _poll_forever(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(POLL_S)
            self._hand_over()

    def _hand_over(self) -> None:
        """Each loop's settled waiters in one call_soon_threadsafe (one wake-up of that loop)."""
        if not self._ready:
            return
        ready, self._ready = self._ready, defaultdict(list)
        for loop, waiters in ready.items():
            try:
                loop.call_soon_threadsafe(_settle, waiters)
            except RuntimeError:  # that loop is closed: its requests are gone
                continue

    def close(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._poller.join(timeout_s)
        self._producer.flush(timeout_s)  # serves the last callbacks here, now that the poller has stopped
        self._hand_over()
