"""Prometheus metrics of one process (a stage's worker, the sink, a feed), and the small HTTP server that serves
them with the liveness and readiness probes: ``/metrics``, ``/healthz``, ``/readyz``.

Off the hot path's cost: per record the engine adds to plain dicts (``observe_record``), once per transaction it
observes two histograms, and every few seconds, in its own thread, it samples what only it may touch (consumer
lag from the cached watermarks, the cores' kill switches). prometheus-client reads it all at scrape time through
a collector, in the server's thread: counters from dict snapshots, no locks on the way of a record.
A registry per instance, not the library's global one: tests run several in one process.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from processors.core import Core, Emit
from processors.risk.core import RiskCore
from schemas.names import CIRCUIT_BREAKER, RISK_DECISION
from settings import Settings
from topics.catalogue import DEAD_LETTERS

LATENCY_BUCKETS_S: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LIVENESS_S: Final = 60.0  # a loop that has not ticked for this long is stuck: the liveness probe fails
SAMPLE_EVERY_S: Final = 2.0


class ProcessMetrics:
    """What one process counts; ``stage`` labels every series (``orderpath``, ``sink``, ``feed-binance`` …)."""

    def __init__(self, stage: str, worker: int = 0) -> None:
        self.stage = stage
        self.worker = worker
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.events_in: Counter[str] = Counter()  # logical topic → records consumed
        self.events_out: Counter[str] = Counter()  # logical topic → records produced
        self.rejects: Counter[str] = Counter()  # reject reason → risk denials
        self.dead_letters: Counter[str] = Counter()  # dead-letter reason → records
        self.breaker_trips: Counter[str] = Counter()  # scope → breakers tripped
        self.transactions = 0
        self.aborts = 0
        self.lag: dict[tuple[str, int], int] = {}  # (logical topic, partition) → records behind the end
        self.kill_switches: frozenset[str] = frozenset()  # "GLOBAL", "ACCOUNT:<a>", "SYMBOL:<s>" in force
        self.state_keys = 0  # keys of state held (accounts, symbols …)
        self.active = False
        self.last_event_s = 0.0  # wall-clock time of the last record applied
        self.last_tick = time.monotonic()
        self.ready = False
        self._next_sample = 0.0
        self.batch_seconds = Histogram(
            "sq_stage_batch_seconds",
            "Time to apply and commit one batch (one transaction of a worker, one write of the sink).",
            ("stage",),
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        ).labels(stage)
        self.record_age = Histogram(
            "sq_stage_record_age_seconds",
            "Age of the oldest record of a batch when the batch is committed: from its broker timestamp.",
            ("stage",),
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        ).labels(stage)
        self.registry.register(_Snapshot(self))

    # -- on the engine's thread ------------------------------------------------------------------------
    def observe_record(self, topic: str, emits: Sequence[Emit]) -> None:
        """One record applied (``topic`` logical) and what it emitted."""
        self.events_in[topic] += 1
        self.observe_emits(emits)

    def observe_emits(self, emits: Iterable[Emit]) -> None:
        """Records produced (by a stage for one input, or by a feed)."""
        for emit in emits:
            self.events_out[emit.topic] += 1
            if emit.topic == DEAD_LETTERS:
                self.dead_letters[str(emit.record["reason"])] += 1
            elif emit.schema == RISK_DECISION and not emit.record["approved"]:
                self.rejects[str(emit.record["reason"])] += 1
            elif emit.schema == CIRCUIT_BREAKER and emit.record["state"] == "TRIPPED":
                self.breaker_trips[str(emit.record["scope"])] += 1

    def observe_batch(self, began: float, oldest_timestamp_ms: int | None) -> None:
        """A committed batch: ``began`` from time.perf_counter(), the broker timestamp of its oldest record."""
        self.transactions += 1
        self.batch_seconds.observe(time.perf_counter() - began)
        if oldest_timestamp_ms is not None and oldest_timestamp_ms > 0:
            now = time.time()
            self.last_event_s = now
            self.record_age.observe(max(0.0, now - oldest_timestamp_ms / 1000))

    def tick(self) -> bool:
        """The loop is alive; True when a sample (lag, kill switches) is due."""
        now = time.monotonic()
        self.last_tick = now
        self.ready = True
        if now < self._next_sample:
            return False
        self._next_sample = now + SAMPLE_EVERY_S
        return True

    # -- on the server's thread ------------------------------------------------------------------------
    def alive(self) -> bool:
        return time.monotonic() - self.last_tick < LIVENESS_S

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


def kill_switches_of(cores: Iterable[Core]) -> frozenset[str]:
    """The kill switches in force according to the risk cores among ``cores`` (a set copied, nothing encoded)."""
    return frozenset(switch for core in cores if isinstance(core, RiskCore) for switch in core.kill_switches_in_force())


class _Snapshot(Collector):
    """Renders the plain counters at scrape time (copies: the engine's thread goes on counting)."""

    def __init__(self, metrics: ProcessMetrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m, stage = self.m, self.m.stage
        yield _counter("sq_events_in", "Records consumed, by input topic.", stage, "topic", m.events_in)
        yield _counter("sq_events_out", "Records produced, by output topic.", stage, "topic", m.events_out)
        yield _counter("sq_rejects", "Commands denied by risk, by reason.", stage, "reason", m.rejects)
        yield _counter(
            "sq_dead_letters", "Records sent to the dead-letter topic, by reason.", stage, "reason", m.dead_letters
        )
        yield _counter("sq_breaker_trips", "Circuit breakers tripped, by scope.", stage, "scope", m.breaker_trips)
        transactions = CounterMetricFamily("sq_transactions", "Batches committed.", labels=("stage",))
        transactions.add_metric((stage,), m.transactions)
        yield transactions
        aborts = CounterMetricFamily("sq_transaction_aborts", "Transactions aborted and replayed.", labels=("stage",))
        aborts.add_metric((stage,), m.aborts)
        yield aborts
        lag = GaugeMetricFamily(
            "sq_consumer_lag_records",
            "Records between the consumed position and the end.",
            labels=("stage", "topic", "partition"),
        )
        for (topic, partition), behind in sorted(dict(m.lag).items()):
            lag.add_metric((stage, topic, str(partition)), behind)
        yield lag
        switches = GaugeMetricFamily(
            "sq_kill_switch_engaged",
            "Kill switches in force as the stage sees them (1 per switch).",
            labels=("stage", "switch"),
        )
        for switch in sorted(m.kill_switches):
            switches.add_metric((stage, switch), 1)
        yield switches
        engaged = GaugeMetricFamily("sq_kill_switches", "Number of kill switches in force.", labels=("stage",))
        engaged.add_metric((stage,), len(m.kill_switches))
        yield engaged
        keys = GaugeMetricFamily(
            "sq_state_keys", "Keys of state held by the stage (accounts, symbols …).", labels=("stage",)
        )
        keys.add_metric((stage,), m.state_keys)
        yield keys
        active = GaugeMetricFamily(
            "sq_worker_active", "1 while the worker owns its partitions.", labels=("stage", "worker")
        )
        active.add_metric((stage, str(m.worker)), 1 if m.active else 0)
        yield active
        last = GaugeMetricFamily(
            "sq_last_event_timestamp_seconds", "When the last batch was committed.", labels=("stage",)
        )
        last.add_metric((stage,), m.last_event_s)
        yield last


def _counter(name: str, documentation: str, stage: str, label: str, counts: Mapping[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=("stage", label))
    for value, count in sorted(dict(counts).items()):
        family.add_metric((stage, value), count)
    return family


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a scrape in flight never holds the process up at exit


class ProbeServer:
    """``/metrics``, ``/healthz`` (the loop ticks) and ``/readyz`` (it has started) on a port of its own."""

    def __init__(self, metrics: ProcessMetrics, port: int, host: str = "127.0.0.1") -> None:
        self.metrics = metrics
        handler = _handler_for(metrics)
        self.server = _Server((host, port), handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="sq-metrics", daemon=True)

    def start(self) -> ProbeServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def serving_probes(
    settings: Settings, metrics: ProcessMetrics, port: int | None = None
) -> Iterator[ProbeServer | None]:
    """Serve ``metrics`` and the probes on ``port`` (default: the settings' ``SQ_METRICS_PORT``) while inside;
    nothing when no port is set."""
    port = settings.metrics_port if port is None else port
    if port is None:
        yield None
        return
    server = ProbeServer(metrics, port, settings.metrics_host).start()
    try:
        yield server
    finally:
        server.close()


def _handler_for(metrics: ProcessMetrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body, content_type = metrics.exposition(self.headers.get("Accept"))
                self._answer(200, body, content_type)
            elif path == "/healthz":
                alive = metrics.alive()
                self._answer(200 if alive else 503, b"ok\n" if alive else b"the loop is stuck\n")
            elif path == "/readyz":
                self._answer(200 if metrics.ready else 503, b"ready\n" if metrics.ready else b"starting\n")
            else:
                self._answer(404, b"/metrics, /healthz or /readyz\n")

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a scrape every few seconds is not news."""

    return Handler
