"""The whole stack in one foreground process, for `sq up` and `sq demo`.

Starts, in order: the local broker and database (only what is local and not yet running; nothing when
KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL point elsewhere), the catalogue's topics, the migrations, the
topology's stages as supervised worker subprocesses (docs/TOPOLOGIES.md), the projection sink in a thread,
and the API (uvicorn, api/server.py) in a process of its own on a socket bound here (so it shares no GIL with
the sink). Stops in a safe order: the API first (no new commands), then the workers
(each finishes its transaction), then the sink (it projects what they wrote last), then the infra it started.

A worker that exits is restarted with backoff (processors.runtime.supervisor), and so is the sink; only one
that keeps failing stops the stack, with a message saying which and why. The workers run in sessions of
their own, so a Ctrl-C at the terminal reaches only this process, which then stops them in that order.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

import httpx
from confluent_kafka import Consumer, KafkaException, TopicPartition

from api.config import ApiSettings
from connectors.clock import run_ticker
from connectors.postgres.migrate import migrate
from connectors.postgres.sink import SinkOptions, run_sink
from infra import stack as infra
from infra.local_state import LogBinding, read_binding, record_binding
from processors.runtime.metrics import ProbeServer, ProcessMetrics
from processors.runtime.pipeline import DEFAULT_TOPOLOGY, MARKET_DATA_STAGES, STAGES, topology_stages
from processors.runtime.supervisor import Supervisor, WorkerProcess, stop_workers
from processors.runtime.worker import DEFAULT_ENGINE
from replay.projections import rebuild_projections
from settings import Settings
from topics.admin import create_topics, physical_name

READY_TIMEOUT_S = 60.0
API_STOP_TIMEOUT_S = 15.0  # uvicorn drains its connections, then the producer flushes
SINK_LOCK_WAIT_S = 15.0  # another sink on the same database: give up (and say so) rather than wait forever


class StackError(RuntimeError):
    """The stack could not start or a part of it stopped; the message names the part."""


class Interrupted(StackError):
    """Ctrl-C or SIGTERM arrived while the stack was starting."""


SINK_MAX_RESTARTS = 5  # within SINK_WINDOW_S: then the stack stops and says why
SINK_WINDOW_S = 120.0


@dataclass(frozen=True)
class StackOptions:
    engine: str = DEFAULT_ENGINE
    topology: str = DEFAULT_TOPOLOGY
    standby: bool = False  # a second worker for each exclusive stage, ready to take over
    market_data: bool = True  # the orderbook stage beside the order path
    keep_infra: bool = False  # leave a broker and database this stack started running when it stops
    api_log_level: str = "warning"
    tick_interval_s: float = 1.0  # the ticker's clock.ticks: how often execution algorithms see time pass

    def __post_init__(self) -> None:
        stages = topology_stages(self.topology)  # a ValueError names the known ones
        if self.tick_interval_s <= 0:
            raise ValueError(f"the tick interval must be positive, not {self.tick_interval_s} s")
        if self.engine == "faust" and any(len(STAGES[stage].cores) > 1 for stage in stages):
            raise ValueError(f"the faust engine runs one core per stage: use --topology cores, not {self.topology}")

    @property
    def stages(self) -> tuple[str, ...]:
        return (*topology_stages(self.topology), *(MARKET_DATA_STAGES if self.market_data else ()))


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set ``stop`` instead of raising, so the stack stops in its own order."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def wait_until_consumed(
    settings: Settings,
    group: str,
    topic: str,
    offsets: dict[int, int],
    *,
    stop: threading.Event,
    timeout_s: float = READY_TIMEOUT_S,
) -> None:
    """Wait until ``group`` has committed past each (partition → offset) of the logical ``topic``: the processor
    has applied those records (its offsets commit in the transaction of what they caused)."""
    name = physical_name(settings, topic)
    consumer = Consumer(settings.kafka_config(**{"group.id": group, "enable.auto.commit": False}))
    deadline = time.monotonic() + timeout_s
    try:
        wanted = [TopicPartition(name, p) for p in sorted(offsets)]
        while True:
            try:
                committed = {tp.partition: tp.offset for tp in consumer.committed(wanted, timeout=10)}
            except KafkaException:  # the group coordinator is still being elected
                committed = {}
            if all(committed.get(p, -1) > offset for p, offset in offsets.items()):
                return
            if time.monotonic() > deadline:
                raise StackError(f"{group} did not consume {name} within {timeout_s:.0f} s; is it running?")
            if stop.wait(0.1):
                raise Interrupted("interrupted")
    finally:
        consumer.close()


def reconcile_projections(settings: Settings, say: Callable[[str], None]) -> LogBinding:
    """Rebuild the projections when the database holds those of another Kafka log (a new broker met an old
    database), then record which log they project; the sink would otherwise refuse its stored offsets.
    `sq up` asks it of the local broker and database only: an operator's external pair is theirs to manage."""
    binding = read_binding(settings)
    if binding.stale:
        say(
            f"database: its projections are of another Kafka log (cluster {binding.database_cluster}; this broker "
            f"is {binding.broker_cluster}): rebuilding them from this log"
        )
        report = rebuild_projections(settings)
        say(f"database: projections rebuilt from {report.stats.consumed} records")
    if binding.database_cluster != binding.broker_cluster:
        record_binding(settings, binding.broker_cluster)
    return binding


def _stop_process(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM (uvicorn's graceful shutdown), then SIGKILL past ``timeout_s``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Stack:
    settings: Settings
    api: ApiSettings
    options: StackOptions = field(default_factory=StackOptions)
    say: Callable[[str], None] = print
    stop_requested: threading.Event = field(default_factory=threading.Event)
    workers: list[WorkerProcess] = field(default_factory=list)  # given: watched as they are (tests)
    supervisor: Supervisor | None = None
    started_infra: list[str] = field(default_factory=list)
    _sink_stop: threading.Event = field(default_factory=threading.Event)
    _sink_thread: threading.Thread | None = None
    _ticker_thread: threading.Thread | None = None
    _sink_error: BaseException | None = None
    _sink_metrics: ProcessMetrics = field(default_factory=lambda: ProcessMetrics("sink"))
    _sink_probes: ProbeServer | None = None
    _api_process: subprocess.Popen[bytes] | None = None
    _socket: socket.socket | None = None
    _stopped: bool = False

    @property
    def base_url(self) -> str:
        return self.api.base_url

    def metrics_ports(self) -> dict[str, int]:
        """Where each process of the stack serves /metrics (the API: its own port); empty without SQ_METRICS_PORT."""
        if self.settings.metrics_port is None:
            return {}
        workers = self.supervisor.metrics_ports() if self.supervisor is not None else {}
        return {"sink": self.settings.metrics_port, **workers, "api": self.api.port}

    @property
    def docs_url(self) -> str:
        return f"{self.api.base_url}/docs"

    @property
    def console_url(self) -> str:
        return f"{self.api.base_url}/console"

    # -- starting ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every part; StackError (and everything already started stopped) when one cannot start."""
        try:
            self._bind_api_socket()  # first: a port in use is refused before anything else starts
            self._start_infra()
            self._check_interrupt()
            created = create_topics(self.settings)
            fresh = sum(r.outcome == "created" for r in created)
            self.say(f"topics: {fresh} created, {len(created)} in the catalogue")
            report = migrate(self.settings.database_url)
            self.say(f"database: schema version {report.current} ({len(report.applied)} migrations applied now)")
            if not (self.settings.external_kafka or self.settings.external_database_url):
                reconcile_projections(self.settings, self.say)  # both local: one home, checked every start
            self._check_interrupt()
            # Own sessions: the terminal's Ctrl-C reaches only us, so the stop order holds. Workers' stdout goes
            # to our stderr: stdout stays ours (a --json document; faust draws a spinner there).
            env = self.settings.as_env()
            if self.settings.metrics_port is not None:  # the sink serves on it, the workers on the ports after it
                env["SQ_METRICS_PORT"] = str(self.settings.metrics_port + 1)
            self.supervisor = Supervisor(env, say=self.say, stdout=sys.stderr.fileno(), own_session=True)
            for stage in self.options.stages:
                self.supervisor.start(stage, 0, self.options.engine)
                if self.options.standby and STAGES[stage].exclusive:
                    self.supervisor.start(stage, 1, self.options.engine)
            self.workers = self.supervisor.workers
            self.say(
                f"processors: {', '.join(self.supervisor.labels)} ({self.options.topology} topology, "
                f"{self.options.engine} engine)"
            )
            self._start_sink()
            self._start_ticker()
            self._start_api()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _check_interrupt(self) -> None:
        if self.stop_requested.is_set():
            raise Interrupted("interrupted while starting")

    def _start_infra(self) -> None:
        for r in infra.up(self.settings):
            state = "started" if r.started else ("already running" if r.managed else "external")
            self.say(f"{r.name}: {r.address} ({state})")
            if r.started:
                self.started_infra.append(r.name)
            if not r.running:
                raise StackError(f"{r.name} at {r.address} does not answer")

    def _start_sink(self) -> None:
        def target() -> None:
            """The sink, restarted with backoff after an error (the database or the broker away); given up on
            (failure() reports it) after SINK_MAX_RESTARTS within SINK_WINDOW_S."""
            failures: list[float] = []
            while not self._sink_stop.is_set():
                try:
                    options = SinkOptions(lock_wait_s=SINK_LOCK_WAIT_S)
                    run_sink(self.settings, stop=self._sink_stop, options=options, metrics=self._sink_metrics)
                    return
                except Exception as error:
                    now = time.monotonic()
                    failures = [at for at in failures if now - at < SINK_WINDOW_S] + [now]
                    if len(failures) > SINK_MAX_RESTARTS:
                        self._sink_error = error
                        return
                    delay = min(0.5 * 2 ** (len(failures) - 1), 15.0)
                    self.say(f"the sink stopped ({error}); restarting it in {delay:.1f} s")
                    self._sink_stop.wait(delay)

        if self.settings.metrics_port is not None:  # the workers serve theirs on the ports after it
            self._sink_probes = ProbeServer(self._sink_metrics, self.settings.metrics_port, self.settings.metrics_host)
            self._sink_probes.start()
        self._sink_thread = threading.Thread(target=target, name="sq-sink", daemon=True)
        self._sink_thread.start()
        self.say("sink: projecting orders, fills and positions into PostgreSQL")

    def _start_ticker(self) -> None:
        """The ticker in a thread: event time for the execution algorithms (connectors.clock). It stops with
        the sink; an error stops only it (the algorithms then move on market data and order events alone)."""

        def target() -> None:
            try:
                run_ticker(self.settings, self.options.tick_interval_s, self._sink_stop)
            except Exception as error:
                self.say(f"the ticker stopped ({error}): algorithms move on market data and order events only")

        self._ticker_thread = threading.Thread(target=target, name="sq-ticker", daemon=True)
        self._ticker_thread.start()
        self.say(f"ticker: a clock tick every {self.options.tick_interval_s:g} s for the execution algorithms")

    def _bind_api_socket(self) -> None:
        # Bound here, not by uvicorn, so a port in use is a clear error at once. IPPROTO_TCP: asyncio sets
        # TCP_NODELAY only on sockets that say they are TCP (else Nagle adds ~40 ms to each answer).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.api.host, self.api.port))
            sock.listen()  # held from now on: a second stack cannot bind it too (SO_REUSEADDR binds share)
        except OSError as error:
            sock.close()
            raise StackError(
                f"the API cannot listen on {self.api.host}:{self.api.port} ({error.strerror}); "
                "set SQ_API_PORT to a free port"
            ) from None
        self._socket = sock

    def _start_api(self) -> None:
        """The API in a process of its own (api/server.py) on the socket bound here, with these settings. Its own
        session, as the workers': the terminal's Ctrl-C reaches only us, and we stop it first."""
        assert self._socket is not None, "bound first"
        fd = self._socket.fileno()
        self._api_process = subprocess.Popen(
            [sys.executable, "-m", "api.server", "--fd", str(fd), "--log-level", self.options.api_log_level],
            env={**os.environ, **self.api.as_env()},
            pass_fds=(fd,),
            stdin=subprocess.DEVNULL,
            stdout=sys.stderr.fileno(),
            start_new_session=True,
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(base_url=self.base_url, timeout=5) as client:
            while True:
                self._check_interrupt()
                if failure := self.failure():
                    raise StackError(failure)
                try:
                    if client.get("/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    raise StackError(f"the API was not ready within {READY_TIMEOUT_S:.0f} s ({self.base_url}/readyz)")
                time.sleep(0.1)

    # -- watching ---------------------------------------------------------------------------------------
    def failure(self) -> str | None:
        """What stopped on its own for good, or None while every part runs (restarting what can be)."""
        if self.supervisor is not None:
            if given_up := self.supervisor.check():
                return f"processor {given_up}"
        else:
            for w in self.workers:
                if w.process.poll() is not None:
                    return f"processor {w.label} exited with code {w.process.returncode}"
        if self._sink_thread is not None and not self._sink_thread.is_alive():
            return f"the sink stopped: {self._sink_error or 'without an error'}"
        if self._api_process is not None and self._api_process.poll() is not None:
            return f"the API server stopped with exit code {self._api_process.returncode} (see its log above)"
        return None

    def run_until_stopped(self, poll_s: float = 0.2) -> str | None:
        """Block until a stop is requested (None) or a part stops on its own (what stopped)."""
        while not self.stop_requested.wait(poll_s):
            if failure := self.failure():
                return failure
        return None

    # -- stopping ---------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop what this stack started: API, processors, sink, then the infra it started. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._api_process is not None:
            self.say("stopping the API …")
            _stop_process(self._api_process, API_STOP_TIMEOUT_S)
        if self._socket is not None:
            self._socket.close()
        if self.supervisor is not None:
            self.say(f"stopping {', '.join(self.supervisor.labels)} …")
            self.supervisor.stop()
        elif self.workers:
            self.say(f"stopping {', '.join(w.label for w in self.workers)} …")
            stop_workers(self.workers)
        if self._sink_thread is not None:
            self.say("stopping the sink …")
            self._sink_stop.set()
            self._sink_thread.join(timeout=30)
        if self._sink_probes is not None:
            self._sink_probes.close()
            self._sink_probes = None
        if self._ticker_thread is not None:
            self._sink_stop.set()
            self._ticker_thread.join(timeout=10)
        if self.started_infra and not self.options.keep_infra:
            self.say(f"stopping {' and '.join(self.started_infra)} (started by this stack) …")
            if "kafka" in self.started_infra:
                infra.local_broker(self.settings).stop()
            if "postgres" in self.started_infra:
                infra.local_postgres(self.settings).stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
