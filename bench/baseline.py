"""The baseline: raw figures of this machine and broker that every later figure is a ratio of.

    python -m bench.baseline [--messages N] [--only produce,consume,codec,loop,txloop,faust] [--json]

1. produce: N Avro NewOrder commands encoded and produced (`topics.client.AvroProducer`, the project's producer
   defaults: acks=all, idempotence, linger.ms=5, no compression) to the catalogue's orders.commands topic;
   first produce → flush done, after a warm-up of 1,000 records on the same producer (not counted).
2. consume: that whole topic read and decoded (`topics.client.read_topic`, one consumer, no group): call → last
   record.
3. codec: encode and decode, in process, of NewOrder and OrderEvent records (after one untimed pass of 1,000).
4. loop: a plain confluent-kafka consume → decode → transform → encode → produce pass-through (A → B) in its own
   process: throughput on a backlog of N, then end-to-end latency at a paced rate (producer → A → loop → B →
   measuring consumer).
5. txloop: the same pass-through tuned for throughput inside Kafka transactions (a transaction per batch of up
   to 500 records, send_offsets_to_transaction, linger.ms=5, read_committed), as the kafka engine runs a stage:
   throughput on the same backlog. The plain loop (tuned for latency) stays the latency baseline; the txloop is
   the throughput baseline of the order path. Then the same pattern batching as the kafka engine does (the
   first record, then what has arrived; linger 1 ms): its latency at the paced rate, the cost of a transaction
   per hop on this broker.
6. faust: the same pass-through as a faust-streaming agent in a worker subprocess, with faust's defaults and
   with its consumer's fetch wait lowered; throughput on a (smaller) backlog and latency at the same rate.

Everything runs against the configured cluster (`settings`), on topics named ``bench-<run id>.…`` that are
deleted at the end. Progress goes to stderr; figures and the summary to stdout (with --json: to stderr, and
stdout gets one JSON document).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from queue import Empty
from typing import Any

from bench import plain_loop, tx_loop
from bench.common import (
    MEASURER_CONFIG,
    PACER_LINGER_MS,
    BenchTopics,
    Reporter,
    broker_pid,
    busy_warning,
    interrupt_on_sigterm,
    load_average,
    open_report,
    paced_latency,
    rate,
    topic_count,
)
from bench.faust_passthrough import FAUST_DEFAULT_FETCH_WAIT_MS
from schemas.codec import Codec, default_codec
from schemas.examples import example_event
from schemas.names import NEW_ORDER, ORDER_EVENT
from settings import PROJECT_ROOT, Settings
from topics.catalogue import ORDERS_COMMANDS
from topics.client import PRODUCER_DEFAULTS, AvroProducer, read_topic

PHASES = ("produce", "consume", "codec", "loop", "txloop", "faust")
POOL = 1000  # distinct records cycled through by the throughput phases (built before the clock starts)
WARMUP = 1000  # records produced, or encoded and decoded, before a clock starts
ACCOUNTS = 64
MIN_CPU_S = 0.05  # /proc counts CPU in clock ticks (10 ms): a CPU figure below this is mostly rounding
FAUST_LOW_FETCH_WAIT_MS = 5  # the runtime's faust_engine.FETCH_WAIT_MS; not imported: it loads faust here

Record = dict[str, Any]


# -- records ----------------------------------------------------------------------------------------------


def order_records(count: int, tag: str = "bench") -> list[tuple[str, Record]]:
    """`count` distinct NewOrder commands over 64 accounts, keyed by account; correlation id `tag`."""
    records = []
    for i in range(count):
        account = f"acct-{i % ACCOUNTS:03d}"
        record = example_event(
            NEW_ORDER, seq=i + 1, account=account, client_order_id=f"{tag}-{i}", order_id=f"ord-{account}-{tag}-{i}"
        )
        record["meta"]["event_id"] = f"{tag}-evt-{i}"
        record["meta"]["correlation_id"] = tag
        records.append((account, record))
    return records


def fill_topic(
    settings: Settings, topic: str, count: int, warmup: int = 0, deadline_s: float = 120.0
) -> tuple[int, float]:
    """Produce `count` NewOrders to catalogue topic `topic` (logical name); (count, seconds first → flushed).

    The first `warmup` records (connection, metadata, producer id) are produced and flushed before the clock
    starts and are not counted.
    """
    pool = order_records(POOL)
    producer = AvroProducer(settings)
    produce = producer.produce
    for i in range(warmup):
        key, record = pool[i % POOL]
        produce(topic, key, NEW_ORDER, record)
    producer.flush(60.0)
    started = time.perf_counter()
    limit = started + deadline_s
    sent = 0
    for sent in range(1, count + 1):
        key, record = pool[sent % POOL]
        produce(topic, key, NEW_ORDER, record)
        if sent % 10_000 == 0 and time.perf_counter() > limit:
            break
    producer.flush(60.0)
    return sent, time.perf_counter() - started


# -- phases -----------------------------------------------------------------------------------------------


class Baseline:
    def __init__(self, args: argparse.Namespace, settings: Settings, reporter: Reporter) -> None:
        self.args = args
        self.settings = settings
        self.report = reporter
        self.topics = BenchTopics(settings)
        self.codec: Codec = default_codec()
        self.config = settings.kafka_config()
        self.produced: tuple[Settings, str, int] | None = None  # the produce phase's topic, for consume

    # 1 -------------------------------------------------------------------------------------------------
    def produce(self) -> None:
        n = self.args.messages
        scoped, name = self.topics.create("produce", ORDERS_COMMANDS)
        self.report.progress(f"producing {WARMUP:,} (warm-up) + {n:,} NewOrders to {name}")
        sent, seconds = fill_topic(scoped, ORDERS_COMMANDS, n, warmup=WARMUP)
        self.produced = (scoped, name, WARMUP + sent)
        settings = ", ".join(f"{k}={v}" for k, v in PRODUCER_DEFAULTS.items())
        self.report.add(
            "produce",
            "throughput",
            rate(sent, seconds),
            "msg/s",
            f"{sent:,} NewOrders in {seconds:.2f} s, encode + produce + flush; AvroProducer {settings}",
            count=sent,
            seconds=seconds,
        )

    # 2 -------------------------------------------------------------------------------------------------
    def consume(self) -> None:
        if self.produced is None:
            scoped, name = self.topics.create("consume", ORDERS_COMMANDS)
            self.report.progress(f"filling {name} with {self.args.messages:,} NewOrders (not timed)")
            sent, _ = fill_topic(scoped, ORDERS_COMMANDS, self.args.messages)
            self.produced = (scoped, name, sent)
        scoped, name, expected = self.produced
        decode = self.codec.decode
        count = 0
        started = time.perf_counter()
        for record in read_topic(scoped, ORDERS_COMMANDS, timeout_s=120.0):
            if record.value is not None:
                decode(record.value)
                count += 1
        seconds = time.perf_counter() - started
        if count < expected:
            raise RuntimeError(f"read {count:,} of the {expected:,} records in {name}")
        self.report.add(
            "consume",
            "throughput",
            rate(count, seconds),
            "msg/s",
            f"{count:,} records read + decoded in {seconds:.2f} s by topics.client.read_topic "
            "(one consumer, assigned from the start, no group)",
            count=count,
            seconds=seconds,
        )

    # 3 -------------------------------------------------------------------------------------------------
    def codec_phase(self) -> None:
        n = self.args.codec_messages
        for schema in (NEW_ORDER, ORDER_EVENT):
            short = schema.rsplit(".", 1)[1]
            pool = [example_event(schema, seq=i + 1) for i in range(POOL)]
            encode, decode = self.codec.encode, self.codec.decode
            for record in pool[:WARMUP]:  # warm-up: schema lookups and fastavro's first calls, not timed
                decode(encode(schema, record))
            encoded: list[bytes] = [b""] * n
            started = time.perf_counter()
            for i in range(n):
                encoded[i] = encode(schema, pool[i % POOL])
            encode_s = time.perf_counter() - started
            started = time.perf_counter()
            for data in encoded:
                decode(data)
            decode_s = time.perf_counter() - started
            size = sum(len(e) for e in encoded[:POOL]) / min(n, POOL)
            for what, seconds in (("encode", encode_s), ("decode", decode_s)):
                self.report.add(
                    "codec",
                    f"{short} {what}",
                    rate(n, seconds),
                    "records/s",
                    f"{n:,} records, {seconds / n * 1e6:.2f} µs each, {size:.0f} bytes average",
                    count=n,
                    seconds=seconds,
                )

    # 4 -------------------------------------------------------------------------------------------------
    def _backlog_topic(self, part: str) -> tuple[str, int]:
        """The produce phase's topic when it ran (its records are the backlog), else a topic filled now."""
        if self.produced is not None:
            _, source, sent = self.produced
            return source, sent
        n = self.args.messages
        scoped_in, source = self.topics.create(f"{part}-in", ORDERS_COMMANDS)
        self.report.progress(f"filling {source} with {n:,} NewOrders (not timed)")
        sent, _ = fill_topic(scoped_in, ORDERS_COMMANDS, n)
        self.produced = (scoped_in, source, sent)
        return source, sent

    def loop(self) -> None:
        source, sent = self._backlog_topic("loop")
        _, sink = self.topics.create("loop-out", ORDERS_COMMANDS)
        self.report.progress(
            f"plain loop in a separate process (multiprocessing, spawn): {plain_loop.describe_config()}"
        )
        with self._loop_process("loop", plain_loop.run, source, sink, sent) as backlog:
            self._backlog_figures(
                "loop",
                backlog,
                "consume → decode → set meta.producer → encode → produce, one process",
                plain_loop.describe_config(),
            )
            self._latency("loop", source, sink, "loop")

    def txloop(self) -> None:
        source, sent = self._backlog_topic("txloop")
        _, sink = self.topics.create("txloop-out", ORDERS_COMMANDS)
        self.report.progress(f"transactional loop in a separate process: {tx_loop.describe_config()}")
        with self._loop_process("txloop", tx_loop.run, source, sink, sent) as backlog:
            self._backlog_figures(
                "txloop",
                backlog,
                f"the plain loop in transactions of up to {tx_loop.BATCH} records with send_offsets_to_transaction, "
                f"{backlog.get('transactions', 0):,} transactions, linger.ms=5, read_committed",
                tx_loop.describe_config(),
            )
        # The same pattern batching as the kafka engine does, for latency: what a transaction per hop costs.
        phase = "txloop, engine batching"
        _, source = self.topics.create("txlat-in", ORDERS_COMMANDS)
        _, sink = self.topics.create("txlat-out", ORDERS_COMMANDS)
        self.report.progress(f"{phase}: {tx_loop.describe_config(latency=True)}")
        with self._loop_process("txlat", tx_loop.run_latency, source, sink, 0):
            self._latency(phase, source, sink, "txlat", tx_loop.describe_config(latency=True))

    def _backlog_figures(self, phase: str, backlog: dict[str, Any], what: str, config: str) -> None:
        count, seconds = backlog["count"], backlog["seconds"]
        self.report.add(
            phase,
            "throughput (backlog)",
            rate(count, seconds),
            "msg/s",
            f"{count:,} records A → B in {seconds:.2f} s, first consumed → all delivered; {what}",
            count=count,
            seconds=seconds,
            config=config,
            transactions=backlog.get("transactions"),
        )
        for name, key, whose in (
            ("CPU per record, loop process", "cpu_s", "the loop process's user + system CPU"),
            ("CPU per record, broker", "broker_cpu_s", "the local broker's JVM"),
        ):
            cpu_s = backlog.get(key)
            if cpu_s is None:  # an external cluster: no broker process here
                continue
            if cpu_s < MIN_CPU_S:
                self.report.progress(f"{phase}: {name}: {cpu_s:.2f} s of CPU is below what /proc resolves usefully")
                continue
            self.report.add(
                phase,
                name,
                cpu_s / count * 1e6,
                "µs/record",
                f"{whose} over the backlog ({cpu_s:.2f} s)",
                cpu_s=cpu_s,
            )

    @contextlib.contextmanager
    def _loop_process(
        self, part: str, target: Callable[..., None], source: str, sink: str, sent: int
    ) -> Iterator[dict[str, Any]]:
        """A loop process on `source` → `sink`; yields its backlog report, stops it at the end."""
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        stop = context.Event()
        lifetime = 60.0 + self.args.latency_seconds + self.args.warmup_seconds + sent / 5_000
        broker = broker_pid(self.settings.bootstrap_servers)
        process = context.Process(
            target=target,
            args=(self.config, source, sink, self.topics.group(part), sent, lifetime, broker, results, stop),
            name=f"bench-{part}",
            daemon=True,
        )
        started = time.perf_counter()
        process.start()
        try:
            ready = self._expect(results, "ready", 60.0, process)
            self.report.progress(f"{part} ready after {time.perf_counter() - started:.1f} s ({ready})")
            yield self._expect(results, "backlog", 30.0 + sent / 1_000, process) if sent else {}
        finally:
            stop.set()
            try:
                stopped = self._expect(results, "stopped", 15.0, process)
                if stopped.get("errors") or stopped.get("undelivered"):
                    self.report.progress(f"{part} reported delivery problems: {stopped}")
            except RuntimeError as error:
                self.report.progress(f"{part} did not stop cleanly: {error}")
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(5)

    @staticmethod
    def _expect(results: Any, kind: str, timeout_s: float, process: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                got, payload = results.get(timeout=0.5)
            except Empty:
                if not process.is_alive():
                    raise RuntimeError(f"the loop process exited (code {process.exitcode}) before '{kind}'") from None
                continue
            if got == "error":
                raise RuntimeError(f"the loop process failed:\n{payload}")
            if got == kind:
                return dict(payload)
        raise RuntimeError(f"no '{kind}' from the loop process within {timeout_s:.0f} s")

    def _latency(self, phase: str, source: str, sink: str, part: str, detail: str = "") -> None:
        rate_per_s = self.args.rate
        tag = f"{self.topics.prefix}{part}-paced-{uuid.uuid4().hex[:6]}"
        count = int(rate_per_s * (self.args.warmup_seconds + self.args.latency_seconds))
        records = order_records(count, tag)
        codec = self.codec

        def encode(record: Record) -> bytes:
            return codec.encode(NEW_ORDER, record)

        def decode_stamp(value: bytes) -> tuple[str | None, int]:
            meta = codec.decode(value).record["meta"]
            return meta["correlation_id"], meta["ingest_time_us"]

        self.report.progress(
            f"latency: {count:,} records at {rate_per_s:,.0f} msg/s ({self.args.warmup_seconds:g} s warm-up not "
            f"counted + {self.args.latency_seconds:g} s)"
        )
        keyed = [(key.encode(), record) for key, record in records]
        producer_config = {**PRODUCER_DEFAULTS, "linger.ms": PACER_LINGER_MS}
        run = paced_latency(
            self.config,
            producer_config,
            source,
            sink,
            keyed,
            encode,
            decode_stamp,
            tag,
            rate_per_s,
            self.args.warmup_seconds,
            progress=self.report.progress,
        )
        lost = run.sent - run.received
        note = (
            f"{run.sent:,} sent at {run.send_rate:,.0f} msg/s, {run.received:,} received"
            + (f", {lost:,} NOT received" if lost else "")
            + (f", {run.late_sends} sends >1 ms late" if run.late_sends else "")
            + f"; pacer linger.ms={PACER_LINGER_MS}, measurer fetch.wait.max.ms={MEASURER_CONFIG['fetch.wait.max.ms']}"
            + (f"; {detail}" if detail else "")
        )
        self.report.add_latency(phase, run.stats, note, rate=rate_per_s, sent=run.sent, received=run.received)

    # 5 -------------------------------------------------------------------------------------------------
    def faust(self) -> None:
        variants: list[tuple[str, int | None]] = [
            ("faust default", None),
            (f"faust fetch wait {FAUST_LOW_FETCH_WAIT_MS} ms", FAUST_LOW_FETCH_WAIT_MS),
        ]
        for phase, fetch_wait in variants:
            try:
                self._faust_variant(phase, fetch_wait)
            except Exception as error:
                self.report.failed(phase, "run", f"{type(error).__name__}: {error}")

    def _faust_variant(self, phase: str, fetch_wait_ms: int | None) -> None:
        n = min(self.args.faust_messages, self.args.messages)
        part = "faust-default" if fetch_wait_ms is None else f"faust-wait{fetch_wait_ms}"
        scoped_in, source = self.topics.create(f"{part}-in", ORDERS_COMMANDS)
        _, sink = self.topics.create(f"{part}-out", ORDERS_COMMANDS)
        self.report.progress(f"{phase}: filling {source} with {n:,} NewOrders (not timed)")
        sent, _ = fill_topic(scoped_in, ORDERS_COMMANDS, n)
        app_id = self.topics.group(part)  # faust's group id and the prefix of its internal topics
        broker = ";".join(f"kafka://{server}" for server in self.settings.bootstrap_servers.split(","))
        wait = f"{fetch_wait_ms} ms (lowered)" if fetch_wait_ms else f"{FAUST_DEFAULT_FETCH_WAIT_MS} ms (faust default)"
        with tempfile.TemporaryDirectory(prefix="bench-faust-") as tmp:
            result_file = Path(tmp) / "results.jsonl"
            log_file = Path(tmp) / "worker.log"
            lifetime = 60.0 + self.args.latency_seconds + self.args.warmup_seconds + n / 500
            command = [
                sys.executable,
                "-m",
                "bench.faust_passthrough",
                "worker",
                "--broker",
                broker,
                "--app-id",
                app_id,
                "--source",
                source,
                "--sink",
                sink,
                "--backlog",
                str(sent),
                "--result-file",
                str(result_file),
                "--lifetime",
                f"{lifetime:.0f}",
                "--datadir",
                str(Path(tmp) / "data"),
            ]
            if fetch_wait_ms is not None:
                command += ["--fetch-wait-ms", str(fetch_wait_ms)]
            self.report.progress(f"{phase}: faust worker subprocess, consumer fetch_max_wait_ms {wait}, concurrency 1")
            started = time.perf_counter()
            with log_file.open("wb") as log:
                worker = subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=PROJECT_ROOT,
                    start_new_session=True,
                )
            try:
                events = _FaustEvents(result_file, worker, log_file)
                first = events.wait("started", 90.0)
                self.report.progress(
                    f"{phase}: first record after {time.perf_counter() - started:.1f} s; running fetcher's "
                    f"fetch_max_wait_ms={first.get('fetch_max_wait_ms')}"
                )
                try:
                    backlog = events.wait("backlog", 60.0)
                    self.report.add(
                        phase,
                        "throughput (backlog)",
                        rate(backlog["count"], backlog["seconds"]),
                        "msg/s",
                        f"{backlog['count']:,} records A → B in {backlog['seconds']:.2f} s, first record "
                        f"→ all flushed; fetch_max_wait_ms={first.get('fetch_max_wait_ms')}",
                        count=backlog["count"],
                        seconds=backlog["seconds"],
                        fetch_max_wait_ms=first.get("fetch_max_wait_ms"),
                    )
                except TimeoutError:
                    forwarded = topic_count(self.config, sink)
                    seconds = time.perf_counter() - started
                    self.report.failed(
                        phase,
                        "throughput (backlog)",
                        f"backlog of {sent:,} not done within 60 s of the first record: "
                        f"{forwarded:,} forwarded in {seconds:.0f} s since the worker started",
                        "msg/s",
                    )
                    return
                capacity = rate(backlog["count"], backlog["seconds"])
                detail = f"faust fetch_max_wait_ms={first.get('fetch_max_wait_ms')}"
                if capacity < 1.1 * self.args.rate:
                    detail += (
                        f"; SATURATED: the agent's backlog rate ({capacity:,.0f} msg/s) is not above the paced rate, "
                        "so records queue and latency grows during the run"
                    )
                self._latency(phase, source, sink, part, detail)
            finally:
                _stop(worker)
                self.notes_from_log(phase, log_file)

    def notes_from_log(self, phase: str, log_file: Path) -> None:
        text = log_file.read_text(errors="replace") if log_file.exists() else ""
        problems = [line for line in text.splitlines() if "Traceback" in line or "ERROR" in line or "Error" in line]
        if problems:
            self.report.notes[f"{phase} worker log"] = problems[:10]
            self.report.progress(f"{phase}: worker log has {len(problems)} error lines, first: {problems[0][:200]}")


class _FaustEvents:
    """Reads the faust worker's result file; fails fast with the worker's log when it exits or errs."""

    def __init__(self, path: Path, worker: subprocess.Popen[bytes], log_file: Path) -> None:
        self.path, self.worker, self.log_file = path, worker, log_file

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def wait(self, kind: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for event in self.read():
                if event["event"] == "error":
                    raise RuntimeError(f"the faust agent failed: {event['error']}")
                if event["event"] == kind:
                    return event
            if self.worker.poll() is not None:
                tail = self.log_file.read_text(errors="replace")[-1500:] if self.log_file.exists() else ""
                raise RuntimeError(
                    f"the faust worker exited with code {self.worker.returncode} before '{kind}':\n{tail}"
                )
            time.sleep(0.1)
        raise TimeoutError(f"no '{kind}' from the faust worker within {timeout_s:.0f} s")


def _stop(worker: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    if worker.poll() is not None:
        return
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(grace_s)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(5)


# -- the command ------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--messages", type=int, default=200_000, help="records for produce, consume, loop, txloop (200,000)"
    )
    parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout (progress on stderr)")
    parser.add_argument("--codec-messages", type=int, default=100_000, help="records per codec figure (100,000)")
    parser.add_argument(
        "--faust-messages",
        type=int,
        default=20_000,
        help="faust backlog (20,000; capped by --messages): faust is far slower",
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="paced rate for latency, msg/s (1,000)")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="counted latency window (10 s)")
    parser.add_argument("--warmup-seconds", type=float, default=1.0, help="paced warm-up not counted (1 s)")
    args = parser.parse_args(argv)
    args.phases = [p.strip() for p in args.only.split(",") if p.strip()]
    if unknown := [p for p in args.phases if p not in PHASES]:
        parser.error(f"unknown phase(s) {', '.join(unknown)}; choose from {', '.join(PHASES)}")
    if args.messages < 1 or args.codec_messages < 1 or args.rate <= 0:
        parser.error("--messages, --codec-messages and --rate must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reporter, settings, info = open_report("ShrivenQuant baseline (bench/baseline.py)", args.json)
    reporter.line(f"phases: {', '.join(args.phases)}; messages {args.messages:,}; latency at {args.rate:,.0f} msg/s")
    baseline = Baseline(args, settings, reporter)
    reporter.line(f"topics: {baseline.topics.prefix}* (deleted at the end)")
    if busy := busy_warning(info):
        reporter.line(busy)
    interrupt_on_sigterm()  # clean up the bench topics when stopped with `kill` as well
    steps: dict[str, Callable[[], None]] = {
        "produce": baseline.produce,
        "consume": baseline.consume,
        "codec": baseline.codec_phase,
        "loop": baseline.loop,
        "txloop": baseline.txloop,
        "faust": baseline.faust,
    }
    interrupted = False
    try:
        for phase in PHASES:
            if phase not in args.phases:
                continue
            reporter.line(f"- {phase}")
            try:
                steps[phase]()
            except Exception as error:
                reporter.failed(phase, "run", f"{type(error).__name__}: {error}")
    except KeyboardInterrupt:
        interrupted = True
        reporter.line("interrupted")
    finally:
        deleted = baseline.topics.cleanup()
        reporter.progress(f"deleted {len(deleted)} bench topics")
    reporter.summary()
    if args.json:
        reporter.print_json(
            benchmark="bench.baseline",
            command="python -m bench.baseline " + " ".join(argv if argv is not None else sys.argv[1:]),
            machine=info,
            load_average_at_end=load_average(),
            topic_prefix=baseline.topics.prefix,
            parameters={k: v for k, v in vars(args).items() if k != "only"},
            loop_config=plain_loop.describe_config(),
            txloop_config=tx_loop.describe_config(),
        )
    if interrupted:
        return 130
    return 1 if any(f.error is not None for f in reporter.figures) else 0


if __name__ == "__main__":
    sys.exit(main())
