"""What one Kafka transaction costs on this broker when transactions follow each other back to back.

    python -m bench.tx_probe [--transactions 300] [--outputs 10] [--low-backoff-ms 10] [--json]

A backlog of ``--transactions`` records on a 4-partition topic is consumed one record at a time, and each record
is one transaction (``begin_transaction``, ``--outputs`` records produced to another 4-partition topic, then
either ``send_offsets_to_transaction`` with the consumer's positions, as a group stage of the kafka engine and
the txloop do, or nothing, as the engine's exclusive stage does, whose positions are a record of the
transaction; ``commit_transaction``), the next one begun as soon as the last is committed: what a busy
stage's hops do at low batch sizes. Four variants: with and without ``send_offsets_to_transaction``, each with
librdkafka's default ``retry.backoff.ms`` and with ``--low-backoff-ms``. Per variant: each call's time (p50,
p99, mean) and how many times the broker answered CONCURRENT_TRANSACTIONS (librdkafka's ``eos`` debug log: the
previous transaction's commit is still being completed; the client retries after ``retry.backoff.ms``).

Topics and groups live under ``bench-<run id>.`` and are deleted at the end.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from typing import Any

from confluent_kafka import Consumer, Producer

from bench.common import BenchTopics, busy_warning, interrupt_on_sigterm, load_average, open_report
from schemas.examples import example_event
from schemas.names import NEW_ORDER
from settings import Settings
from topics.catalogue import ORDERS_COMMANDS
from topics.client import AvroProducer

CONCURRENT = "CONCURRENT_TRANSACTIONS"


class _Counter(logging.Handler):
    """Counts librdkafka log lines that name the broker's CONCURRENT_TRANSACTIONS answer."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.concurrent = 0

    def emit(self, record: logging.LogRecord) -> None:
        if CONCURRENT in record.getMessage():
            self.concurrent += 1


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def probe(
    settings: Settings, topics: BenchTopics, part: str, n: int, outputs: int, offsets: bool, backoff: int | None
) -> dict[str, Any]:
    """One variant: `n` back-to-back transactions; per-call times in seconds and the CONCURRENT answers."""
    scoped, source = topics.create(f"{part}-in", ORDERS_COMMANDS)
    _, sink = topics.create(f"{part}-out", ORDERS_COMMANDS)
    producer = AvroProducer(scoped)
    record = example_event(NEW_ORDER, seq=1)
    for i in range(n):
        producer.produce(ORDERS_COMMANDS, f"acct-{i % 16}", NEW_ORDER, record)
    producer.flush()
    counter = _Counter()
    logger = logging.getLogger(f"bench.tx_probe.{part}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    group = topics.group(part)
    consumer = Consumer(
        settings.kafka_config(
            **{
                "group.id": group,
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 5,
            }
        )
    )
    config: dict[str, object] = {
        "transactional.id": f"{group}.tx",
        "linger.ms": 1,
        "enable.idempotence": True,
        "acks": "all",
        "debug": "eos",
        "logger": logger,
    }
    if backoff is not None:
        config["retry.backoff.ms"] = backoff
    tx = Producer(settings.kafka_config(**config))
    tx.init_transactions(30)
    consumer.subscribe([source])
    calls: dict[str, list[float]] = {"send_offsets": [], "commit": [], "transaction": []}
    done = 0
    deadline = time.monotonic() + 120 + n
    try:
        while done < n and time.monotonic() < deadline:
            messages = [m for m in consumer.consume(1, 1.0) if m.error() is None]
            if not messages:
                continue
            value = messages[0].value()
            started = time.perf_counter()
            tx.begin_transaction()
            for k in range(outputs):
                tx.produce(sink, value, f"acct-{k}".encode())
            before_offsets = time.perf_counter()
            if offsets:
                tx.send_offsets_to_transaction(
                    consumer.position(consumer.assignment()), consumer.consumer_group_metadata()
                )
            before_commit = time.perf_counter()
            tx.commit_transaction(30)
            ended = time.perf_counter()
            if offsets:
                calls["send_offsets"].append(before_commit - before_offsets)
            calls["commit"].append(ended - before_commit)
            calls["transaction"].append(ended - started)
            done += 1
    finally:
        consumer.close()
        tx.flush(10)
        tx.poll(0)
    return {"calls": calls, "concurrent": counter.concurrent, "transactions": done}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.tx_probe", description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=300, help="back-to-back transactions per variant (300)")
    parser.add_argument("--outputs", type=int, default=10, help="records produced in each transaction (10)")
    parser.add_argument("--low-backoff-ms", type=int, default=10, help="the lowered retry.backoff.ms (10)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout (progress on stderr)")
    args = parser.parse_args(argv)
    if min(args.transactions, args.outputs, args.low_backoff_ms) < 1:
        parser.error("--transactions, --outputs and --low-backoff-ms must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reporter, settings, info = open_report(
        "ShrivenQuant back-to-back Kafka transactions (bench/tx_probe.py)", args.json
    )
    if busy := busy_warning(info):
        reporter.line(busy)
    topics = BenchTopics(settings)
    reporter.line(f"topics: {topics.prefix}* (deleted at the end)")
    interrupt_on_sigterm()
    interrupted = False
    variants = [
        (offsets, backoff)
        for offsets in (True, False)
        for backoff in (None, args.low_backoff_ms)  # None: librdkafka's default
    ]
    try:
        for offsets, backoff in variants:
            phase = ("send_offsets" if offsets else "no send_offsets") + (
                f", retry.backoff.ms={backoff}" if backoff is not None else ", default retry.backoff.ms"
            )
            part = f"{'offsets' if offsets else 'plain'}-{backoff or 'default'}"
            reporter.line(f"- {phase}")
            try:
                result = probe(settings, topics, part, args.transactions, args.outputs, offsets, backoff)
            except Exception as error:
                reporter.failed(phase, "run", f"{type(error).__name__}: {error}")
                continue
            calls, n = result["calls"], result["transactions"]
            for call, seconds in calls.items():
                if not seconds:
                    continue
                detail = f"n={n}, p99 {_ms(seconds, 0.99):.2f} ms, mean {statistics.mean(seconds) * 1000:.2f} ms"
                reporter.add(phase, f"{call} p50", _ms(seconds, 0.5) * 1000, "µs", detail)
                reporter.add(phase, f"{call} p99", _ms(seconds, 0.99) * 1000, "µs")
                reporter.add(phase, f"{call} mean", statistics.mean(seconds) * 1e6, "µs")
            reporter.notes[f"{phase}: CONCURRENT_TRANSACTIONS answers"] = result["concurrent"]
            reporter.line(f"  the broker answered {CONCURRENT} {result['concurrent']} times in {n} transactions")
    except KeyboardInterrupt:
        interrupted = True
        reporter.line("interrupted")
    finally:
        deleted = topics.cleanup()
        reporter.progress(f"deleted {len(deleted)} bench topics")
    end_load = load_average()
    reporter.summary()
    reporter.line(f"load average (1, 5, 15 min) after the run: {', '.join(map(str, end_load))}")
    if args.json:
        reporter.print_json(
            benchmark="bench.tx_probe",
            command="python -m bench.tx_probe " + " ".join(argv if argv is not None else sys.argv[1:]),
            machine=info,
            load_average_at_end=end_load,
            topic_prefix=topics.prefix,
            parameters=vars(args),
        )
    if interrupted:
        return 130
    return 1 if any(f.error is not None for f in reporter.figures) else 0


if __name__ == "__main__":
    sys.exit(main())
