"""Helpers every benchmark shares: the machine, latency statistics, figures and their printing, bench topics,
and a paced producer with a measuring consumer for end-to-end latency.

Benchmarks print what they measure; nothing here asserts a figure (figures are measured, never tested).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from settings import Settings, load_settings
from topics.admin import admin_client, create_topics, physical_name
from topics.catalogue import spec_for

# -- the machine ------------------------------------------------------------------------------------------


def _proc_field(path: str, name: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        return None
    return None


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _os_name() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
    except OSError:
        return platform.system()


def machine_info(settings: Settings | None = None) -> dict[str, Any]:
    """What a figure depends on: CPUs, memory, kernel, Python, the Kafka client libraries and the broker."""
    import confluent_kafka

    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "memory_gib": round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None,
        "os": _os_name(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "confluent_kafka": _version("confluent-kafka"),
        "librdkafka": confluent_kafka.libversion()[0],
        "fastavro": _version("fastavro"),
        "faust_streaming": _version("faust-streaming"),
        "aiokafka": _version("aiokafka"),
        "numpy": np.__version__,
        "load_average_at_start": load_average(),
    }
    if settings is not None:
        info["broker"] = broker_description(settings)
    return info


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: other processes on the machine lower every figure."""
    return [round(x, 2) for x in os.getloadavg()]


def busy_warning(info: Mapping[str, Any]) -> str | None:
    """A warning when the machine was already busy before the run (1-minute load above half the CPUs)."""
    one_minute = info["load_average_at_start"][0]
    if one_minute <= info["nproc"] / 2:
        return None
    return (
        f"WARNING: load average {one_minute} on {info['nproc']} CPUs before the run: other processes compete for "
        "the CPUs, so these figures are lower than this machine's quiet ones"
    )


def broker_description(settings: Settings) -> str:
    if settings.external_kafka:
        return f"external cluster ({settings.bootstrap_servers})"
    jars = sorted((settings.home / "kafka" / "libs").glob("kafka-server-[0-9]*.jar"))
    version = jars[-1].stem.removeprefix("kafka-server-") if jars else "unknown version"
    return f"Apache Kafka {version}, local single node (KRaft), {settings.bootstrap_servers}"


def machine_lines(info: Mapping[str, Any]) -> list[str]:
    return [
        f"machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB RAM, {info['os']}, "
        f"{info['kernel']}",
        f"python {info['python']}, confluent-kafka {info['confluent_kafka']} / librdkafka {info['librdkafka']}, "
        f"fastavro {info['fastavro']}, faust-streaming {info['faust_streaming']} / aiokafka {info['aiokafka']}",
        f"broker: {info.get('broker', 'not queried')}",
        f"load average (1, 5, 15 min) before the run: {', '.join(map(str, info['load_average_at_start']))}",
    ]


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def interrupt_on_sigterm() -> None:
    """SIGTERM raises KeyboardInterrupt: a bench stopped with `kill` cleans up (topics, processes) as on Ctrl-C."""
    signal.signal(signal.SIGTERM, _raise_interrupt)


def open_report(title: str, json_output: bool) -> tuple[Reporter, Settings, dict[str, Any]]:
    """A bench's reporter, settings and machine info, the title and the machine lines printed first."""
    reporter = Reporter(json_output=json_output)
    settings = load_settings()
    info = machine_info(settings)
    reporter.line(title)
    for line in machine_lines(info):
        reporter.line(line)
    return reporter, settings, info


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


def join_group(consumer: Consumer, source: str, lifetime_s: float) -> tuple[float, int]:
    """A loop process's start: subscribe and poll until assigned (with a backlog, the first records wait in the
    queue). (The deadline of the loop's lifetime, the partitions assigned.)"""
    assigned: list[TopicPartition] = []
    consumer.subscribe([source], on_assign=lambda _c, partitions: assigned.extend(partitions))
    deadline = time.monotonic() + lifetime_s
    while not assigned and time.monotonic() < deadline:
        consumer.poll(0.1)
    return deadline, len(assigned)


@dataclass
class BacklogMeter:
    """A loop's backlog figures, from the first record it forwards: wall time, its CPU and the broker's."""

    broker: int | None  # the local broker's pid; None on an external cluster
    first: float | None = None
    cpu_first: float = 0.0
    broker_first: float = 0.0

    def start(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()
            self.cpu_first = time.process_time()
            self.broker_first = process_cpu_s(self.broker) if self.broker else 0.0

    def figures(self, count: int) -> dict[str, Any]:
        """``count``, ``seconds``, ``cpu_s``, ``broker_cpu_s`` (None without a local broker) since ``start``."""
        assert self.first is not None, "figures before the first record"
        return {
            "count": count,
            "seconds": time.perf_counter() - self.first,
            "cpu_s": time.process_time() - self.cpu_first,
            "broker_cpu_s": (process_cpu_s(self.broker) - self.broker_first) if self.broker else None,
        }


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all CPUs together."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / CLOCK_TICKS, sum(values) / CLOCK_TICKS


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on ``port`` (IPv4 and IPv6)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as handle:
            for line in list(handle)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                    inodes.add(fields[9])
    return inodes


def broker_pid(bootstrap_servers: str | None = None) -> int | None:
    """The local Kafka broker's process (a JVM running kafka.Kafka), if it runs on this machine.

    Several brokers may run here (colleagues' private stacks): with ``bootstrap_servers``, the one listening on
    the first server's port; without, or when no socket matches, the only one (None when there are several).
    """
    brokers = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if b"kafka.Kafka" in (entry / "cmdline").read_bytes():
                    brokers.append(entry)
    if bootstrap_servers:
        port = int(bootstrap_servers.split(",")[0].rsplit(":", 1)[1])
        sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
        for entry in brokers:
            with contextlib.suppress(OSError):
                if any(os.readlink(fd) in sockets for fd in (entry / "fd").iterdir()):
                    return int(entry.name)
    return int(brokers[0].name) if len(brokers) == 1 else None


# -- statistics -------------------------------------------------------------------------------------------

PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))


def latency_stats(samples_us: Sequence[float] | np.ndarray) -> dict[str, float]:
    """count, min, mean, p50, p90, p99, p99.9 and max of latency samples in microseconds."""
    values = np.asarray(samples_us, dtype=np.float64)
    if values.size == 0:
        return {"count": 0}
    stats: dict[str, float] = {"count": int(values.size), "min": float(values.min()), "mean": float(values.mean())}
    for name, q in PERCENTILES:
        stats[name] = float(np.percentile(values, q))
    stats["max"] = float(values.max())
    return stats


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("nan")


def fmt_us(us: float) -> str:
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "µs":
        return fmt_us(value) if value >= 1000 else f"{value:.2f} µs"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:,.2f} {unit}"


def runs_spread(seconds: Sequence[float]) -> str:
    """How many timed runs a median is of and their range, for a figure's detail."""
    return f"median of {len(seconds)} runs, {min(seconds):.3f}..{max(seconds):.3f} s"


def median_of_runs(measure: Callable[[], float], repeat: int) -> tuple[float, str]:
    """The median of ``repeat`` runs of ``measure`` (seconds), and their spread (``runs_spread``)."""
    runs = [measure() for _ in range(repeat)]
    return statistics.median(runs), runs_spread(runs)


def now_us() -> int:
    return time.time_ns() // 1000


# -- figures and their printing ---------------------------------------------------------------------------


@dataclass
class Figure:
    """One measured number (or the error that stopped it), with what it means and how it was produced."""

    phase: str
    name: str
    value: float | None
    unit: str
    detail: str = ""
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Reporter:
    """Prints progress (stderr) and figures as they finish; the summary table or a JSON document at the end.

    With ``json_output`` every human-readable line goes to stderr so stdout holds exactly one JSON document.
    """

    def __init__(self, json_output: bool = False) -> None:
        self.json_output = json_output
        self.figures: list[Figure] = []
        self.notes: dict[str, Any] = {}
        self.started = time.monotonic()

    @property
    def stream(self) -> Any:
        return sys.stderr if self.json_output else sys.stdout

    def line(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    def progress(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"  [{elapsed:6.1f} s] {text}", file=sys.stderr, flush=True)

    def figure(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        label = f"{figure.phase}: {figure.name}"
        if figure.error is not None:
            self.line(f"= {label}: FAILED: {figure.error}")
        else:
            detail = f"  ({figure.detail})" if figure.detail else ""
            self.line(f"= {label} = {fmt_value(figure.value, figure.unit)}{detail}")
        return figure

    def add(self, phase: str, name: str, value: float | None, unit: str, detail: str = "", **extra: Any) -> Figure:
        return self.figure(Figure(phase, name, value, unit, detail, None, extra))

    def failed(self, phase: str, name: str, error: str, unit: str = "") -> Figure:
        return self.figure(Figure(phase, name, None, unit, "", error))

    def add_latency(self, phase: str, stats: Mapping[str, float], detail: str = "", **extra: Any) -> None:
        """p50 and p99 as figures (µs); the whole distribution goes with p50 as extra data."""
        if not stats.get("count"):
            self.failed(phase, "latency p50", "no latency samples were received", "µs")
            return
        summary = ", ".join(f"{k} {fmt_us(stats[k])}" for k in ("min", "mean", "p90", "max"))
        self.add(
            phase,
            "latency p50",
            stats["p50"],
            "µs",
            f"n={int(stats['count'])}; {summary}; {detail}".rstrip("; "),
            stats=dict(stats),
            **extra,
        )
        self.add(phase, "latency p99", stats["p99"], "µs")

    def machine(self, info: Mapping[str, Any]) -> None:
        """The lines describing the machine (``machine_lines``), before any figure."""
        for text in machine_lines(info):
            self.line(text)

    def finish(self, **top: Any) -> None:
        """The JSON document (``top`` and the figures) when asked for one, else the summary table."""
        if self.json_output:
            self.print_json(**top)
        else:
            self.summary()

    def summary(self) -> None:
        rows = [
            (f.phase, f.name, "FAILED" if f.error is not None else fmt_value(f.value, f.unit)) for f in self.figures
        ]
        if not rows:
            return
        widths = [max(len(r[i]) for r in [*rows, ("phase", "figure", "value")]) for i in range(3)]
        self.line()
        self.line("Summary")
        header = ("phase", "figure", "value")
        self.line("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        self.line("  ".join("-" * w for w in widths))
        for phase, name, value in rows:
            self.line(f"{phase.ljust(widths[0])}  {name.ljust(widths[1])}  {value.rjust(widths[2])}")
        failures = [f for f in self.figures if f.error is not None]
        for f in failures:
            self.line(f"FAILED {f.phase}: {f.name}: {f.error}")
        self.line(f"total {time.monotonic() - self.started:.1f} s")

    def document(self, **top: Any) -> dict[str, Any]:
        return {**top, "notes": self.notes, "figures": [asdict(f) for f in self.figures]}

    def print_json(self, **top: Any) -> None:
        print_document(self.document(**top))


def print_document(document: Any) -> None:
    """A result as one JSON document on stdout (what ``--json`` prints)."""
    print(json.dumps(document, indent=2, default=str), flush=True)


# -- topics -----------------------------------------------------------------------------------------------


class BenchTopics:
    """Catalogue topics under a unique run prefix (``bench-<uuid8>.<part>.``); `cleanup` deletes them all.

    Everything a run creates on the cluster (topics, consumer groups, faust's internal topics) is named with
    the run prefix, so cleanup finds it by the prefix alone.
    """

    def __init__(self, settings: Settings, run_id: str | None = None) -> None:
        self.settings = settings
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.prefix = f"bench-{self.run_id}."
        self.groups: list[str] = []

    def create(self, part: str, logical: str) -> tuple[Settings, str]:
        """Create catalogue topic `logical` under ``<run prefix><part>.``: the scoped settings and physical name."""
        scoped = self.settings.with_topic_prefix(f"{self.prefix}{part}.")
        create_topics(scoped, [spec_for(logical)])
        return scoped, physical_name(scoped, logical)

    def group(self, part: str) -> str:
        name = f"{self.prefix}{part}"
        self.groups.append(name)
        return name

    def cleanup(self, timeout_s: float = 30.0, groups_wait_s: float = 0.0) -> list[str]:
        """Delete the run's topics and its consumer groups (those named here and any under the run prefix, e.g.
        the workers' stage groups). A group with static members (a stopped worker's) is not empty until their
        session times out: with ``groups_wait_s`` its deletion is retried that long."""
        admin = admin_client(self.settings)
        names = [t for t in admin.list_topics(timeout=timeout_s).topics if t.startswith(self.prefix)]
        if names:
            for future in admin.delete_topics(names, operation_timeout=timeout_s).values():
                with contextlib.suppress(KafkaException):
                    future.result()
        deadline = time.monotonic() + groups_wait_s
        while True:
            groups = set(self.groups)
            with contextlib.suppress(KafkaException):
                listed = admin.list_consumer_groups(request_timeout=timeout_s).result()
                groups |= {g.group_id for g in listed.valid if g.group_id.startswith(self.prefix)}
            left = []
            if groups:
                with contextlib.suppress(KafkaException, ValueError):
                    futures = admin.delete_consumer_groups(sorted(groups), request_timeout=timeout_s)
                    for group, future in futures.items():
                        try:
                            future.result()
                        except KafkaException as error:  # a group that never committed does not exist
                            if error.args[0].code() == KafkaError.NON_EMPTY_GROUP:
                                left.append(group)
            self.groups = left
            if not left or time.monotonic() > deadline:
                return names
            time.sleep(1.0)


def end_offsets(config: Mapping[str, Any], topic: str, timeout_s: float = 10.0) -> dict[int, int]:
    """High watermark of every partition of `topic`."""
    consumer = Consumer({**config, "group.id": "bench-watermarks", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)[1] for p in partitions}
    finally:
        consumer.close()


def topic_count(config: Mapping[str, Any], topic: str) -> int:
    return sum(end_offsets(config, topic).values())


# -- paced producer and measuring consumer ----------------------------------------------------------------

#: The measuring consumer: low fetch wait, no auto commit (it has no group state worth keeping).
MEASURER_CONFIG: dict[str, object] = {
    "fetch.wait.max.ms": 5,
    "enable.auto.commit": False,
    "enable.partition.eof": False,
}
#: The paced producer: the project's producer defaults except linger (0: send each record at once).
PACER_LINGER_MS = 0


@dataclass
class LatencyRun:
    stats: dict[str, float]
    sent: int
    received: int
    send_rate: float
    late_sends: int  # sends more than 1 ms behind their schedule (the pacer could not keep up)


def _measurer_at_end(config: Mapping[str, Any], sink: str, tag: str) -> Consumer:
    """A consumer of every partition of ``sink`` from its current end, its first fetch done."""
    measurer = Consumer({**config, **MEASURER_CONFIG, "group.id": f"{tag}-measure"})
    partitions = measurer.list_topics(sink, timeout=10).topics[sink].partitions
    ends = {p: measurer.get_watermark_offsets(TopicPartition(sink, p), timeout=10)[1] for p in partitions}
    measurer.assign([TopicPartition(sink, p, o) for p, o in ends.items()])
    measurer.poll(0.2)  # complete the assignment and the first fetch before anything is sent
    return measurer


def _pace(
    state: dict[str, Any],
    producer: Producer,
    source: str,
    records: Sequence[tuple[bytes | None, dict[str, Any]]],
    encode: Callable[[dict[str, Any]], bytes],
    rate_per_s: float,
) -> None:
    """The pacer thread: each record stamped and produced on its schedule; counts and errors go to ``state``."""
    try:
        interval = 1.0 / rate_per_s
        start = time.perf_counter()
        state["start_us"] = now_us()
        for i, (key, record) in enumerate(records):
            due = start + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.001:
                state["late"] += 1
            record["meta"]["ingest_time_us"] = now_us()
            value = encode(record)
            while True:
                try:
                    producer.produce(source, value, key)
                    break
                except BufferError:
                    producer.poll(0.01)
            producer.poll(0)
            state["sent"] = i + 1
        state["seconds"] = time.perf_counter() - start
        remaining = producer.flush(10)
        if remaining:
            state["error"] = f"{remaining} paced records were not delivered"
    except Exception as error:  # reported by the measuring side
        state["error"] = repr(error)
    finally:
        state["done"] = True


def _stamps_of(
    messages: Sequence[Message], tag: str, decode_stamp: Callable[[bytes], tuple[str | None, int]]
) -> list[int]:
    """The send stamps of the paced records (``correlation_id`` == ``tag``) among ``messages``."""
    stamps = []
    for message in messages:
        data = message.value()
        if message.error() is not None or data is None:
            continue
        correlation, stamp = decode_stamp(data)
        if correlation == tag:
            stamps.append(stamp)
    return stamps


def paced_latency(
    config: Mapping[str, Any],
    producer_config: Mapping[str, Any],
    source: str,
    sink: str,
    records: Sequence[tuple[bytes | None, dict[str, Any]]],
    encode: Callable[[dict[str, Any]], bytes],
    decode_stamp: Callable[[bytes], tuple[str | None, int]],
    tag: str,
    rate_per_s: float,
    warmup_s: float,
    drain_timeout_s: float = 10.0,
    progress: Callable[[str], None] | None = None,
) -> LatencyRun:
    """Send `records` to `source` at `rate_per_s` and time each one's arrival on `sink`.

    A pacer thread stamps each record's ``meta.ingest_time_us`` with the wall clock just before encoding and
    producing it (on a schedule, not after the previous send, so a slow send does not lower the rate); the
    calling thread consumes `sink` from its current end and takes receive time minus stamp for every record whose
    ``correlation_id`` is `tag` (``decode_stamp`` returns both). Records sent in the first `warmup_s` seconds
    are not counted.
    """
    measurer = _measurer_at_end(config, sink, tag)
    state: dict[str, Any] = {"sent": 0, "late": 0, "done": False, "error": None, "seconds": 0.0, "start_us": now_us()}
    producer = Producer({**config, "log_level": 5, **producer_config})  # no info lines at close
    stamps: list[int] = []
    latencies: list[int] = []
    pacer = threading.Thread(
        target=_pace, args=(state, producer, source, records, encode, rate_per_s), name="bench-pacer", daemon=True
    )
    pacer.start()
    deadline: float | None = None
    next_progress = time.monotonic() + 5.0
    try:
        while True:
            messages = measurer.consume(500, 0)  # whatever is there, without waiting for a full batch
            if not messages:
                message = measurer.poll(0.05)  # returns as soon as one record arrives
                messages = [message] if message is not None else []
            received_at = now_us()
            for stamp in _stamps_of(messages, tag, decode_stamp):
                stamps.append(stamp)
                latencies.append(received_at - stamp)
            if state["done"]:
                if deadline is None:
                    deadline = time.monotonic() + drain_timeout_s
                if len(latencies) >= state["sent"] or time.monotonic() > deadline:
                    break
            elif progress is not None and time.monotonic() >= next_progress:
                progress(f"latency: {state['sent']} sent, {len(latencies)} measured")
                next_progress += 5.0
    finally:
        pacer.join(timeout=5)
        measurer.close()
    if state["error"]:
        raise RuntimeError(state["error"])
    # Records arrive in send order per partition only: the warm-up is cut by stamp, not by arrival.
    cutoff = state["start_us"] + int(warmup_s * 1_000_000)
    counted = [latency for stamp, latency in zip(stamps, latencies, strict=True) if stamp >= cutoff]
    return LatencyRun(
        stats=latency_stats(counted),
        sent=state["sent"],
        received=len(latencies),
        send_rate=rate(state["sent"], state["seconds"]),
        late_sends=state["late"],
    )
