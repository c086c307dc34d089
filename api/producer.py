"""Produces commands to Kafka and waits for the broker's acknowledgement, so a 202 carries a real offset.

One confluent-kafka producer (idempotent, acks=all) is shared by every request. ``send_async`` (POST
/v1/orders) awaits the acknowledgement on the event loop, and while any such send is in flight the loop itself
polls the producer every ``LOOP_POLL_S``: one ``poll`` serves every report that arrived meanwhile, so many
concurrent requests' deliveries cost one call, and no other thread has to take the GIL and wake the loop for
them. ``send`` (the routes served on worker threads) blocks its thread; a background thread polls while such
a send is in flight, and hands any async report it serves to its loop in one wake-up per poll.
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

POLL_S = 0.05  # the poller thread's wait; a delivery report ends it at once
LOOP_POLL_S = 0.0005  # the loop's poll interval while sends are in flight (asyncio rounds it up to 1 ms)
# Measured (docs/BENCHMARKS.md, "Read side (issue 19): API"): Nagle off takes the acknowledgement of 8 sends in
# flight from p99 6.0 to 2.0 ms. linger.ms 0 would answer a lone send in 0.05 ms instead of 1.3, but under
# the POST burst each produce() then contends with librdkafka's sender for the partition queue while holding the
# GIL (41 % of the API loop's busy samples in py-spy, against 9 % with 1 ms).
LATENCY_FIRST: dict[str, object] = {"linger.ms": 1, "socket.nagle.disable": True}


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
        # Reports for send_async's waiters that another thread's poll served, by loop, handed to each loop once
        # that poll returns.
        self._ready: defaultdict[asyncio.AbstractEventLoop, list[_Waiter]] = defaultdict(list)
        self._ready_lock = threading.Lock()
        self._async_in_flight = 0  # touched on the event loop only
        self._loop_poll: asyncio.TimerHandle | None = None
        self._sync_in_flight = 0
        self._sync_lock = threading.Lock()
        self._sync_waiting = threading.Event()  # set while a blocking send waits: the poller thread polls
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
        with self._sync_lock:
            self._sync_in_flight += 1
            self._sync_waiting.set()
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            raise ProduceError(f"{topic}: no acknowledgement within {timeout_s} s") from None
        finally:
            with self._sync_lock:
                self._sync_in_flight -= 1
                if not self._sync_in_flight:
                    self._sync_waiting.clear()

    async def send_async(
        self, topic: str, key: str, schema: str, record: Mapping[str, Any], timeout_s: float | None = None
    ) -> Delivered:
        """Awaits the broker's acknowledgement (acks=all) on the running loop; the same guarantee as ``send``."""
        timeout_s = self.ack_timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        future: asyncio.Future[Delivered] = loop.create_future()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if threading.get_ident() == loop_thread:  # served by the loop's own poll (or close's flush)
                _settle([(future, _outcome(topic, error, message))])
            else:  # served by the poller thread (a blocking send was waiting too) or another loop's poll
                with self._ready_lock:
                    self._ready[loop].append((future, _outcome(topic, error, message)))

        self._produce(topic, key, schema, record, on_delivery)
        self._async_in_flight += 1
        self._arm(loop)
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            raise ProduceError(f"{topic}: no acknowledgement within {timeout_s} s") from None
        finally:
            self._async_in_flight -= 1

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop_poll is None:
            self._loop_poll = loop.call_later(LOOP_POLL_S, self._poll_on_loop, loop)

    def _poll_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop_poll = None
        self._producer.poll(0)  # serves the reports that arrived; never blocks the loop
        self._hand_over()
        if self._async_in_flight:
            self._arm(loop)

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
            if self._sync_waiting.wait(POLL_S):
                self._producer.poll(POLL_S)
                self._hand_over()

    def _hand_over(self) -> None:
        """Each loop's settled waiters in one call_soon_threadsafe (one wake-up of that loop)."""
        if not self._ready:
            return
        with self._ready_lock:
            ready, self._ready = self._ready, defaultdict(list)
        for loop, waiters in ready.items():
            try:
                loop.call_soon_threadsafe(_settle, waiters)
            except RuntimeError:  # that loop is closed: its requests are gone
                continue

    def close(self, timeout_s: float = 10.0) -> None:
        if self._loop_poll is not None:
            self._loop_poll.cancel()
        self._stop.set()
        self._poller.join(timeout_s)
        self._producer.flush(timeout_s)  # serves the last callbacks here, now that the poller has stopped
        # What the broker has not taken by now, it never will from this process: its waiters fail now, and the
        # client goes (left to the collector, it lives on reconnecting to a broker that may be long gone).
        self._producer.purge()
        self._producer.flush(0)
        self._hand_over()
        self._producer.close()
