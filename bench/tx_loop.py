"""The plain loop inside Kafka transactions, tuned for throughput: the best the kafka engine's pattern can do.

consume → decode → set ``meta.producer`` → encode → produce, from topic A to B, as ``bench.plain_loop`` does,
but every batch of up to ``BATCH`` input records is one Kafka transaction: ``begin_transaction``, the
records, ``send_offsets_to_transaction`` with the consumer's positions (KIP-447), ``commit_transaction``. The
consumer reads ``read_committed`` and commits nothing itself; the producer lingers 5 ms. No state, no
changelog, no barrier, no dead letters: what is left is the price of a transaction per batch over the plain
loop, and the codec.

`run` is the body of a separate process (multiprocessing, spawn) and reports as ``bench.plain_loop.run``
does: ``("ready", {...})``, ``("backlog", {...})`` (with its CPU and the local broker's over the backlog),
``("stopped", {...})`` or ``("error", text)``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from functools import partial
from typing import Any

from bench.common import BacklogMeter, join_group
from topics.client import PRODUCER_DEFAULTS

#: The consumer: read_committed (it reads a transactional producer's output downstream), no auto commit (the
#: offsets go into each transaction), the engine's fetch wait.
TX_CONSUMER_CONFIG: dict[str, object] = {
    "auto.offset.reset": "earliest",
    "fetch.wait.max.ms": 5,
    "enable.auto.commit": False,
    "isolation.level": "read_committed",
    "enable.partition.eof": False,
}
#: The producer: the project's defaults (acks=all, idempotence, murmur2) with linger 5 ms, transactional.
TX_PRODUCER_CONFIG: dict[str, object] = {
    **PRODUCER_DEFAULTS,
    "linger.ms": 5,
    "delivery.report.only.error": True,
}
BATCH = 500
POLL_TIMEOUT_S = 0.05
PRODUCER_NAME = "bench.txloop"
#: The latency-tuned variant batches as the kafka engine does: linger 1 ms (``EngineOptions.linger_ms``), and
#: ``consume(1, timeout)`` for the first record, then what has already arrived (``consume(BATCH - 1, 0)``).
LATENCY_LINGER_MS = 1


def describe_config(latency: bool = False) -> str:
    consumer = ", ".join(f"{k}={v}" for k, v in TX_CONSUMER_CONFIG.items())
    producer = ", ".join(
        f"{k}={v}" for k, v in {**TX_PRODUCER_CONFIG, **({"linger.ms": LATENCY_LINGER_MS} if latency else {})}.items()
    )
    batching = (
        f"consume(1, {POLL_TIMEOUT_S}) then consume({BATCH - 1}, 0), as the kafka engine batches"
        if latency
        else f"consume({BATCH}, {POLL_TIMEOUT_S})"
    )
    return (
        f"consumer: {consumer}; producer: {producer}, transactional; {batching} → one transaction per batch with "
        "send_offsets_to_transaction(positions)"
    )


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
    latency: bool = False,
) -> None:
    try:
        _run(config, source, sink, group, backlog, lifetime_s, broker, results, stop, latency=latency)
    except Exception:
        results.put(("error", traceback.format_exc()))


#: `run` with the kafka engine's batching: the latency floor of a transaction per hop on this broker.
run_latency = partial(run, latency=True)


def _next_batch(consumer: Any, *, latency: bool) -> list[Any]:
    """Throughput: up to a batch within the poll timeout. Latency: the first record, then what has arrived."""
    if latency:
        messages = consumer.consume(1, POLL_TIMEOUT_S)
        if messages:
            messages += consumer.consume(BATCH - 1, 0)
    else:
        messages = consumer.consume(BATCH, POLL_TIMEOUT_S)
    return [m for m in messages if m.error() is None and m.value() is not None]


def _forward_in_transaction(consumer: Any, producer: Any, codec: Any, messages: list[Any], sink: str) -> None:
    """The kafka engine's pattern: decode, transform, encode, produce, send the offsets, commit."""
    decode, encode, produce, poll = codec.decode, codec.encode, producer.produce, producer.poll
    producer.begin_transaction()
    for message in messages:
        decoded = decode(message.value())
        record = decoded.record
        record["meta"]["producer"] = PRODUCER_NAME  # the transform
        value = encode(decoded.schema, record)
        while True:
            try:
                produce(sink, value, message.key())
                break
            except BufferError:
                poll(0.01)
    positions = consumer.position(consumer.assignment())
    producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
    producer.commit_transaction(30)
    poll(0)


def _run(
    config: Mapping[str, Any],
    source: str,
    sink: str,
    group: str,
    backlog: int,
    lifetime_s: float,
    broker: int | None,
    results: Any,
    stop: Any,
    *,
    latency: bool,
) -> None:
    from confluent_kafka import Consumer, KafkaError, Producer

    from schemas.codec import default_codec

    codec = default_codec()
    errors: list[str] = []

    def on_error(error: KafkaError) -> None:
        errors.append(str(error))

    consumer = Consumer({**config, **TX_CONSUMER_CONFIG, "group.id": group})
    linger = {"linger.ms": LATENCY_LINGER_MS} if latency else {}
    producer = Producer(
        {
            **config,
            **TX_PRODUCER_CONFIG,
            **linger,
            "transactional.id": f"{group}.tx",
            "on_delivery": lambda e, _m: on_error(e),
        }
    )
    producer.init_transactions(30)
    deadline, partitions = join_group(consumer, source, lifetime_s)
    results.put(("ready", {"partitions": partitions}))

    forwarded = 0
    transactions = 0
    meter = BacklogMeter(broker)
    reported = backlog <= 0
    while time.monotonic() < deadline and not stop.is_set():
        messages = _next_batch(consumer, latency=latency)
        if not messages:
            continue
        meter.start()
        _forward_in_transaction(consumer, producer, codec, messages, sink)
        transactions += 1
        forwarded += len(messages)
        if not reported and forwarded >= backlog:
            results.put(("backlog", {**meter.figures(forwarded), "transactions": transactions}))
            reported = True
    remaining = producer.flush(10)
    consumer.close()
    results.put(
        (
            "stopped",
            {"forwarded": forwarded, "transactions": transactions, "undelivered": remaining, "errors": errors[:5]},
        )
    )
