"""The order path end to end through Kafka, with the four workers (risk, oms, venue, portfolio) as real processes.

    python -m bench.order_path [--engine kafka|faust|both] [--orders 20000] [--faust-orders 2000] [--accounts 16]
                               [--seed 7] [--rate 1000] [--warmup-seconds 2] [--latency-seconds 10]
                               [--with-baseline] [--profile-dir DIR] [--json]

Per engine, on topics of its own (the whole catalogue under ``bench-<run id>.<engine>.``):

1. throughput: each account's risk limits (``OrderFlow.limits()``) to risk.limits, then a backlog of the seeded
   flow (``--orders`` new orders, ``--faust-orders`` on faust, plus the flow's cancels, amends and invalid
   commands) to orders.commands; then oms, venue and portfolio are started and, once their consumer groups are
   stable, risk. Measured from the records' Kafka timestamps (CreateTime, set by each worker's producer, ms):
   first risk decision → the later of the last orders.events record and the last portfolio.positions record,
   read back after every group has consumed everything. Each worker's and the local broker's CPU time (/proc)
   over that window give the CPU per order. Commands/s counts every command risk decided on; new orders/s the
   NewOrders among them.
2. latency: with the pipeline running and warm (right after the backlog), a second flow (same accounts, new
   client order ids) is produced paced at ``--rate`` commands/s by a thread that notes the wall clock just
   before producing each command; a consumer in this process (read_committed, fetch.wait.max.ms=5) of
   risk.decisions and orders.events takes arrival minus that stamp: command → risk decision (every command),
   command → PENDING_NEW (the oms's event once risk approved, before the venue) and command → ACCEPTED (after
   the venue's ack came back through the oms), for NewOrders. Commands stamped in the first
   ``--warmup-seconds`` are not counted.
3. ratios to the plain confluent-kafka loop of bench/baseline.py (``--only loop``): measured in this run with
   ``--with-baseline`` (same machine state), else its latest figures read from docs/BENCHMARKS.md.

``--profile-dir`` runs every worker under ``python -m cProfile -o <dir>/<engine>-<processor>.prof``.
Progress goes to stderr; with ``--json`` stdout holds one JSON document. Topics are deleted at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, ConsumerGroupState, KafkaException, TopicPartition

from bench.common import (
    BenchTopics,
    Reporter,
    busy_warning,
    latency_stats,
    load_average,
    machine_info,
    machine_lines,
    now_us,
    rate,
)
from connectors.order_flow import FlowCommand, FlowConfig, OrderFlow
from processors.runtime.pipeline import ORDER_PATH
from processors.runtime.registry import consumer_group
from processors.runtime.supervisor import WorkerProcess, stop_workers, worker_argv
from schemas.codec import default_codec
from schemas.names import NEW_ORDER
from settings import PROJECT_ROOT, Settings, load_settings
from topics.admin import admin_client, create_topics, physical_name
from topics.catalogue import (
    CATALOGUE,
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    PORTFOLIO_POSITIONS,
    RISK_DECISIONS,
    RISK_LIMITS,
    VENUE_EXECUTIONS,
    VENUE_ORDERS,
)
from topics.client import AvroProducer, read_topic

ENGINES = ("kafka", "faust")
#: Each processor's keyed inputs: the pipeline is idle when every group has consumed all of them.
INPUTS: dict[str, tuple[str, ...]] = {
    "risk": (ORDERS_COMMANDS, RISK_LIMITS, ORDERS_EVENTS),
    "oms": (RISK_DECISIONS, VENUE_EXECUTIONS),
    "venue": (VENUE_ORDERS,),
    "portfolio": (ORDERS_EVENTS,),
}
PATH_TOPICS = (ORDERS_COMMANDS, RISK_DECISIONS, VENUE_ORDERS, VENUE_EXECUTIONS, ORDERS_EVENTS, PORTFOLIO_POSITIONS)
QUIET_S = 3.0  # no watermark moved for this long: idle even if a group's committed offset stops before a marker
DOCS = PROJECT_ROOT / "docs" / "BENCHMARKS.md"


# -- workers ----------------------------------------------------------------------------------------------


def start_worker(
    processor: str, engine: str, settings: Settings, log_dir: Path, profile_dir: Path | None, options: list[str]
) -> WorkerProcess:
    """``processors.runtime.worker`` as ``supervisor.start_worker`` runs it, its output to a log file (stdout
    stays the JSON document's), optionally under cProfile."""
    argv = [sys.executable]
    if profile_dir is not None:
        argv += ["-m", "cProfile", "-o", str(profile_dir / f"{engine}-{processor}.prof")]
    if options:  # the kafka engine with other EngineOptions defaults, for measuring them (see run_shim)
        argv += ["-m", "bench.order_path", "--run-worker", processor, *(f"--engine-option={o}" for o in options)]
    else:
        argv += worker_argv(processor, 0, engine)[1:]  # after the interpreter (and cProfile, if any)
    log = (log_dir / f"{engine}-{processor}.log").open("wb")
    env = {**os.environ, **settings.as_env()}
    process = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT
    )
    log.close()
    return WorkerProcess(processor, 0, engine, process)


def wait_stable(settings: Settings, groups: list[str], workers: list[WorkerProcess], timeout_s: float) -> None:
    """Until each consumer group is stable with every member assigned (the worker is ready to consume)."""
    admin = admin_client(settings)
    deadline = time.monotonic() + timeout_s
    while True:
        dead = [w.label for w in workers if w.process.poll() is not None]
        if dead:
            raise RuntimeError(f"worker(s) {', '.join(dead)} exited while starting")
        ready = True
        for future in admin.describe_consumer_groups(groups, request_timeout=10).values():
            try:
                group = future.result()
            except KafkaException:
                ready = False
                continue
            members = group.members or []
            assigned = all(m.assignment is not None and m.assignment.topic_partitions for m in members)
            if group.state != ConsumerGroupState.STABLE or not members or not assigned:
                ready = False
        if ready:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"consumer groups {groups} not stable within {timeout_s:.0f} s")
        time.sleep(0.2)


class Gauge:
    """Watermarks and committed offsets of the order path's topics and groups (one consumer, reused)."""

    def __init__(self, settings: Settings, engine: str) -> None:
        self.settings, self.engine = settings, engine
        self.consumer = Consumer(settings.kafka_config(**{"group.id": "bench-gauge", "enable.auto.commit": False}))
        self.partitions: dict[str, list[TopicPartition]] = {}
        for logical in {*PATH_TOPICS, RISK_LIMITS}:
            name = physical_name(settings, logical)
            metadata = self.consumer.list_topics(name, timeout=10).topics[name]
            self.partitions[logical] = [TopicPartition(name, p) for p in sorted(metadata.partitions)]

    def ends(self, logical: str) -> list[int]:
        return [self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1] for tp in self.partitions[logical]]

    def all_ends(self) -> dict[str, list[int]]:
        return {topic: self.ends(topic) for topic in self.partitions}

    def consumed(self, processor: str, ends: dict[str, list[int]], topics: Iterable[str] | None = None) -> bool:
        """Whether the processor's group has committed `ends` of its inputs (or of `topics` among them)."""
        group = Consumer(
            self.settings.kafka_config(
                **{
                    "group.id": consumer_group(self.settings, self.engine, processor),
                    "enable.auto.commit": False,
                }
            )
        )
        try:
            for logical in INPUTS[processor] if topics is None else topics:
                committed = group.committed(self.partitions[logical], timeout=10)
                for tp, high in zip(committed, ends[logical], strict=True):
                    if high > 0 and tp.offset < high:
                        return False
            return True
        finally:
            group.close()

    def close(self) -> None:
        self.consumer.close()


def wait_idle(gauge: Gauge, workers: list[WorkerProcess], timeout_s: float, progress: Callable[[str], None]) -> str:
    """Until every group consumed every input (or, once risk has every command, nothing moved for QUIET_S)."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, list[int]] | None = None
    moved_at = time.monotonic()
    next_progress = time.monotonic() + 5
    while True:
        dead = [w.label for w in workers if w.process.poll() is not None]
        if dead:
            raise RuntimeError(f"worker(s) {', '.join(dead)} exited")
        ends = gauge.all_ends()
        if ends != last:
            last, moved_at = ends, time.monotonic()
        if all(gauge.consumed(p, ends) for p in ORDER_PATH):
            return "every group consumed its inputs"
        # Quiet counts only once risk has every command: a faust worker can pause for seconds while starting.
        if time.monotonic() - moved_at > QUIET_S and gauge.consumed("risk", ends, [ORDERS_COMMANDS]):
            return f"risk consumed every command and no topic moved for {QUIET_S:g} s"
        if time.monotonic() > deadline:
            raise TimeoutError(f"the order path did not finish within {timeout_s:.0f} s")
        if time.monotonic() >= next_progress:
            next_progress += 5
            progress(
                f"  orders.events {sum(ends[ORDERS_EVENTS]):,} offsets, positions {sum(ends[PORTFOLIO_POSITIONS]):,}"
            )
        time.sleep(0.25)


# -- CPU accounting (Linux /proc) --------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15 of stat)


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all CPUs together."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / CLOCK_TICKS, sum(values) / CLOCK_TICKS


def broker_pid() -> int | None:
    """The local Kafka broker's process (its command line runs kafka.Kafka), if it runs on this machine."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if b"kafka.Kafka" in (entry / "cmdline").read_bytes():
                    return int(entry.name)
    return None


@dataclass
class CpuSnapshot:
    workers: dict[str, float]
    broker: float
    bench: float
    machine_busy: float
    machine_total: float

    @classmethod
    def take(cls, workers: list[WorkerProcess], broker: int | None) -> CpuSnapshot:
        busy, total = machine_cpu_s()
        return cls(
            {w.processor: process_cpu_s(w.process.pid) for w in workers},
            process_cpu_s(broker) if broker else 0.0,
            time.process_time(),
            busy,
            total,
        )


# -- reading back ---------------------------------------------------------------------------------------


@dataclass
class TopicSpan:
    count: int = 0
    first_ms: int | None = None
    last_ms: int | None = None

    def add(self, timestamp_ms: int) -> None:
        self.count += 1
        self.first_ms = timestamp_ms if self.first_ms is None else min(self.first_ms, timestamp_ms)
        self.last_ms = timestamp_ms if self.last_ms is None else max(self.last_ms, timestamp_ms)

    def as_json(self) -> dict[str, Any]:
        seconds = (self.last_ms - self.first_ms) / 1000 if self.first_ms is not None and self.last_ms else 0.0
        return {
            "records": self.count,
            "first_ms": self.first_ms,
            "last_ms": self.last_ms,
            "seconds": seconds,
            "records_per_s": round(rate(self.count, seconds), 1),
        }


@dataclass
class ReadBack:
    spans: dict[str, TopicSpan] = field(default_factory=dict)
    event_types: Counter[str] = field(default_factory=Counter)
    last_terminal_ms: int | None = None


TERMINAL = {"FILLED", "CANCELLED", "REJECTED", "EXPIRED"}


def read_back(settings: Settings) -> ReadBack:
    """Every committed record of the path's topics: counts and first/last Kafka timestamps; order event types."""
    codec = default_codec()
    result = ReadBack()
    for logical in PATH_TOPICS:
        span = result.spans.setdefault(logical, TopicSpan())
        for record in read_topic(settings, logical, timeout_s=120.0):
            span.add(record.timestamp_ms)
            if logical == ORDERS_EVENTS and record.value is not None:
                event = codec.decode(record.value).record
                result.event_types[event["event_type"]] += 1
                if event["status"] in TERMINAL:
                    last = result.last_terminal_ms
                    result.last_terminal_ms = record.timestamp_ms if last is None else max(last, record.timestamp_ms)
    return result


# -- latency ------------------------------------------------------------------------------------------------


@dataclass
class LatencyResult:
    decision_us: list[int]
    pending_us: list[int]
    accepted_us: list[int]
    sent: int
    decided: int
    new_orders: int
    seconds: float
    late_sends: int
    event_types: Counter[str]


def paced_order_latency(
    settings: Settings,
    commands: list[FlowCommand],
    rate_per_s: float,
    warmup_s: float,
    progress: Callable[[str], None],
    drain_timeout_s: float = 15.0,
) -> LatencyResult:
    """Produce `commands` at `rate_per_s`; time each one's risk decision, PENDING_NEW and ACCEPTED arrivals."""
    codec = default_codec()
    measurer = Consumer(
        settings.kafka_config(
            **{
                "group.id": "bench-order-path-measure",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "fetch.wait.max.ms": 5,
                "isolation.level": "read_committed",
            }
        )
    )
    assignment = []
    for logical in (RISK_DECISIONS, ORDERS_EVENTS):
        name = physical_name(settings, logical)
        for p in measurer.list_topics(name, timeout=10).topics[name].partitions:
            high = measurer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1]
            assignment.append(TopicPartition(name, p, high))
    measurer.assign(assignment)
    measurer.poll(0.2)
    decisions_topic = physical_name(settings, RISK_DECISIONS)

    by_command: dict[str, int] = {}  # command event id → wall clock (µs) just before it was produced
    by_order: dict[str, int] = {}  # NewOrder's order id → the same stamp
    state: dict[str, Any] = {"sent": 0, "late": 0, "done": False, "error": None, "seconds": 0.0, "start_us": 0}

    def pace() -> None:
        producer = AvroProducer(settings, None, **{"linger.ms": 0})
        try:
            encoded = [(c.key, codec.encode(c.schema, c.record), c) for c in commands]  # encoded before the clock
            interval = 1.0 / rate_per_s
            start = time.perf_counter()
            state["start_us"] = now_us()
            for i, (key, value, command) in enumerate(encoded):
                delay = start + i * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -0.001:
                    state["late"] += 1
                stamp = now_us()
                by_command[command.record["meta"]["event_id"]] = stamp
                if command.schema == NEW_ORDER:
                    by_order.setdefault(command.record["order_id"], stamp)
                producer.produce_raw(ORDERS_COMMANDS, key, value)
                state["sent"] = i + 1
            state["seconds"] = time.perf_counter() - start
            producer.flush(10)
        except Exception as error:  # reported by the measuring side
            state["error"] = repr(error)
        finally:
            state["done"] = True

    decision: dict[str, int] = {}
    pending: dict[str, int] = {}
    accepted: dict[str, int] = {}
    event_types: Counter[str] = Counter()
    pacer = threading.Thread(target=pace, name="bench-pacer", daemon=True)
    pacer.start()
    deadline: float | None = None
    last_arrival = time.monotonic()
    next_progress = time.monotonic() + 5
    try:
        while True:
            messages = measurer.consume(500, 0)
            if not messages:
                message = measurer.poll(0.05)
                messages = [message] if message is not None else []
            received = now_us()
            for message in messages:
                value = message.value()
                if message.error() is not None or value is None:
                    continue
                record = codec.decode(value).record
                if message.topic() == decisions_topic:
                    cause = record["meta"]["causation_id"]
                    if cause in by_command and cause not in decision:
                        decision[cause] = received - by_command[cause]
                        last_arrival = time.monotonic()
                    continue
                order_id, kind = record["order_id"], record["event_type"]
                if order_id not in by_order:
                    continue
                event_types[kind] += 1
                last_arrival = time.monotonic()
                if kind == "PENDING_NEW" and record["command_id"] in by_command:
                    pending.setdefault(order_id, received - by_order[order_id])
                elif kind == "ACCEPTED":
                    accepted.setdefault(order_id, received - by_order[order_id])
            if state["done"]:
                deadline = deadline or time.monotonic() + drain_timeout_s
                settled = len(decision) >= state["sent"] and time.monotonic() - last_arrival > 1.0
                if settled or time.monotonic() > deadline:
                    break
            elif time.monotonic() >= next_progress:
                next_progress += 5
                progress(f"  latency: {state['sent']:,} sent, {len(decision):,} decided, {len(accepted):,} accepted")
    finally:
        pacer.join(timeout=5)
        measurer.close()
    if state["error"]:
        raise RuntimeError(state["error"])
    cutoff = state["start_us"] + int(warmup_s * 1_000_000)

    def counted(latencies: dict[str, int], stamps: dict[str, int]) -> list[int]:
        return [latency for key, latency in latencies.items() if stamps[key] >= cutoff]

    return LatencyResult(
        decision_us=counted(decision, by_command),
        pending_us=counted(pending, by_order),
        accepted_us=counted(accepted, by_order),
        sent=state["sent"],
        decided=len(decision),
        new_orders=len(by_order),
        seconds=state["seconds"],
        late_sends=state["late"],
        event_types=event_types,
    )


# -- the baseline ---------------------------------------------------------------------------------------


def baseline_from_docs(path: Path = DOCS) -> dict[str, float]:
    """The plain loop's figures of the latest recorded run (first value column) in docs/BENCHMARKS.md."""
    text = path.read_text(encoding="utf-8")
    section = text.split("### Plain confluent-kafka loop", 1)[1].split("\n### ", 1)[0]
    figures: dict[str, float] = {}
    for name, key, scale in (
        ("throughput", "throughput", 1.0),
        ("latency p50", "p50_us", 1000.0),
        ("latency p99", "p99_us", 1000.0),
    ):
        match = re.search(rf"^\| {re.escape(name)} \| ([\d,.]+) \|", section, re.MULTILINE)
        if match is None:
            raise ValueError(f"no '{name}' row in the plain loop table of {path.name}")
        figures[key] = float(match.group(1).replace(",", "")) * scale
    return figures


def baseline_in_run(settings: Settings, reporter: Reporter, args: argparse.Namespace) -> dict[str, float]:
    """bench.baseline's plain loop (throughput on a backlog, latency at the same paced rate), measured now."""
    from bench.baseline import Baseline

    options = argparse.Namespace(
        messages=args.baseline_messages, rate=args.rate, warmup_seconds=1.0, latency_seconds=args.latency_seconds
    )
    baseline = Baseline(options, settings, reporter)
    try:
        baseline.loop()
    finally:
        baseline.topics.cleanup()
    values = {(f.phase, f.name): f.value for f in reporter.figures if f.phase == "loop" and f.error is None}
    found = {
        "throughput": values.get(("loop", "throughput (backlog)")),
        "p50_us": values.get(("loop", "latency p50")),
        "p99_us": values.get(("loop", "latency p99")),
    }
    missing = [k for k, v in found.items() if not v]
    if missing:
        raise RuntimeError(f"the plain loop gave no {', '.join(missing)}")
    return {k: float(v) for k, v in found.items() if v}


# -- one engine -------------------------------------------------------------------------------------------


class EngineRun:
    def __init__(
        self,
        engine: str,
        settings: Settings,
        topics: BenchTopics,
        reporter: Reporter,
        args: argparse.Namespace,
        log_dir: Path,
    ) -> None:
        self.engine = engine
        self.scoped = settings.with_topic_prefix(f"{topics.prefix}{engine}.")
        self.topics, self.report, self.args, self.log_dir = topics, reporter, args, log_dir
        self.phase = f"{engine} order path"
        self.backlog_orders = min(args.orders, args.faust_orders) if engine == "faust" else args.orders
        self.workers: list[WorkerProcess] = []
        self.figures: dict[str, float] = {}

    def add(self, name: str, value: float, unit: str, detail: str = "", **extra: Any) -> None:
        self.figures[name] = value
        self.report.add(self.phase, name, value, unit, detail, **extra)

    def run(self) -> None:
        create_topics(self.scoped, CATALOGUE)
        self.topics.groups += [consumer_group(self.scoped, self.engine, p) for p in ORDER_PATH]
        try:
            self.throughput()
            self.latency()
        finally:
            stop_workers(self.workers)
            self.notes_from_logs()
            if self.engine == "faust":  # faust's data folders (memory store: empty, but created per app)
                for processor in ORDER_PATH:
                    shutil.rmtree(
                        self.scoped.home / "faust" / f"{self.scoped.topic_prefix}{processor}-0", ignore_errors=True
                    )

    def _start(self, processors: Iterable[str]) -> list[WorkerProcess]:
        options = self.args.engine_option if self.engine == "kafka" else []
        started = [
            start_worker(p, self.engine, self.scoped, self.log_dir, self.args.profile_dir, options) for p in processors
        ]
        self.workers += started
        return started

    def throughput(self) -> None:
        args = self.args
        flow = OrderFlow(
            FlowConfig(
                orders=self.backlog_orders,
                seed=args.seed,
                accounts=args.accounts,
                run_id=f"{self.topics.prefix}{self.engine}-backlog",
                start_time_us=now_us(),
            )
        )
        producer = AvroProducer(self.scoped)
        for limits in flow.limits():
            producer.produce(RISK_LIMITS, limits.key, limits.schema, limits.record)
        producer.flush()
        commands = list(flow.commands())
        new_orders = sum(1 for c in commands if c.schema == NEW_ORDER)
        self.report.progress(
            f"{self.engine}: {args.accounts} accounts' limits sent; producing the backlog of "
            f"{len(commands):,} commands ({new_orders:,} new orders)"
        )
        for command in commands:
            producer.produce(ORDERS_COMMANDS, command.key, command.schema, command.record)
        producer.flush(120)

        downstream = [p for p in ORDER_PATH if p != "risk"]
        started = time.monotonic()
        self._start(downstream)
        wait_stable(self.scoped, [consumer_group(self.scoped, self.engine, p) for p in downstream], self.workers, 120)
        self.report.progress(
            f"{self.engine}: {', '.join(downstream)} ready after {time.monotonic() - started:.1f} s; starting risk"
        )
        broker = broker_pid()
        before = CpuSnapshot.take(self.workers, broker)
        self._start(["risk"])
        gauge = Gauge(self.scoped, self.engine)
        try:
            how = wait_idle(gauge, self.workers, 120 + len(commands) / 100, self.report.progress)
        finally:
            gauge.close()
        after = CpuSnapshot.take(self.workers, broker)
        self.report.progress(
            f"{self.engine}: backlog done ({how}) {time.monotonic() - started:.1f} s after start; "
            "reading the topics back"
        )
        back = read_back(self.scoped)
        spans = {topic: span.as_json() for topic, span in back.spans.items()}
        decisions, events, positions = (back.spans[t] for t in (RISK_DECISIONS, ORDERS_EVENTS, PORTFOLIO_POSITIONS))
        if not decisions.count or not events.count or not positions.count:
            raise RuntimeError(f"the backlog left nothing on the path's topics: {spans}")
        assert decisions.first_ms is not None and events.last_ms is not None and positions.last_ms is not None
        end_ms = max(events.last_ms, positions.last_ms)
        seconds = (end_ms - decisions.first_ms) / 1000
        outcomes = ", ".join(f"{k} {v:,}" for k, v in back.event_types.most_common())
        self.add(
            "throughput, commands",
            rate(len(commands), seconds),
            "commands/s",
            f"{len(commands):,} commands, first risk decision → last order event / position update "
            f"(Kafka CreateTime) in {seconds:.2f} s; {decisions.count:,} decisions; idle check: {how}",
            commands=len(commands),
            seconds=seconds,
            spans=spans,
        )
        self.add(
            "throughput, new orders",
            rate(new_orders, seconds),
            "orders/s",
            f"{new_orders:,} NewOrders over the same span, command → position; order events: {outcomes}",
            new_orders=new_orders,
            event_types=dict(back.event_types),
            last_terminal_ms=back.last_terminal_ms,
            end_ms=end_ms,
        )
        self.cpu_figures(before, after, new_orders, how)
        stages = "; ".join(
            f"{t} {s['records']:,} in {s['seconds']:.2f} s" for t, s in spans.items() if t != ORDERS_COMMANDS
        )
        self.report.progress(f"{self.engine}: per topic (first → last record): {stages}")

    def cpu_figures(self, before: CpuSnapshot, after: CpuSnapshot, new_orders: int, how: str) -> None:
        """CPU time the backlog cost, per new order: each worker, the broker, and the machine's busy share."""
        workers = {name: after.workers[name] - before.workers.get(name, 0.0) for name in after.workers}
        broker = after.broker - before.broker
        bench = after.bench - before.bench
        busy, total = after.machine_busy - before.machine_busy, after.machine_total - before.machine_total
        others = busy - sum(workers.values()) - broker - bench
        per_order = {name: cpu / new_orders * 1e6 for name, cpu in workers.items()}
        detail = ", ".join(f"{name} {us:,.0f}" for name, us in per_order.items())
        self.add(
            "CPU per new order, 4 workers",
            sum(per_order.values()),
            "µs/order",
            f"user + system CPU from risk's start until idle ({how}), per NewOrder: {detail} µs "
            "(risk's includes its own start, about 0.5 s of imports and connecting)",
            workers_cpu_s=workers,
            per_order_us=per_order,
        )
        window = total / max(1, os.cpu_count() or 1)
        share = busy / total if total else 0.0
        if not after.broker:  # an external cluster: no local broker process to account for
            self.report.notes[f"{self.engine} machine CPU"] = {"busy_share": share, "window_s": window}
            return
        self.add(
            "CPU per new order, broker",
            broker / new_orders * 1e6,
            "µs/order",
            f"the local broker's JVM over the same window; machine busy {share:.0%} of "
            f"{os.cpu_count()} CPUs over {window:.1f} s (workers {sum(workers.values()):.1f} s, broker "
            f"{broker:.1f} s, this process {bench:.1f} s, other processes {others:.1f} s)",
            broker_cpu_s=broker,
            machine_busy_share=share,
            other_processes_cpu_s=others,
            window_s=window,
        )

    def latency(self) -> None:
        args = self.args
        count = int(args.rate * (args.warmup_seconds + args.latency_seconds))
        flow = OrderFlow(
            FlowConfig(
                orders=count,
                seed=args.seed + 1,
                accounts=args.accounts,
                run_id=f"{self.topics.prefix}{self.engine}-paced",
                start_time_us=now_us(),
            )
        )
        commands = list(flow.commands())[:count]
        self.report.progress(
            f"{self.engine}: latency: {count:,} commands at {args.rate:,.0f} commands/s "
            f"({args.warmup_seconds:g} s warm-up not counted + {args.latency_seconds:g} s)"
        )
        result = paced_order_latency(self.scoped, commands, args.rate, args.warmup_seconds, self.report.progress)
        detail = (
            f"{result.sent:,} commands ({result.new_orders:,} NewOrders) at {rate(result.sent, result.seconds):,.0f}"
            f"/s, {result.late_sends} sent >1 ms late; order events seen: "
            + ", ".join(f"{k} {v:,}" for k, v in result.event_types.most_common())
            + self.saturation(result)
        )
        for name, samples, what in (
            ("command → risk decision", result.decision_us, "every command, its RiskDecision on risk.decisions"),
            (
                "command → PENDING_NEW",
                result.pending_us,
                "approved NewOrders, the oms's PENDING_NEW (before the venue)",
            ),
            ("command → ACCEPTED", result.accepted_us, "NewOrders the venue acknowledged: ACCEPTED on orders.events"),
        ):
            stats = latency_stats(samples)
            if not stats.get("count"):
                self.report.failed(self.phase, f"{name} p50", "no latency samples", "µs")
                continue
            self.add(
                f"{name} p50",
                stats["p50"],
                "µs",
                f"{what}; n={int(stats['count'])}, mean "
                f"{stats['mean'] / 1000:.2f} ms, p90 {stats['p90'] / 1000:.2f} ms, max {stats['max'] / 1000:.1f} ms; "
                + detail,
                stats=stats,
            )
            self.add(f"{name} p99", stats["p99"], "µs")

    def saturation(self, result: LatencyResult) -> str:
        """A warning when the path could not keep up with the paced rate (its latency then measures a queue)."""
        notes = []
        if result.decided < result.sent:
            notes.append(
                f"{result.sent - result.decided:,} of {result.sent:,} commands had no decision within "
                "the drain time (not counted: the figures understate)"
            )
        capacity = self.figures.get("throughput, commands")
        if capacity is not None and capacity < 1.1 * self.args.rate:
            notes.append(f"the backlog rate ({capacity:,.0f} commands/s) is not above the paced rate")
        return "; SATURATED: " + "; ".join(notes) if notes else ""

    def ratios(self, baseline: dict[str, float]) -> None:
        """Each figure divided by the plain loop's (throughput by its msg/s, latencies by its p50 / p99)."""
        pairs = (
            ("throughput, commands", "throughput", "loop msg/s"),
            ("throughput, new orders", "throughput", "loop msg/s"),
            ("command → ACCEPTED p50", "p50_us", "loop p50"),
            ("command → ACCEPTED p99", "p99_us", "loop p99"),
            ("command → risk decision p50", "p50_us", "loop p50"),
            ("command → risk decision p99", "p99_us", "loop p99"),
        )
        for name, key, of in pairs:
            if name in self.figures:
                ratio = self.figures[name] / baseline[key]
                self.report.add(self.phase, f"{name} ÷ loop", ratio, "ratio", f"{ratio:.3g} of the {of}")

    def notes_from_logs(self) -> None:
        for log_file in sorted(self.log_dir.glob(f"{self.engine}-*.log")):
            text = log_file.read_text(errors="replace")
            problems = [line for line in text.splitlines() if "Traceback" in line or "ERROR" in line]
            if problems:
                self.report.notes[f"{log_file.stem} log"] = problems[:10]
                self.report.progress(f"{log_file.stem}: {len(problems)} error lines, first: {problems[0][:200]}")


# -- the command ------------------------------------------------------------------------------------------


def run_shim(processor: str, options: list[str]) -> int:
    """One kafka-engine worker whose ``EngineOptions`` defaults are overridden by ``KEY=VALUE`` options.

    ``processors.runtime.worker`` imports ``EngineOptions`` from the engine module when it runs, so replacing
    the module's name runs the unchanged worker with other options: how a change of the defaults is measured
    before it is made.
    """
    import dataclasses
    import functools

    from processors.runtime import kafka_engine, worker

    fields = {f.name: f.type for f in dataclasses.fields(kafka_engine.EngineOptions)}
    overrides: dict[str, Any] = {}
    for option in options:
        name, _, text = option.partition("=")
        if name not in fields or name == "worker":
            raise SystemExit(f"unknown engine option {name!r}; known: {', '.join(f for f in fields if f != 'worker')}")
        overrides[name] = float(text) if fields[name] in (float, "float") else int(text)
    kafka_engine.EngineOptions = functools.partial(kafka_engine.EngineOptions, **overrides)  # type: ignore[misc,assignment]
    return worker.main([processor, "--engine", "kafka", "--worker", "0"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.order_path", description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=(*ENGINES, "both"), default="both")
    parser.add_argument("--orders", type=int, default=20_000, help="new orders in the backlog (20,000)")
    parser.add_argument(
        "--faust-orders",
        type=int,
        default=2_000,
        help="faust's backlog (2,000; capped by --orders): faust is about 10x slower",
    )
    parser.add_argument("--accounts", type=int, default=16, help="accounts of the flow (16)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=1000.0, help="paced commands/s for latency (1,000)")
    parser.add_argument("--warmup-seconds", type=float, default=2.0, help="paced warm-up not counted (2 s)")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="counted latency window (10 s)")
    parser.add_argument(
        "--with-baseline", action="store_true", help="measure the plain loop in this run (else read docs/BENCHMARKS.md)"
    )
    parser.add_argument("--baseline-messages", type=int, default=100_000, help="the loop's backlog (100,000)")
    parser.add_argument("--profile-dir", type=Path, default=None, help="run each worker under cProfile, .prof here")
    parser.add_argument(
        "--engine-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="run the kafka engine's workers with this EngineOptions field changed (repeatable)",
    )
    parser.add_argument("--run-worker", default=None, help=argparse.SUPPRESS)  # the shim's own process
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout (progress on stderr)")
    args = parser.parse_args(argv)
    if args.orders < 1 or args.faust_orders < 1 or args.accounts < 1 or args.rate <= 0 or args.latency_seconds <= 0:
        parser.error("--orders, --accounts, --rate and --latency-seconds must be positive")
    args.engines = list(ENGINES) if args.engine == "both" else [args.engine]
    if args.profile_dir is not None:
        args.profile_dir = args.profile_dir.resolve()
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    return args


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.run_worker is not None:
        return run_shim(args.run_worker, args.engine_option)
    reporter = Reporter(json_output=args.json)
    settings = load_settings()
    info = machine_info(settings)
    reporter.line("ShrivenQuant order path end to end (bench/order_path.py)")
    for line in machine_lines(info):
        reporter.line(line)
    reporter.line(
        f"engines: {', '.join(args.engines)}; backlog {args.orders:,} new orders (faust {args.faust_orders:,}) over "
        f"{args.accounts} "
        f"accounts; latency at {args.rate:,.0f} commands/s"
    )
    topics = BenchTopics(settings)
    reporter.line(f"topics: {topics.prefix}* (deleted at the end)")
    if busy := busy_warning(info):
        reporter.line(busy)
    signal.signal(signal.SIGTERM, _interrupt)
    interrupted = False
    baseline: dict[str, float] | None = None
    baseline_source = "docs/BENCHMARKS.md (latest recorded plain loop run)"
    runs: list[EngineRun] = []
    with tempfile.TemporaryDirectory(prefix="bench-order-path-") as tmp:
        try:
            if args.with_baseline:
                reporter.line("- plain loop baseline (bench.baseline --only loop)")
                try:
                    baseline = baseline_in_run(settings, reporter, args)
                    baseline_source = "measured in this run (bench.baseline's plain loop)"
                except Exception as error:
                    reporter.failed("loop", "run", f"{type(error).__name__}: {error}")
            for engine in args.engines:
                reporter.line(f"- {engine}")
                run = EngineRun(engine, settings, topics, reporter, args, Path(tmp))
                runs.append(run)
                try:
                    run.run()
                except Exception as error:
                    reporter.failed(run.phase, "run", f"{type(error).__name__}: {error}")
            if baseline is None and not args.with_baseline:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    baseline = baseline_from_docs()
            if baseline is not None:
                reporter.line(
                    f"- ratios to the plain loop ({baseline_source}: {baseline['throughput']:,.0f} msg/s, "
                    f"p50 {baseline['p50_us'] / 1000:.2f} ms, p99 {baseline['p99_us'] / 1000:.2f} ms)"
                )
                for run in runs:
                    run.ratios(baseline)
        except KeyboardInterrupt:
            interrupted = True
            reporter.line("interrupted")
        finally:
            for run in runs:
                stop_workers(run.workers)
            deleted = topics.cleanup()
            reporter.progress(f"deleted {len(deleted)} bench topics")
    reporter.summary()
    end_load = load_average()
    reporter.line(f"load average (1, 5, 15 min) after the run: {', '.join(map(str, end_load))}")
    if args.json:
        reporter.print_json(
            benchmark="bench.order_path",
            command="python -m bench.order_path " + " ".join(argv if argv is not None else sys.argv[1:]),
            machine=info,
            load_average_at_end=end_load,
            topic_prefix=topics.prefix,
            parameters={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            baseline={"source": baseline_source, **(baseline or {})},
        )
    if interrupted:
        return 130
    return 1 if any(f.error is not None for f in reporter.figures) else 0


if __name__ == "__main__":
    sys.exit(main())
