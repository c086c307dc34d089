"""A plain confluent-kafka pass-through: consume → decode → transform → encode → produce, from topic A to B.

`run` is the body of a separate process (multiprocessing, spawn): on a 2-core machine a thread would share the
GIL with the side that paces and measures, and each would slow the other; a process has its own interpreter.
It reports to the parent through a queue: ``("ready", {...})`` once assigned, ``("backlog", {...})`` when the
first `backlog` records are forwarded and flushed (throughput; with its own CPU time and the local broker's over
them), ``("stopped", {...})`` at the end, or
``("error", text)``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from typing import Any

from bench.common import BacklogMeter, join_group
from topics.client import PRODUCER_DEFAULTS

#: The loop's consumer, tuned for latency: a fetch returns after at most 5 ms without data (default 500 ms).
LOOP_CONSUMER_CONFIG: dict[str, object] = {
    "auto.offset.reset": "earliest",
    "fetch.wait.max.ms": 5,
    "enable.auto.commit": True,  # at-least-once: offsets committed in the background every 5 s
    "enable.partition.eof": False,
}
#: The loop's producer: the project's defaults (acks=all, idempotence, murmur2 partitioner, no compression)
#: with linger 0 for latency; delivery reports only for failures (no Python callback per record).
LOOP_PRODUCER_CONFIG: dict[str, object] = {
    **PRODUCER_DEFAULTS,
    "linger.ms": 0,
    "delivery.report.only.error": True,
}
BATCH = 500
PRODUCER_NAME = "bench.loop"


def describe_config() -> str:
    consumer = ", ".join(f"{k}={v}" for k, v in LOOP_CONSUMER_CONFIG.items())
    producer = ", ".join(f"{k}={v}" for k, v in LOOP_PRODUCER_CONFIG.items())
    return f"consumer: {consumer}; producer: {producer}; consume({BATCH}, 0) then poll(0.05) when idle"


def run(
    config: Mapping[str, Any],
    source: str,
    sink: str,
    group: str,
    backlog: int,
    lifetime_s: float,
    broker: int | None,
    results: Any,
    stop: Any,
) -> None:
    try:
        _run(config, source, sink, group, backlog, lifetime_s, broker, results, stop)
    except Exception:
        results.put(("error", traceback.format_exc()))


def _run(  # noqa: PLR0915  the measured loop stays whole and inline: a call per record would be part of the figure
    config: Mapping[str, Any],
    source: str,
    sink: str,
    group: str,
    backlog: int,
    lifetime_s: float,
    broker: int | None,
    results: Any,
    stop: Any,
) -> None:
    from confluent_kafka import Consumer, KafkaError, Producer

    from schemas.codec import default_codec

    codec = default_codec()
    errors: list[str] = []

    def on_error(error: KafkaError) -> None:
        errors.append(str(error))

    consumer = Consumer({**config, **LOOP_CONSUMER_CONFIG, "group.id": group})
    producer = Producer({**config, **LOOP_PRODUCER_CONFIG, "on_delivery": lambda e, _m: on_error(e)})
    deadline, partitions = join_group(consumer, source, lifetime_s)
    results.put(("ready", {"partitions": partitions}))

    decode, encode, produce, poll = codec.decode, codec.encode, producer.produce, producer.poll
    forwarded = 0
    meter = BacklogMeter(broker)
    reported = backlog <= 0
    checks = 0
    while time.monotonic() < deadline:
        messages = consumer.consume(BATCH, 0)  # what is there, without waiting for a full batch
        if not messages:
            message = consumer.poll(0.05)  # returns as soon as one record arrives
            if message is None:
                poll(0)
                if stop.is_set():
                    break
                continue
            messages = [message]
        meter.start()
        for message in messages:
            data = message.value()
            if message.error() is not None or data is None:
                continue
            decoded = decode(data)
            record = decoded.record
            record["meta"]["producer"] = PRODUCER_NAME  # the transform
            value = encode(decoded.schema, record)
            while True:
                try:
                    produce(sink, value, message.key())
                    break
                except BufferError:
                    poll(0.01)
            forwarded += 1
        poll(0)
        if not reported and forwarded >= backlog:
            producer.flush(30)
            results.put(("backlog", meter.figures(forwarded)))
            reported = True
        checks += 1
        if checks % 64 == 0 and stop.is_set():
            break
    remaining = producer.flush(10)
    consumer.close()
    results.put(("stopped", {"forwarded": forwarded, "undelivered": remaining, "errors": errors[:5]}))
