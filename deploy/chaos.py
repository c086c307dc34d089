"""The fault harness behind `sq chaos`: a seeded flow through the order path while faults are injected, then
the invariants checked from the log (replay/verify.py) and the projections against a rebuild from the log.

Each run is isolated on the servers it is given: topics of its own (a prefix named after the run) and a
database of its own (created on the settings' PostgreSQL server, dropped at the end), so it disturbs neither a
running stack nor another run. It starts the topology's stages under the supervisor, as `sq up` does, and the
projection sink in a thread.

crash: each stage's worker is SIGKILLed ``kills`` times at seeded random points of the flow (a transaction
may be open); the supervisor restarts it, and it rebuilds from its changelogs and checkpoints.
"""

from __future__ import annotations

import copy
import json
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from confluent_kafka import Consumer, KafkaException, TopicPartition
from psycopg.conninfo import conninfo_to_dict

from api import key_store
from api.auth import Role
from api.config import ApiSettings
from connectors.order_flow import FlowCommand, FlowConfig, OrderFlow
from connectors.postgres.databases import create_database, drop_database
from connectors.postgres.migrate import migrate
from connectors.postgres.sink import SinkOptions, run_sink
from deploy.stack import Stack, StackOptions, wait_until_consumed
from infra.postgres_server import LocalPostgres
from infra.process import free_port
from processors.core import Event
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import DEFAULT_TOPOLOGY, stage_of, topology_stages
from processors.runtime.registry import consumer_group, stage_factories
from processors.runtime.step import MAX_INPUT_BYTES
from processors.runtime.supervisor import Supervisor
from replay.order_path_log import verify_settled
from replay.projections import projection_rows, rebuild_projections
from replay.verify import VerifyReport
from schemas.codec import MARKER, default_codec
from schemas.examples import example_event
from schemas.names import NEW_ORDER, ORDER_EVENT
from schemas.names import RISK_LIMITS as RISK_LIMITS_SCHEMA
from settings import Settings
from topics.admin import create_topics, delete_prefixed_topics, physical_name
from topics.catalogue import (
    DEAD_LETTERS,
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    PORTFOLIO_POSITIONS,
    RISK_LIMITS,
    VENUE_EXECUTIONS,
)
from topics.client import AvroProducer, read_events

Say = Callable[[str], None]


class ChaosError(RuntimeError):
    """The harness itself could not run (a server away, a worker given up on); the message says which."""


@dataclass(frozen=True)
class ChaosOptions:
    orders: int
    seed: int = 7
    kills: int = 2  # per stage (crash, rebalance), nodes killed (broker)
    workers: int = 1  # per stage
    accounts: int = 4  # in the flow
    per_kind: int = 100  # malformed records of each kind, and commands of each absurd value (poison)
    rate: float = 500.0  # commands per second: the flow lasts long enough for the faults to land mid-flow
    topology: str = DEFAULT_TOPOLOGY
    settle_s: float = 240.0
    keep: bool = False  # leave the run's topics and database for a look afterwards

    def __post_init__(self) -> None:
        if self.orders <= 0:
            raise ValueError("--orders must be positive")
        if self.kills < 0:
            raise ValueError("--kills cannot be negative")
        if self.per_kind < 0:
            raise ValueError("--per-kind cannot be negative")
        if self.rate <= 0:
            raise ValueError("--rate must be positive")
        if self.workers < 1:
            raise ValueError("--workers must be 1 or more")
        if self.accounts < 1:
            raise ValueError("--accounts must be 1 or more")
        topology_stages(self.topology)  # a ValueError names the known ones


@dataclass
class ChaosReport:
    mode: str
    run_id: str
    commands: int  # commands sent
    outcomes: int  # terminal outcomes found for them
    faults: int  # faults injected
    lost: int  # commands without an outcome
    duplicated: int  # commands with more than one outcome, plus fills counted twice
    mismatches: int  # every other violated invariant, plus projection rows that differ from a rebuild
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.mismatches) and self.outcomes == self.commands

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "run_id": self.run_id,
            "commands": self.commands,
            "outcomes": self.outcomes,
            "faults": self.faults,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "mismatches": self.mismatches,
            "ok": self.ok,
            "details": self.details,
        }


def verify_mismatches(report: VerifyReport) -> int:
    """The violations of `sq verify` that are neither lost nor duplicated commands."""
    return (
        report.undecided
        + report.unapproved
        + report.position_mismatches
        + report.vanished
        + abs(report.fills - report.venue_fills)
    )


def row_differences(
    before: Mapping[str, Sequence[tuple[object, ...]]], after: Mapping[str, Sequence[tuple[object, ...]]]
) -> int:
    """Rows in one build and not the other, over every projection table."""
    differences = 0
    for table in before.keys() | after.keys():
        left, right = Counter(map(repr, before.get(table, []))), Counter(map(repr, after.get(table, [])))
        differences += (left - right).total() + (right - left).total()
    return differences


# -- isolation -------------------------------------------------------------------------------------------------
@contextmanager
def own_database(settings: Settings, name: str, keep: bool, say: Say) -> Iterator[str]:
    """A new database on the settings' PostgreSQL server; dropped afterwards unless ``keep``."""
    admin_url = settings.database_url
    try:
        url = create_database(admin_url, name, connect_timeout_s=10)
    except psycopg.OperationalError as error:
        raise ChaosError(f"cannot reach PostgreSQL ({error}); try `sq infra status`") from None
    try:
        yield url
    finally:
        if not keep:
            try:  # a few attempts (a monitor's session can refuse the forced drop for a moment), then say so
                drop_database(admin_url, name, pause_s=1.0, connect_timeout_s=10)
            except psycopg.Error as error:  # the run's report matters more than the leftover
                say(f"could not drop the run's database {name} ({error}); drop it by hand")


@contextmanager
def isolated(settings: Settings, run_id: str, keep: bool, say: Say) -> Iterator[Settings]:
    """Settings with the run's own topics (created) and database (migrated)."""
    run_settings = settings.with_topic_prefix(f"{settings.topic_prefix}{run_id}.")
    database = f"sq_{run_id.replace('-', '_')}"
    with own_database(settings, database, keep, say) as url:
        run_settings = run_settings.with_database_url(url)
        create_topics(run_settings)
        migrate(url)
        try:
            yield run_settings
        finally:
            if not keep:
                try:
                    delete_prefixed_topics(run_settings)
                except KafkaException as error:
                    say(f"could not delete the run's topics {run_settings.topic_prefix}* ({error})")


def database_name(settings: Settings) -> str:
    return str(conninfo_to_dict(settings.database_url).get("dbname", ""))


# -- the running order path ------------------------------------------------------------------------------------
@dataclass
class Watched:
    """The stages under a supervisor, checked by a thread of their own; kills go through the same lock."""

    supervisor: Supervisor
    lock: threading.Lock = field(default_factory=threading.Lock)
    given_up: str | None = None
    held: list[str] = field(default_factory=list)  # workers killed and kept down (rebalance)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Watched:
        self._thread = threading.Thread(target=self._watch, name="sq-chaos-supervisor", daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            with self.lock:
                self.given_up = self.given_up or self.supervisor.check()

    def kill(self, stage: str, worker: int = 0) -> bool:
        """SIGKILL the stage's worker of that slot if it is running now (False while it waits to be restarted)."""
        with self.lock:
            for running in self.supervisor.workers:
                if (running.processor, running.worker) == (stage, worker) and running.process.poll() is None:
                    running.process.kill()
                    # reaped before the next kill is due: two kills close together are two deaths, not one
                    running.process.wait(30)
                    return True
        return False

    def hold(self, stage: str, worker: int) -> None:
        """SIGKILL the stage's worker of that slot and keep it down (the supervisor forgets it until ``release``)."""
        with self.lock:
            found = [w for w in self.supervisor.workers if (w.processor, w.worker) == (stage, worker)]
            if not found:
                raise ChaosError(f"{stage}#{worker} is not running")
            for victim in found:
                victim.process.kill()
                victim.process.wait(30)
                self.supervisor.workers.remove(victim)
                self.held.append(victim.label)

    def release(self, stage: str, worker: int) -> None:
        """Start a held worker again in its slot."""
        with self.lock:
            self.held.remove(f"{stage}#{worker}")
            self.supervisor.start(stage, worker)

    def all_running(self) -> bool:
        with self.lock:
            running = {w.label for w in self.supervisor.workers if w.process.poll() is None}
            return running == set(self.supervisor.labels)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.supervisor.stop()


@dataclass
class SinkThread:
    """The projection sink beside the flow, as `sq up` runs it."""

    settings: Settings
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> SinkThread:
        self._thread = threading.Thread(target=self._run, name="sq-chaos-sink", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            run_sink(self.settings, stop=self._stop, options=SinkOptions(lock_wait_s=15.0, migrate=False))
        except BaseException as error:  # reported by the run
            self.error = error

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)


def apply_limits(settings: Settings, limits: list[FlowCommand], topology: str) -> None:
    """Every account's limits, consumed by the risk stage before any command is sent (risk reads the two
    topics in no order between them)."""
    producer = AvroProducer(settings)
    for command in limits:
        producer.produce(RISK_LIMITS, command.key, command.schema, command.record)
    producer.flush()
    name = physical_name(settings, RISK_LIMITS)
    consumer = Consumer(settings.kafka_config(**{"group.id": f"{name}.chaos-probe", "enable.auto.commit": False}))
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        highs = {p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in partitions}
    finally:
        consumer.close()
    offsets = {p: high - 1 for p, high in highs.items() if high > 0}
    group = consumer_group(settings, "kafka", stage_of("risk", topology))
    wait_until_consumed(settings, group, RISK_LIMITS, offsets, stop=threading.Event(), timeout_s=120)


def kill_schedule(
    stages: tuple[str, ...], kills: int, commands: int, seed: int, workers: int = 1
) -> list[tuple[int, str, int]]:
    """(after how many commands sent, which stage, which of its workers) for every kill: seeded, spread over
    the flow."""
    rng = random.Random(seed)
    schedule = [(rng.randrange(commands), stage, rng.randrange(workers)) for stage in stages for _ in range(kills)]
    return sorted(schedule)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise ChaosError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)


def run_crash(settings: Settings, options: ChaosOptions, say: Say) -> ChaosReport:
    """Workers SIGKILLed at seeded random points of a paced flow, restarted by their supervisor."""
    run_id = f"chaos-crash-{uuid.uuid4().hex[:6]}"
    stages = topology_stages(options.topology)
    with isolated(settings, run_id, options.keep, say) as run_settings:
        say(f"{run_id}: topics {run_settings.topic_prefix}*, database {database_name(run_settings)}")
        supervisor = Supervisor(
            run_settings.as_env(),
            say=say,
            first_backoff_s=0.2,
            max_backoff_s=2.0,
            max_restarts=options.kills + 5,
            window_s=600.0,
        )
        for stage in stages:
            for worker in range(options.workers):
                supervisor.start(stage, worker)
        watched = Watched(supervisor).start()
        sink = SinkThread(run_settings).start()
        try:
            flow = OrderFlow(
                FlowConfig(orders=options.orders, seed=options.seed, accounts=options.accounts, run_id=run_id)
            )
            commands = list(flow.commands())
            apply_limits(run_settings, flow.limits(), options.topology)
            schedule = kill_schedule(stages, options.kills, len(commands), options.seed, options.workers)
            say(f"sending {len(commands)} commands at {options.rate:.0f}/s; {len(schedule)} SIGKILLs scheduled")
            faults = _send_with_kills(run_settings, commands, options.rate, schedule=schedule, watched=watched, say=say)
            wait_until(watched.all_running, 60, "every worker to be running again")
            if watched.given_up:
                raise ChaosError(f"the supervisor gave up on {watched.given_up}")
            say("flow sent; verifying the log until it settles …")
            report = verify_settled(run_settings, options.settle_s, say)
            if watched.given_up:
                raise ChaosError(f"the supervisor gave up on {watched.given_up}")
        finally:
            watched.stop()
            sink.stop()
        restarts = dict(supervisor.restarts)
        projection = compare_projections(run_settings, sink, say)
    return ChaosReport(
        mode="crash",
        run_id=run_id,
        commands=report.commands,
        outcomes=report.outcomes,
        faults=faults,
        lost=report.lost,
        duplicated=report.duplicated + report.duplicate_fills,
        mismatches=verify_mismatches(report) + projection["differences"],
        details={"verify": report.as_json(), "restarts": restarts, "projections": projection},
    )


def _send_with_kills(
    settings: Settings,
    commands: list[FlowCommand],
    rate: float,
    *,
    schedule: list[tuple[int, str, int]],
    watched: Watched,
    say: Say,
) -> int:
    """Produce the commands at ``rate``; at each scheduled point SIGKILL the stage's worker (when it is being
    restarted just then, as soon as it runs again). Returns the kills delivered."""
    producer = AvroProducer(settings, None, **{"message.timeout.ms": 300_000})
    pending: list[tuple[int, str, int]] = list(schedule)
    delivered = 0
    began = time.monotonic()
    for sent, command in enumerate(commands, start=1):
        delay = began + sent / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        producer.produce(ORDERS_COMMANDS, command.key, command.schema, command.record)
        for due in [d for d in pending if d[0] <= sent]:
            if watched.kill(due[1], due[2]):
                pending.remove(due)
                delivered += 1
                say(f"SIGKILL {due[1]}#{due[2]} after {sent} commands ({delivered}/{len(schedule)})")
    producer.flush(300)
    deadline = time.monotonic() + 120
    while pending:  # kills due at the very end, while their worker was restarting
        due = pending[0]
        if watched.kill(due[1], due[2]):
            pending.pop(0)
            delivered += 1
            say(f"SIGKILL {due[1]}#{due[2]} after the flow ({delivered}/{len(schedule)})")
        elif time.monotonic() > deadline:
            raise ChaosError(f"{due[1]} was not running again within 120 s to be killed")
        time.sleep(0.2)
    return delivered


def compare_projections(settings: Settings, sink: SinkThread | None, say: Say) -> dict[str, Any]:
    """The live sink's projections, caught up to the end of the log, against a rebuild from the log."""
    if sink is not None and sink.error is not None:
        raise ChaosError(f"the sink stopped: {sink.error}")
    caught_up = run_sink(settings, options=SinkOptions(until_end=True, lock_wait_s=30.0, migrate=False))
    live = projection_rows(settings.database_url)
    say("rebuilding the projections from the log to compare …")
    rebuild = rebuild_projections(settings)
    rebuilt = projection_rows(settings.database_url)
    return {
        "rows": {table: len(rows) for table, rows in live.items()},
        "rebuilt_rows": {table: len(rows) for table, rows in rebuilt.items()},
        "differences": row_differences(live, rebuilt) + (0 if rebuild.complete and caught_up.caught_up else 1),
    }


# -- poison ----------------------------------------------------------------------------------------------------
OVERSIZED_BYTES = MAX_INPUT_BYTES + 64 * 1024
OVERSIZED_AT_MOST = 20  # each is over half a megabyte: a few show it as well as thousands
ABSURD_VALUES: tuple[tuple[str, int], ...] = (
    ("quantity", 0),
    ("quantity", -1),
    ("quantity", 2**62),
    ("price", -1),
    ("price", 2**62),
)


@dataclass(frozen=True)
class BadRecord:
    kind: str
    key: str | None
    value: bytes | None
    reason: str  # the dead letter's reason it must get


def malformed_records(valid: FlowCommand, per_kind: int, rng: random.Random) -> list[BadRecord]:
    """``per_kind`` records of every malformed kind (oversized: at most OVERSIZED_AT_MOST), each with the
    dead-letter reason it must get."""
    codec = default_codec()
    encoded = codec.encode(valid.schema, valid.record)
    foreign = codec.encode(ORDER_EVENT, example_event(ORDER_EVENT, account=valid.key))
    records: list[BadRecord] = []
    for n in range(per_kind):
        records += [
            BadRecord("garbage bytes", valid.key, rng.randbytes(rng.randint(1, 200)), "UNDECODABLE"),
            BadRecord("truncated Avro", valid.key, encoded[: rng.randint(11, len(encoded) - 1)], "UNDECODABLE"),
            BadRecord("unknown fingerprint", valid.key, MARKER + rng.randbytes(8) + encoded[10:], "UNKNOWN_SCHEMA"),
            BadRecord("a valid record of the wrong schema", valid.key, foreign, "UNEXPECTED_SCHEMA"),
            BadRecord("keyed by another account", f"POISON-{n % 7}", encoded, "KEY_MISMATCH"),
            BadRecord("no key", None, encoded, "KEY_MISMATCH"),
            BadRecord("tombstone", valid.key, None, "INVALID_RECORD"),
        ]
    oversized = b"\xc3\x01" + rng.randbytes(OVERSIZED_BYTES)
    records += [BadRecord("oversized", valid.key, oversized, "OVERSIZED")] * min(per_kind, OVERSIZED_AT_MOST)
    return records


def absurd_commands(template: FlowCommand, per_kind: int, rng: random.Random) -> list[FlowCommand]:
    """Well-formed new orders with absurd values (zero, negative, 2**62 quantities and prices): commands, so each
    must be rejected with a reason, not dead-lettered."""
    commands = []
    for n in range(per_kind):
        for field_name, value in ABSURD_VALUES:
            record = copy.deepcopy(template.record)
            event_id = str(uuid.UUID(int=rng.getrandbits(128)))
            record["meta"] = {**record["meta"], "event_id": event_id, "correlation_id": event_id}
            record.update(
                {
                    "order_type": "LIMIT",
                    "order_id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "client_order_id": f"absurd-{field_name}-{value}-{n}",
                    field_name: value,
                }
            )
            commands.append(FlowCommand(template.key, template.schema, record))
    return commands


def command_event(command: FlowCommand) -> Event:
    """A flow command as a core is handed it (its ingest time as the record's timestamp)."""
    topic = RISK_LIMITS if command.schema == RISK_LIMITS_SCHEMA else ORDERS_COMMANDS
    return Event(topic, command.key, command.schema, command.record, command.record["meta"]["ingest_time_us"])


OUTPUT_TOPICS = (ORDERS_EVENTS, VENUE_EXECUTIONS, PORTFOLIO_POSITIONS)


def outputs_by_key(records: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each account and symbol's records in their order (a topic orders records per partition only), ingest
    times aside (the live run's are the broker's)."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        comparable = {**record, "meta": {**record["meta"], "ingest_time_us": 0}}
        grouped.setdefault((record["account"], record["symbol"]), []).append(comparable)
    return grouped


def output_differences(live: list[dict[str, Any]], reference: list[dict[str, Any]]) -> int:
    """Records by which the live outputs differ from the reference's, key by key, position by position."""
    left, right = outputs_by_key(live), outputs_by_key(reference)
    differences = 0
    for key in left.keys() | right.keys():
        mine, theirs = left.get(key, []), right.get(key, [])
        differences += sum(a != b for a, b in zip(mine, theirs, strict=False)) + abs(len(mine) - len(theirs))
    return differences


def poison_schedule(
    commands: list[FlowCommand], per_kind: int, rng: random.Random
) -> tuple[list[FlowCommand], list[FlowCommand], list[BadRecord], list[tuple[str | None, bytes | None]]]:
    """(the commands with the absurd ones at seeded places, the absurd ones, the malformed records, everything
    as (key, value) in the order it is produced)."""
    template = next(c for c in commands if c.schema == NEW_ORDER)
    bad = malformed_records(template, per_kind, rng)
    absurd = absurd_commands(template, per_kind, rng)
    good = list(commands)
    for command in absurd:  # the reference run takes them in this order too
        good.insert(rng.randint(0, len(good)), command)
    codec = default_codec()
    schedule: list[tuple[str | None, bytes | None]] = [(c.key, codec.encode(c.schema, c.record)) for c in good]
    for record in bad:
        schedule.insert(rng.randint(0, len(schedule)), (record.key, record.value))
    return good, absurd, bad, schedule


def run_poison(settings: Settings, options: ChaosOptions, say: Say) -> ChaosReport:
    """Malformed records of every kind and commands with absurd values mixed into one account's flow."""
    run_id = f"chaos-poison-{uuid.uuid4().hex[:6]}"
    rng = random.Random(options.seed)
    flow = OrderFlow(FlowConfig(orders=options.orders, seed=options.seed, accounts=1, run_id=run_id))
    limits, commands = flow.limits(), list(flow.commands())
    good, absurd, bad, schedule = poison_schedule(commands, options.per_kind, rng)
    if options.topology != "single":
        raise ChaosError("poison compares with the single topology's stage run in memory: use --topology single")
    stage = topology_stages(options.topology)[0]
    with isolated(settings, run_id, options.keep, say) as run_settings:
        say(f"{run_id}: topics {run_settings.topic_prefix}*, database {database_name(run_settings)}")
        supervisor = Supervisor(run_settings.as_env(), say=say, first_backoff_s=0.2, max_backoff_s=2.0)
        supervisor.start(stage)
        watched = Watched(supervisor).start()
        sink = SinkThread(run_settings).start()
        try:
            apply_limits(run_settings, limits, options.topology)
            say(f"sending {len(good)} commands ({len(absurd)} absurd) and {len(bad)} malformed records")
            producer = AvroProducer(run_settings, None, **{"message.max.bytes": 2 * OVERSIZED_BYTES})
            began = time.monotonic()
            for sent, (key, value) in enumerate(schedule, start=1):
                delay = began + sent / options.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                producer.produce_raw(ORDERS_COMMANDS, key, value)
            producer.flush(300)
            say("flow sent; verifying the log until it settles …")
            report = verify_settled(run_settings, options.settle_s, say)
            if watched.given_up:
                raise ChaosError(f"the supervisor gave up on {watched.given_up}")
        finally:
            watched.stop()
            sink.stop()
        restarts = sum(supervisor.restarts.values())
        letters = Counter(d.record["reason"] for d in read_events(run_settings, DEAD_LETTERS))
        live = {topic: [d.record for d in read_events(run_settings, topic)] for topic in OUTPUT_TOPICS}
        projection = compare_projections(run_settings, sink, say)
    say("running the same flow without the malformed records in memory to compare …")
    reference = MemoryEngine(stage_factories(stage)).run(command_event(c) for c in (*limits, *good))
    differences = {topic: output_differences(live[topic], reference.records(topic)) for topic in OUTPUT_TOPICS}
    expected = Counter(record.reason for record in bad)
    absurd_ids = {c.record["client_order_id"] for c in absurd}
    accepted_absurd = {
        r["client_order_id"]
        for r in live[ORDERS_EVENTS]
        if r["client_order_id"] in absurd_ids and r["status"] not in {"REJECTED", "DENIED"}
    }
    letter_differences = (letters - expected).total() + (expected - letters).total()
    return ChaosReport(
        mode="poison",
        run_id=run_id,
        commands=report.commands,
        outcomes=report.outcomes,
        faults=len(bad) + len(absurd),
        lost=report.lost,
        duplicated=report.duplicated + report.duplicate_fills,
        mismatches=verify_mismatches(report)
        + letter_differences
        + sum(differences.values())
        + len(accepted_absurd)
        + projection["differences"]
        + restarts,
        details={
            "verify": report.as_json(),
            "malformed": {kind: sum(r.kind == kind for r in bad) for kind in dict.fromkeys(r.kind for r in bad)},
            "absurd": len(absurd),
            "absurd_accepted": sorted(accepted_absurd),
            "dead_letters": dict(letters),
            "dead_letters_expected": dict(expected),
            "output_differences": differences,
            "worker_restarts": restarts,
            "projections": projection,
        },
    )


# -- database --------------------------------------------------------------------------------------------------
DATABASE_DOWN_S = 3.0  # how long PostgreSQL stays away each time: long enough for the API and the sink to notice


@dataclass
class ApiProbe:
    """Reads over the API, back to back, in a thread: what it answered while the database came and went."""

    base_url: str
    key: str
    account: str
    statuses: Counter[int] = field(default_factory=Counter)
    unclear: list[str] = field(default_factory=list)  # a 5xx that is not a 503 saying the database is away
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ApiProbe:
        self._thread = threading.Thread(target=self._run, name="sq-chaos-api-probe", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30, headers={"X-API-Key": self.key}) as client:
            while not self._stop.wait(0.05):
                for path in (f"/v1/orders?account={self.account}&limit=5", "/readyz"):
                    try:
                        response = client.get(path)
                    except httpx.TransportError as error:
                        self.unclear.append(f"GET {path}: no answer ({error})")
                        continue
                    self.statuses[response.status_code] += 1
                    if response.status_code >= 500 and not _clear_unavailable(response):
                        self.unclear.append(f"GET {path}: {response.status_code} {response.text[:200]}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)


def _clear_unavailable(response: httpx.Response) -> bool:
    """A 503 whose JSON body says the database is away."""
    if response.status_code != 503:
        return False
    try:
        body = json.dumps(response.json()).lower()
    except ValueError:
        return False
    return ("database" in body or "postgres" in body) and "unavailable" in body


def run_database(settings: Settings, options: ChaosOptions, say: Say) -> ChaosReport:
    """A PostgreSQL server of the run's own, crashed (``pg_ctl stop -m immediate``) and restarted ``kills`` times
    during the flow, under the whole stack (processors, sink, API) as `sq up` runs it."""
    run_id = f"chaos-database-{uuid.uuid4().hex[:6]}"
    home = Path(tempfile.mkdtemp(prefix="sq-chaos-pg-"))
    server = LocalPostgres(home, free_port())
    say(f"{run_id}: starting a PostgreSQL server of its own on port {server.port} …")
    try:
        server.start()
        with isolated(settings.with_database_url(server.url), run_id, options.keep, say) as run_settings:
            say(f"topics {run_settings.topic_prefix}*, database {database_name(run_settings)}")
            return _database_run(run_settings, server, run_id, options, say)
    finally:
        if server.running_here():
            server.crash()
        if not options.keep:
            server.remove()
        shutil.rmtree(home, ignore_errors=True)


def _database_run(
    run_settings: Settings, server: LocalPostgres, run_id: str, options: ChaosOptions, say: Say
) -> ChaosReport:
    api = ApiSettings(settings=run_settings, port=free_port())
    stack = Stack(run_settings, api, StackOptions(topology=options.topology, market_data=False), say)
    stack.start()
    try:
        flow = OrderFlow(FlowConfig(orders=options.orders, seed=options.seed, accounts=options.accounts, run_id=run_id))
        commands, limits = list(flow.commands()), flow.limits()
        apply_limits(run_settings, limits, options.topology)
        accounts = sorted({c.key for c in limits})
        with psycopg.connect(run_settings.database_url, autocommit=True, connect_timeout=10) as conn:
            key = key_store.create_key(conn, Role.ADMIN, accounts, label=f"sq chaos {run_id}").key
        probe = ApiProbe(stack.base_url, key, accounts[0]).start()
        rng = random.Random(options.seed)
        crash_points = sorted(rng.randrange(len(commands)) for _ in range(options.kills))
        say(f"sending {len(commands)} commands at {options.rate:.0f}/s; PostgreSQL crashed after {crash_points}")
        producer = AvroProducer(run_settings, None, **{"message.timeout.ms": 300_000})
        began, crashes = time.monotonic(), 0
        for sent, command in enumerate(commands, start=1):
            delay = began + sent / options.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            producer.produce(ORDERS_COMMANDS, command.key, command.schema, command.record)
            while crashes < len(crash_points) and crash_points[crashes] < sent:
                server.crash()
                crashes += 1
                say(
                    f"PostgreSQL crashed after {sent} commands ({crashes}/{len(crash_points)}); "
                    f"restarting it in {DATABASE_DOWN_S} s"
                )
                time.sleep(DATABASE_DOWN_S)
                server.start()
        producer.flush(300)
        say("flow sent; verifying the log until it settles …")
        report = verify_settled(run_settings, options.settle_s, say)
        probe.stop()
        if failure := stack.failure():
            raise ChaosError(f"the stack lost a part: {failure}")
    finally:
        stack.stop()
    projection = compare_projections(run_settings, None, say)
    return ChaosReport(
        mode="database",
        run_id=run_id,
        commands=report.commands,
        outcomes=report.outcomes,
        faults=crashes,
        lost=report.lost,
        duplicated=report.duplicated + report.duplicate_fills,
        mismatches=verify_mismatches(report) + projection["differences"] + len(probe.unclear),
        details={
            "verify": report.as_json(),
            "api_statuses": {str(code): n for code, n in sorted(probe.statuses.items())},
            "api_unclear_answers": probe.unclear[:5],
            "projections": projection,
        },
    )
