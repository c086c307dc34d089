"""The order path end to end through Kafka, its stages as real worker processes, per topology.

    python -m bench.order_path [--topology single|split|cores[,...]] [--engine kafka|faust] [--orders 20000]
                               [--accounts 16] [--seed 7] [--latency-seconds 10] [--sweep 0.1,0.3,0.5,0.7,0.9]
                               [--sweep-seconds 4] [--warmup-seconds 1] [--rate R] [--with-baseline]
                               [--engine-option NAME=VALUE ...] [--profile-dir DIR] [--plot PNG] [--json]

Per topology (``processors.runtime.pipeline.TOPOLOGIES``: ``single`` runs the stage ``orderpath``, risk + oms +
venue + portfolio in one exclusive process; ``split`` the stages ``account`` and ``venue``; ``cores`` a stage
per core), on topics of its own (the whole catalogue under ``bench-<run id>.<topology>.``), one worker per
stage, each ``python -m processors.runtime.worker STAGE`` as ``sq run`` starts it, with ``--engine-option``
passed through on its command line:

1. throughput (saturation): each account's risk limits (``OrderFlow.limits()``) to risk.limits; every stage
   started, and ready when its consumer group is stable and the stage that runs risk has committed the limits;
   then the seeded flow's backlog (``--orders`` new orders plus the flow's cancels, amends and invalid
   commands) is produced to orders.commands as fast as the producer goes. Measured from the records' Kafka
   timestamps (CreateTime, set by each worker's producer, ms): first risk decision → the later of the last
   orders.events record and the last portfolio.positions record, read back after every stage's group has
   committed the end of its Kafka inputs. Each worker's and the local broker's CPU time (/proc) from just
   before the backlog until idle give the CPU per new order.
2. latency at half of that saturation (commands/s, or ``--rate``): a second flow (same accounts, new client
   order ids) produced paced by a thread that notes the wall clock just before producing each command; a
   consumer in this process (read_committed, fetch.wait.max.ms=5) of risk.decisions and orders.events takes
   arrival minus that stamp: command → risk decision (every command), command → PENDING_NEW (the oms's event
   once risk approved, before the venue) and command → ACCEPTED (the venue's ack back through the oms), for
   NewOrders. Commands stamped in the first ``--warmup-seconds`` are not counted.
3. the curve: the same at ``--sweep`` fractions of saturation (short phases of ``--sweep-seconds``), lowest
   first; ``--plot`` draws command → ACCEPTED p50 and p99 against the offered rate, a line per topology, with
   the plain loop's p99 for reference.
4. ratios: new orders/s and commands/s ÷ the transactional loop's msg/s (``bench.baseline --only txloop``,
   the best the engine's pattern does on this broker), latencies ÷ the plain loop's (``--only loop``, tuned
   for latency); measured in this run with ``--with-baseline``, else read from docs/BENCHMARKS.md.

``--engine faust`` runs the ``cores`` topology only (faust runs one core per worker). ``--profile-dir`` runs
every worker under ``python -m cProfile -o <dir>/<topology>-<stage>.prof``. Progress goes to stderr; with
``--json`` stdout holds one JSON document. Topics and consumer groups are deleted at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
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
    broker_pid,
    busy_warning,
    interrupt_on_sigterm,
    latency_stats,
    load_average,
    machine_cpu_s,
    now_us,
    open_report,
    process_cpu_s,
    rate,
)
from connectors.order_flow import FlowCommand, FlowConfig, OrderFlow
from processors.runtime.pipeline import STAGES, TOPOLOGIES, Pipeline, stage_of, topology_stages
from processors.runtime.registry import consumer_group, stage_factories
from processors.runtime.supervisor import WorkerProcess, stop_workers, worker_argv
from schemas.codec import default_codec
from schemas.names import NEW_ORDER
from settings import PROJECT_ROOT, Settings
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
SWEEP = (0.1, 0.3, 0.5, 0.7, 0.9)
PATH_TOPICS = (ORDERS_COMMANDS, RISK_DECISIONS, VENUE_ORDERS, VENUE_EXECUTIONS, ORDERS_EVENTS, PORTFOLIO_POSITIONS)
QUIET_S = 3.0  # no watermark moved for this long: idle even if a group's committed offset stops before a marker
GAUGE_INTERVAL_S = 0.5
DOCS = PROJECT_ROOT / "docs" / "BENCHMARKS.md"
ACCEPTED_P99_AIM = 3.0  # the aim: command → ACCEPTED p99 at most this many times the plain loop's


def stage_inputs(stage: str) -> tuple[str, ...]:
    """The keyed inputs a stage's workers read from Kafka (its group commits these)."""
    return Pipeline([factory() for factory in stage_factories(stage)], stage).inputs


# -- workers ----------------------------------------------------------------------------------------------


def start_stage(
    stage: str,
    engine: str,
    settings: Settings,
    log_dir: Path,
    label: str,
    profile_dir: Path | None,
    options: list[str],
) -> WorkerProcess:
    """``processors.runtime.worker`` as ``supervisor.start_worker`` runs it (``worker_argv``, engine options on its
    command line), its output to a log file (stdout stays the JSON document's), optionally under cProfile."""
    argv = [sys.executable]
    if profile_dir is not None:
        argv += ["-m", "cProfile", "-o", str(profile_dir / f"{label}-{stage}.prof")]
    argv += worker_argv(stage, 0, engine, options)[1:]  # after the interpreter (and cProfile, if any)
    log = (log_dir / f"{label}-{stage}.log").open("wb")
    env = {**os.environ, **settings.as_env()}
    process = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT
    )
    log.close()
    return WorkerProcess(stage, 0, engine, process)


def wait_stable(settings: Settings, groups: list[str], workers: list[WorkerProcess], timeout_s: float) -> None:
    """Until each consumer group is stable with every member assigned (the worker is ready to consume)."""
    if not groups:
        return
    admin = admin_client(settings)
    deadline = time.monotonic() + timeout_s
    while True:
        check_alive(workers)
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


def check_alive(workers: list[WorkerProcess]) -> None:
    dead = [f"{w.label} (exit code {w.process.returncode})" for w in workers if w.process.poll() is not None]
    if dead:
        raise RuntimeError(f"worker(s) {', '.join(dead)} exited")


class Gauge:
    """Watermarks of the order path's topics and the committed offsets of each stage's group in its Kafka inputs
    (an exclusive stage commits its positions to its group too, after each transaction, for observers)."""

    def __init__(self, settings: Settings, engine: str, stages: Iterable[str]) -> None:
        self.settings = settings
        self.inputs = {stage: stage_inputs(stage) for stage in stages}
        self.consumer = Consumer(settings.kafka_config(**{"group.id": "bench-gauge", "enable.auto.commit": False}))
        self.groups = {
            stage: Consumer(
                settings.kafka_config(
                    **{"group.id": consumer_group(settings, engine, stage), "enable.auto.commit": False}
                )
            )
            for stage in self.inputs
        }
        self.partitions: dict[str, list[TopicPartition]] = {}
        for logical in {*PATH_TOPICS, RISK_LIMITS, *(t for inputs in self.inputs.values() for t in inputs)}:
            name = physical_name(settings, logical)
            metadata = self.consumer.list_topics(name, timeout=10).topics[name]
            self.partitions[logical] = [TopicPartition(name, p) for p in sorted(metadata.partitions)]

    def ends(self, logical: str) -> list[int]:
        return [self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1] for tp in self.partitions[logical]]

    def all_ends(self) -> dict[str, list[int]]:
        return {topic: self.ends(topic) for topic in self.partitions}

    def consumed(self, stage: str, ends: dict[str, list[int]], topics: Iterable[str] | None = None) -> bool:
        """Whether the stage's group has committed `ends` of its inputs (or of `topics` among them)."""
        group = self.groups[stage]
        for logical in self.inputs[stage] if topics is None else topics:
            committed = group.committed(self.partitions[logical], timeout=10)
            for tp, high in zip(committed, ends[logical], strict=True):
                if high > 0 and tp.offset < high:
                    return False
        return True

    def close(self) -> None:
        for consumer in (self.consumer, *self.groups.values()):
            consumer.close()


def wait_idle(
    gauge: Gauge, head: str, workers: list[WorkerProcess], timeout_s: float, progress: Callable[[str], None]
) -> str:
    """Until every stage's group consumed its inputs (or, once `head` has every command, nothing moved for
    QUIET_S)."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, list[int]] | None = None
    moved_at = time.monotonic()
    next_progress = time.monotonic() + 5
    while True:
        check_alive(workers)
        ends = gauge.all_ends()
        if ends != last:
            last, moved_at = ends, time.monotonic()
        if all(gauge.consumed(stage, ends) for stage in gauge.inputs):
            return "every stage's group consumed its inputs"
        # Quiet counts only once risk has every command: a faust worker can pause for seconds while starting.
        if time.monotonic() - moved_at > QUIET_S and gauge.consumed(head, ends, [ORDERS_COMMANDS]):
            return f"risk consumed every command and no topic moved for {QUIET_S:g} s"
        if time.monotonic() > deadline:
            raise TimeoutError(f"the order path did not finish within {timeout_s:.0f} s")
        if time.monotonic() >= next_progress:
            next_progress += 5
            progress(
                f"  orders.events {sum(ends[ORDERS_EVENTS]):,} offsets, positions {sum(ends[PORTFOLIO_POSITIONS]):,}"
            )
        time.sleep(GAUGE_INTERVAL_S)


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


def read_back(settings: Settings) -> ReadBack:
    """Every committed record of the path's topics: counts and first/last Kafka timestamps; order event types."""
    codec = default_codec()
    result = ReadBack()
    for logical in PATH_TOPICS:
        span = result.spans.setdefault(logical, TopicSpan())
        for record in read_topic(settings, logical, timeout_s=120.0):
            span.add(record.timestamp_ms)
            if logical == ORDERS_EVENTS and record.value is not None:
                result.event_types[codec.decode(record.value).record["event_type"]] += 1
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
    stall_timeout_s: float = 10.0,
    drain_limit_s: float = 300.0,
) -> LatencyResult:
    """Produce `commands` at `rate_per_s`; time each one's risk decision, PENDING_NEW and ACCEPTED arrivals, until
    every command is decided (or nothing arrived for `stall_timeout_s`, or `drain_limit_s` after the last send)."""
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
    encoded = [(c.key, codec.encode(c.schema, c.record), c) for c in commands]  # encoded before the clock

    def pace() -> None:
        producer = AvroProducer(settings, None, **{"linger.ms": 0})
        try:
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
                # Drained: every command decided and nothing arrived for a second; or stalled; or too long (a
                # saturated path drains its queue here, so a point past saturation measures the queue whole).
                deadline = deadline or time.monotonic() + drain_limit_s
                quiet = time.monotonic() - last_arrival
                settled = len(decision) >= state["sent"] and quiet > 1.0
                if settled or quiet > stall_timeout_s or time.monotonic() > deadline:
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


# -- the baselines ----------------------------------------------------------------------------------------


def baseline_from_docs(path: Path = DOCS) -> dict[str, float]:
    """The loops' figures of the latest recorded run (first value column) in docs/BENCHMARKS.md: the plain loop's
    throughput, p50 and p99, and the transactional loop's throughput when a txloop table is there."""
    text = path.read_text(encoding="utf-8")
    figures: dict[str, float] = {}
    rows = (
        ("### Plain confluent-kafka loop", "throughput", "throughput", 1.0),
        ("### Plain confluent-kafka loop", "latency p50", "p50_us", 1000.0),
        ("### Plain confluent-kafka loop", "latency p99", "p99_us", 1000.0),
        ("### Transactional loop (txloop)", "throughput", "txloop_throughput", 1.0),
    )
    for heading, name, key, scale in rows:
        if heading not in text:
            continue
        section = text.split(heading, 1)[1].split("\n### ", 1)[0]
        match = re.search(rf"^\| {re.escape(name)} \| ([\d,.]+) \|", section, re.MULTILINE)
        if match is None:
            raise ValueError(f"no '{name}' row under '{heading}' in {path.name}")
        figures[key] = float(match.group(1).replace(",", "")) * scale
    if "throughput" not in figures:
        raise ValueError(f"no plain loop table in {path.name}")
    return figures


def baseline_in_run(settings: Settings, reporter: Reporter, args: argparse.Namespace) -> dict[str, float]:
    """bench.baseline's plain loop (throughput on a backlog, latency at a paced rate) and its transactional loop
    (throughput on the same backlog), measured now."""
    from bench.baseline import Baseline

    options = argparse.Namespace(
        messages=args.baseline_messages,
        rate=args.baseline_rate,
        warmup_seconds=1.0,
        latency_seconds=args.latency_seconds,
    )
    baseline = Baseline(options, settings, reporter)
    try:
        baseline.loop()
        baseline.txloop()
    finally:
        baseline.topics.cleanup()
    values = {(f.phase, f.name): f.value for f in reporter.figures if f.error is None}
    found = {
        "throughput": values.get(("loop", "throughput (backlog)")),
        "p50_us": values.get(("loop", "latency p50")),
        "p99_us": values.get(("loop", "latency p99")),
        "txloop_throughput": values.get(("txloop", "throughput (backlog)")),
    }
    missing = [k for k, v in found.items() if not v]
    if missing:
        raise RuntimeError(f"the loops gave no {', '.join(missing)}")
    context = {  # the transactional pattern's latency with the engine's batching: for reading, no ratio
        "txloop_engine_batching_p50_us": values.get(("txloop, engine batching", "latency p50")),
        "txloop_engine_batching_p99_us": values.get(("txloop, engine batching", "latency p99")),
    }
    return {k: float(v) for k, v in {**found, **context}.items() if v}


# -- one topology ---------------------------------------------------------------------------------------------


@dataclass
class PhaseFlow(OrderFlow):
    """The seeded flow on accounts of its own (``<account_prefix>ACC-001``, …): each latency phase starts from
    fresh accounts, so positions, open orders and circuit breakers left by earlier phases (which make risk deny
    everything once limits are reached) do not carry over from one point of the curve to the next."""

    account_prefix: str = ""

    def accounts(self) -> list[str]:
        return [self.account_prefix + account for account in super().accounts()]

    def _account(self) -> str:
        return self.account_prefix + super()._account()


@dataclass
class CurvePoint:
    fraction: float
    offered: float  # commands/s, the pacer's schedule
    sent_rate: float  # commands/s the pacer achieved
    accepted: dict[str, float]
    decision: dict[str, float]
    cpu_us_per_order: float | None  # workers + broker over the phase (pacing and drain), per NewOrder sent


class TopologyRun:
    def __init__(
        self,
        topology: str,
        engine: str,
        settings: Settings,
        topics: BenchTopics,
        reporter: Reporter,
        args: argparse.Namespace,
        log_dir: Path,
    ) -> None:
        self.topology, self.engine = topology, engine
        self.label = topology if engine == "kafka" else f"{topology}-{engine}"
        self.phase = topology if engine == "kafka" else f"{topology} ({engine})"
        self.scoped = settings.with_topic_prefix(f"{topics.prefix}{self.label}.")
        self.topics, self.report, self.args, self.log_dir = topics, reporter, args, log_dir
        self.stages = topology_stages(topology)
        self.head = stage_of("risk", topology)  # the stage the commands enter
        self.backlog_orders = min(args.orders, args.faust_orders) if engine == "faust" else args.orders
        self.workers: list[WorkerProcess] = []
        self.figures: dict[str, float] = {}
        self.curve: list[CurvePoint] = []
        self.paced = 0

    def add(self, name: str, value: float, unit: str, detail: str = "", **extra: Any) -> None:
        self.figures[name] = value
        self.report.add(self.phase, name, value, unit, detail, **extra)

    def run(self) -> None:
        create_topics(self.scoped, CATALOGUE)
        try:
            self.throughput()
            saturation = self.figures["throughput, commands"]
            self.latency(self.args.rate or saturation / 2, self.args.latency_seconds, main=True)
            for fraction in self.args.sweep:
                self.latency(saturation * fraction, self.args.sweep_seconds, fraction=fraction)
        finally:
            stop_workers(self.workers)
            self.notes_from_logs()
            if self.engine == "faust":  # faust's data folders (memory store: empty, but created per app)
                for stage in self.stages:
                    shutil.rmtree(
                        self.scoped.home / "faust" / f"{self.scoped.topic_prefix}{stage}-0", ignore_errors=True
                    )

    def start(self) -> None:
        """Every stage's worker; back once each is ready (group stable, the head stage has the limits)."""
        options = self.args.engine_option if self.engine == "kafka" else []
        started = time.monotonic()
        for stage in self.stages:
            self.workers.append(
                start_stage(stage, self.engine, self.scoped, self.log_dir, self.label, self.args.profile_dir, options)
            )
        grouped = [s for s in self.stages if self.engine == "faust" or not STAGES[s].exclusive]
        wait_stable(self.scoped, [consumer_group(self.scoped, self.engine, s) for s in grouped], self.workers, 120)
        self.wait_limits()
        self.report.progress(
            f"{self.label}: {', '.join(self.stages)} ready after {time.monotonic() - started:.1f} s "
            f"(the {self.head} stage has the limits)"
        )

    def wait_limits(self, timeout_s: float = 120.0) -> None:
        """Until the head stage has committed every risk limits record sent so far."""
        gauge = Gauge(self.scoped, self.engine, [self.head])
        try:
            deadline = time.monotonic() + timeout_s
            ends = {RISK_LIMITS: gauge.ends(RISK_LIMITS)}
            while not gauge.consumed(self.head, ends, [RISK_LIMITS]):
                check_alive(self.workers)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.head} did not take the risk limits within {timeout_s:.0f} s")
                time.sleep(0.05)
        finally:
            gauge.close()

    def throughput(self) -> None:
        args = self.args
        flow = OrderFlow(
            FlowConfig(
                orders=self.backlog_orders,
                seed=args.seed,
                accounts=args.accounts,
                run_id=f"{self.topics.prefix}{self.label}-backlog",
                start_time_us=now_us(),
            )
        )
        producer = AvroProducer(self.scoped)
        for limits in flow.limits():
            producer.produce(RISK_LIMITS, limits.key, limits.schema, limits.record)
        producer.flush()
        self.start()
        commands = [(c.key, producer.codec.encode(c.schema, c.record)) for c in flow.commands()]
        new_orders = flow.placed
        self.report.progress(
            f"{self.label}: producing the backlog of {len(commands):,} commands ({new_orders:,} new orders, "
            f"{args.accounts} accounts)"
        )
        broker = broker_pid(self.scoped.bootstrap_servers)
        before = CpuSnapshot.take(self.workers, broker)
        started = time.monotonic()
        for key, value in commands:
            producer.produce_raw(ORDERS_COMMANDS, key, value)
        producer.flush(120)
        gauge = Gauge(self.scoped, self.engine, self.stages)
        try:
            how = wait_idle(gauge, self.head, self.workers, 120 + len(commands) / 100, self.report.progress)
        finally:
            gauge.close()
        after = CpuSnapshot.take(self.workers, broker)
        self.report.progress(
            f"{self.label}: backlog done ({how}) {time.monotonic() - started:.1f} s after its first command; "
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
            end_ms=end_ms,
        )
        self.cpu_figures(before, after, new_orders, how)
        stages = "; ".join(
            f"{t} {s['records']:,} in {s['seconds']:.2f} s" for t, s in spans.items() if t != ORDERS_COMMANDS
        )
        self.report.progress(f"{self.label}: per topic (first → last record): {stages}")

    def cpu_figures(self, before: CpuSnapshot, after: CpuSnapshot, new_orders: int, how: str) -> None:
        """CPU time the backlog cost, per new order: each worker, the broker, and the machine's busy share."""
        workers = {name: after.workers[name] - before.workers.get(name, 0.0) for name in after.workers}
        broker = after.broker - before.broker
        bench = after.bench - before.bench
        busy, total = after.machine_busy - before.machine_busy, after.machine_total - before.machine_total
        others = busy - sum(workers.values()) - broker - bench
        per_order = {name: cpu / new_orders * 1e6 for name, cpu in workers.items()}
        detail = ", ".join(f"{name} {us:,.0f}" for name, us in per_order.items())
        window = total / max(1, os.cpu_count() or 1)
        share = busy / total if total else 0.0
        self.add(
            "CPU per new order, workers",
            sum(per_order.values()),
            "µs/order",
            f"user + system CPU from just before the backlog until idle ({how}), per NewOrder: {detail} µs",
            workers_cpu_s=workers,
            per_order_us=per_order,
        )
        if not after.broker:  # an external cluster: no local broker process to account for
            self.report.notes[f"{self.label} machine CPU"] = {"busy_share": share, "window_s": window}
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
        self.add(
            "CPU per new order, workers + broker",
            (sum(workers.values()) + broker) / new_orders * 1e6,
            "µs/order",
            "the two above together (the issue's aim: ≤ 1,000 µs)",
        )

    def latency(self, rate_per_s: float, seconds: float, *, main: bool = False, fraction: float | None = None) -> None:
        args = self.args
        count = max(1, int(rate_per_s * (args.warmup_seconds + seconds)))
        self.paced += 1
        flow = PhaseFlow(
            FlowConfig(
                orders=count,
                seed=args.seed + self.paced,
                accounts=args.accounts,
                run_id=f"{self.topics.prefix}{self.label}-paced-{self.paced}",
                start_time_us=now_us(),
            ),
            account_prefix=f"P{self.paced}-",
        )
        producer = AvroProducer(self.scoped)
        for limits in flow.limits():
            producer.produce(RISK_LIMITS, limits.key, limits.schema, limits.record)
        producer.flush()
        self.wait_limits()
        commands = list(flow.commands())[:count]
        if fraction is not None:
            what = f"{fraction:.0%} of saturation"
        else:
            what = "half of saturation" if self.args.rate is None else "--rate"
        self.report.progress(
            f"{self.label}: latency ({what}): {count:,} commands at {rate_per_s:,.0f} commands/s "
            f"({args.warmup_seconds:g} s warm-up not counted + {seconds:g} s)"
        )
        broker = broker_pid(self.scoped.bootstrap_servers)
        before = CpuSnapshot.take(self.workers, broker)
        result = paced_order_latency(self.scoped, commands, rate_per_s, args.warmup_seconds, self.report.progress)
        after = CpuSnapshot.take(self.workers, broker)
        ours = sum(after.workers.values()) - sum(before.workers.values()) + after.broker - before.broker
        others = after.machine_busy - before.machine_busy - ours - (after.bench - before.bench)
        cpu = ours / result.new_orders * 1e6 if result.new_orders and broker else None
        accepted, decision = latency_stats(result.accepted_us), latency_stats(result.decision_us)
        sent_rate = rate(result.sent, result.seconds)
        if fraction is not None:
            self.curve.append(CurvePoint(fraction, rate_per_s, sent_rate, accepted, decision, cpu))
        cpu_text = f"CPU per NewOrder, workers + broker {cpu:,.0f} µs; " if cpu is not None else ""
        detail = (
            f"at {rate_per_s:,.0f} commands/s offered ({sent_rate:,.0f}/s sent), {what}; {cpu_text}other processes "
            f"{others:.1f} CPU-s over the phase; {result.sent:,} commands "
            f"({result.new_orders:,} NewOrders), {result.late_sends} sent >1 ms late; order events seen: "
            + ", ".join(f"{k} {v:,}" for k, v in result.event_types.most_common())
            + self.saturation(result, rate_per_s)
        )
        if not main:
            assert fraction is not None
            pct = f"{fraction * 100:.0f} %"
            if not accepted.get("count"):
                self.report.failed(self.phase, f"command → ACCEPTED p50 at {pct}", "no latency samples", "µs")
                return
            self.add(
                f"command → ACCEPTED p50 at {pct}",
                accepted["p50"],
                "µs",
                f"n={int(accepted['count'])}, max {accepted['max'] / 1000:.1f} ms; command → risk decision p50 "
                f"{decision.get('p50', 0) / 1000:.1f} ms, p99 {decision.get('p99', 0) / 1000:.1f} ms; " + detail,
                stats=accepted,
                decision_stats=decision,
                offered_rate=rate_per_s,
                fraction=fraction,
                cpu_us_per_order=cpu,
                other_processes_cpu_s=others,
            )
            self.add(f"command → ACCEPTED p99 at {pct}", accepted["p99"], "µs")
            return
        for name, samples, about in (
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
                f"{about}; n={int(stats['count'])}, mean "
                f"{stats['mean'] / 1000:.2f} ms, p90 {stats['p90'] / 1000:.2f} ms, max {stats['max'] / 1000:.1f} ms; "
                + detail,
                stats=stats,
                offered_rate=rate_per_s,
                cpu_us_per_order=cpu,
                other_processes_cpu_s=others,
            )
            self.add(f"{name} p99", stats["p99"], "µs")
        if cpu is not None:
            self.add(
                "CPU per new order at half saturation, workers + broker",
                cpu,
                "µs/order",
                f"over the paced phase at {rate_per_s:,.0f} commands/s (its drain included), per NewOrder sent: "
                "transactions are smaller than in the backlog, so their fixed costs weigh more",
            )

    def saturation(self, result: LatencyResult, rate_per_s: float) -> str:
        """A warning when the path could not keep up with the paced rate (its latency then measures a queue)."""
        notes = []
        if result.decided < result.sent:
            notes.append(
                f"{result.sent - result.decided:,} of {result.sent:,} commands had no decision within "
                "the drain time (not counted: the figures understate)"
            )
        capacity = self.figures.get("throughput, commands")
        if capacity is not None and capacity < rate_per_s:
            notes.append(f"the backlog rate ({capacity:,.0f} commands/s) is below the paced rate")
        return "; SATURATED: " + "; ".join(notes) if notes else ""

    def ratios(self, baseline: dict[str, float]) -> None:
        """Throughput ÷ the transactional loop's msg/s; latencies ÷ the plain loop's p50 / p99."""
        pairs = [
            ("throughput, new orders", "txloop", "txloop_throughput", "txloop msg/s"),
            ("throughput, commands", "txloop", "txloop_throughput", "txloop msg/s"),
            ("command → ACCEPTED p50", "loop", "p50_us", "loop p50"),
            ("command → ACCEPTED p99", "loop", "p99_us", "loop p99"),
            ("command → risk decision p50", "loop", "p50_us", "loop p50"),
            ("command → risk decision p99", "loop", "p99_us", "loop p99"),
        ]
        for name, base, key, of in pairs:
            if name in self.figures and baseline.get(key):
                ratio = self.figures[name] / baseline[key]
                self.report.add(self.phase, f"{name} ÷ {base}", ratio, "ratio", f"{ratio:.3g} of the {of}")

    def notes_from_logs(self) -> None:
        for log_file in sorted(self.log_dir.glob(f"{self.label}-*.log")):
            text = log_file.read_text(errors="replace")
            problems = [line for line in text.splitlines() if "Traceback" in line or "ERROR" in line]
            if problems:
                self.report.notes[f"{log_file.stem} log"] = problems[:10]
                self.report.progress(f"{log_file.stem}: {len(problems)} error lines, first: {problems[0][:200]}")


# -- the plot ---------------------------------------------------------------------------------------------


def plot_curve(path: Path, runs: list[TopologyRun], baseline: dict[str, float] | None, title: str) -> None:
    """Above: command → ACCEPTED p50 (dashed) and p99 (solid) against the offered rate, a line pair per topology,
    with the plain loop's p99 and the aim (3 times it) as reference lines. Below: the CPU each new order cost
    over the same phases (workers + broker), with the aim of 1,000 µs. PNG, matplotlib's Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (axes, cpu_axes) = plt.subplots(
        2, 1, figsize=(9, 8), dpi=110, sharex=True, gridspec_kw={"height_ratios": [3, 1.3]}
    )
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, run in enumerate(r for r in runs if r.curve):
        color = colors[index % len(colors)]
        points = sorted(run.curve, key=lambda p: p.offered)
        xs = [p.offered for p in points]
        saturation = run.figures.get("throughput, commands", 0.0)
        label = f"{run.phase} (saturation {saturation:,.0f} commands/s)"
        p99 = [p.accepted.get("p99", float("nan")) / 1000 for p in points]
        axes.plot(xs, p99, "o-", color=color, label=f"{label}: p99")
        axes.plot(xs, [p.accepted.get("p50", float("nan")) / 1000 for p in points], "s--", color=color, label="p50")
        for p, y in zip(points, p99, strict=True):
            axes.annotate(
                f"{p.fraction:.0%}",
                (p.offered, y),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=7,
                color=color,
            )
        cpu = [p.cpu_us_per_order if p.cpu_us_per_order is not None else float("nan") for p in points]
        cpu_axes.plot(xs, cpu, "o-", color=color, label=run.phase)
    if baseline and baseline.get("p99_us"):
        loop_p99 = baseline["p99_us"] / 1000
        axes.axhline(loop_p99, color="grey", linestyle=":", label=f"plain loop p99 ({loop_p99:.2f} ms)")
        axes.axhline(
            ACCEPTED_P99_AIM * loop_p99,
            color="firebrick",
            linestyle=":",
            label=f"aim: {ACCEPTED_P99_AIM:g}x the loop's p99 ({ACCEPTED_P99_AIM * loop_p99:.2f} ms)",
        )
    axes.set_yscale("log")
    axes.set_ylabel("command → ACCEPTED, ms (log scale)")
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, loc="upper left")
    cpu_axes.axhline(1000, color="firebrick", linestyle=":", label="aim: 1,000 µs")
    cpu_axes.set_ylim(bottom=0)
    cpu_axes.set_ylabel("CPU per new order, µs\n(workers + broker)", fontsize=8)
    cpu_axes.set_xlabel("offered rate, commands/s (labels: share of the topology's saturation)")
    cpu_axes.grid(True, alpha=0.3)
    cpu_axes.legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


# -- the command ------------------------------------------------------------------------------------------


def _fractions(text: str) -> list[float]:
    values = [float(v) for v in text.split(",") if v.strip()]
    if not all(0 < v <= 2 for v in values):
        raise argparse.ArgumentTypeError("sweep fractions are shares of saturation in (0, 2]")
    return sorted(values)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.order_path", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--topology",
        default="single",
        help=f"comma-separated topologies to measure, of {', '.join(TOPOLOGIES)} (single)",
    )
    parser.add_argument("--engine", choices=ENGINES, default="kafka", help="kafka (default); faust: cores only")
    parser.add_argument("--orders", type=int, default=20_000, help="new orders in the backlog (20,000)")
    parser.add_argument("--faust-orders", type=int, default=2_000, help="faust's backlog (2,000; capped by --orders)")
    parser.add_argument("--accounts", type=int, default=16, help="accounts of the flow (16)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--rate", type=float, default=None, help="paced commands/s of the main latency phase (half of saturation)"
    )
    parser.add_argument("--warmup-seconds", type=float, default=1.0, help="paced warm-up not counted (1 s)")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="main latency phase, counted (10 s)")
    parser.add_argument(
        "--sweep",
        type=_fractions,
        default=list(SWEEP),
        help="shares of saturation for the latency curve (0.1,0.3,0.5,0.7,0.9)",
    )
    parser.add_argument("--sweep-seconds", type=float, default=4.0, help="each curve point, counted (4 s)")
    parser.add_argument(
        "--with-baseline",
        action="store_true",
        help="measure the plain loop and the txloop in this run (else read docs/BENCHMARKS.md)",
    )
    parser.add_argument("--baseline-messages", type=int, default=100_000, help="the loops' backlog (100,000)")
    parser.add_argument("--baseline-rate", type=float, default=1000.0, help="the plain loop's paced msg/s (1,000)")
    parser.add_argument("--profile-dir", type=Path, default=None, help="run each worker under cProfile, .prof here")
    parser.add_argument(
        "--engine-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="passed to every kafka worker's command line (processors.runtime.kafka_engine.EngineOptions)",
    )
    parser.add_argument("--plot", type=Path, default=None, help="write the latency curve to this PNG")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout (progress on stderr)")
    args = parser.parse_args(argv)
    args.topologies = [t.strip() for t in args.topology.split(",") if t.strip()]
    if unknown := [t for t in args.topologies if t not in TOPOLOGIES]:
        parser.error(f"unknown topology {', '.join(unknown)}; choose from {', '.join(TOPOLOGIES)}")
    if args.engine == "faust" and args.topologies != ["cores"]:
        parser.error("the faust engine runs one core per worker: --topology cores only")
    if args.engine == "faust" and args.engine_option:
        parser.error("--engine-option sets the kafka engine's options")
    positive = (args.orders, args.faust_orders, args.accounts, args.latency_seconds, args.sweep_seconds)
    if min(positive) <= 0 or (args.rate is not None and args.rate <= 0):
        parser.error("--orders, --accounts, --rate, --latency-seconds and --sweep-seconds must be positive")
    if args.profile_dir is not None:
        args.profile_dir = args.profile_dir.resolve()
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reporter, settings, info = open_report("ShrivenQuant order path end to end (bench/order_path.py)", args.json)
    reporter.line(
        f"topologies: {', '.join(args.topologies)} on the {args.engine} engine; backlog "
        f"{args.orders if args.engine == 'kafka' else min(args.orders, args.faust_orders):,} new orders over "
        f"{args.accounts} accounts; latency at half of saturation, curve at "
        + ", ".join(f"{f:.0%}" for f in args.sweep)
        + (f"; engine options {' '.join(args.engine_option)}" if args.engine_option else "")
    )
    topics = BenchTopics(settings)
    reporter.line(f"topics: {topics.prefix}* (deleted at the end)")
    if busy := busy_warning(info):
        reporter.line(busy)
    interrupt_on_sigterm()
    interrupted = False
    baseline: dict[str, float] | None = None
    baseline_source = "docs/BENCHMARKS.md (latest recorded loop runs)"
    runs: list[TopologyRun] = []
    with tempfile.TemporaryDirectory(prefix="bench-order-path-") as tmp:
        try:
            if args.with_baseline:
                reporter.line("- the loops (bench.baseline --only loop,txloop)")
                try:
                    baseline = baseline_in_run(settings, reporter, args)
                    baseline_source = "measured in this run (bench.baseline's plain loop and txloop)"
                except Exception as error:
                    reporter.failed("loop", "run", f"{type(error).__name__}: {error}")
            for topology in args.topologies:
                reporter.line(f"- {topology}: stages {', '.join(topology_stages(topology))}")
                run = TopologyRun(topology, args.engine, settings, topics, reporter, args, Path(tmp))
                runs.append(run)
                try:
                    run.run()
                except Exception as error:
                    reporter.failed(run.phase, "run", f"{type(error).__name__}: {error}")
            if baseline is None and not args.with_baseline:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    baseline = baseline_from_docs()
            if baseline is not None:
                txloop = baseline.get("txloop_throughput")
                reporter.line(
                    f"- ratios ({baseline_source}): plain loop p50 {baseline['p50_us'] / 1000:.2f} ms, p99 "
                    f"{baseline['p99_us'] / 1000:.2f} ms; txloop "
                    + (f"{txloop:,.0f} msg/s" if txloop else "not recorded")
                )
                for run in runs:
                    run.ratios(baseline)
        except KeyboardInterrupt:
            interrupted = True
            reporter.line("interrupted")
        finally:
            for run in runs:
                stop_workers(run.workers)
            deleted = topics.cleanup(groups_wait_s=15.0 if runs else 0.0)  # static members lapse in 10 s
            left = f"; {len(topics.groups)} consumer groups still had members" if topics.groups else ""
            reporter.progress(f"deleted {len(deleted)} bench topics and their consumer groups{left}")
    end_load = load_average()
    if args.plot is not None and any(run.curve for run in runs):
        start_load = info["load_average_at_start"][0]
        title = (
            f"command → ACCEPTED vs offered rate ({args.engine} engine, {args.orders:,}-order backlog first; "
            f"load {start_load} → {end_load[0]} on {info['nproc']} CPUs)"
        )
        plot_curve(args.plot, runs, baseline, title)
        reporter.progress(f"latency curve written to {args.plot}")
    reporter.summary()
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
            curves={
                run.phase: [
                    {
                        "fraction": p.fraction,
                        "offered_commands_per_s": p.offered,
                        "sent_commands_per_s": p.sent_rate,
                        "accepted_us": p.accepted,
                        "decision_us": p.decision,
                        "cpu_us_per_order": p.cpu_us_per_order,
                    }
                    for p in run.curve
                ]
                for run in runs
            },
        )
    if interrupted:
        return 130
    return 1 if any(f.error is not None for f in reporter.figures) else 0


if __name__ == "__main__":
    sys.exit(main())
