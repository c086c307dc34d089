"""`sq chaos broker` and `sq chaos rebalance`: the order path on a multi-broker cluster while brokers or workers go.

broker: a local KRaft cluster of three nodes (infra/kafka_cluster.py: replication 3, ``min.insync.replicas`` 2)
of the run's own, or the one a test module started (``cluster_home``); during a seeded flow, nodes are
SIGKILLed and started again, then the active controller, then every node is restarted in turn (a rolling
restart: a controlled shutdown, and the next node only once every partition is back in sync).

rebalance: ``workers`` workers of each group stage (the split or cores topology) on whatever cluster the
settings name; at seeded points one worker of each stage is SIGKILLed and kept down until its group has
rebalanced its partitions onto the others, then started again (its group rebalances once more).

Faults run one at a time in a thread while the flow is produced; when the flow reaches a fault's point while
the previous fault is still under way, it waits for it, so every fault lands mid-flow. Then the checks of
deploy/chaos.py: `sq verify`'s invariants and the projections against a rebuild from the log.
"""

from __future__ import annotations

import concurrent.futures
import queue
import random
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient

from connectors.order_flow import REFERENCE_MIDS, FlowCommand, FlowConfig, OrderFlow
from deploy.chaos import (
    ChaosError,
    ChaosOptions,
    ChaosReport,
    SinkThread,
    Watched,
    apply_limits,
    compare_projections,
    database_name,
    isolated,
    verify_mismatches,
    wait_until,
)
from infra.kafka_broker import LocalBroker
from infra.kafka_cluster import LocalCluster
from infra.process import InfraError
from processors.runtime.pipeline import STAGES, topology_stages
from processors.runtime.registry import consumer_group
from processors.runtime.supervisor import Supervisor
from replay.order_path_log import verify_settled
from settings import Settings
from topics.admin import admin_client
from topics.catalogue import ACCOUNT_PARTITIONS, ORDERS_COMMANDS, SYMBOL_PARTITIONS
from topics.client import AvroProducer

Say = Callable[[str], None]
Fault = Callable[[], dict[str, Any]]

NODE_DOWN_S = 5.0  # how long a killed node stays away
IN_SYNC_TIMEOUT_S = 180.0  # a restarted node catching up every partition
REBALANCE_TIMEOUT_S = 120.0  # a group noticing a dead member (its session timeout, 10 s) and reassigning
HOLD_S = 3.0  # how long the survivors run the dead worker's partitions before it comes back


# -- the cluster -----------------------------------------------------------------------------------------------
@contextmanager
def local_cluster(settings: Settings, cluster_home: Path | None, say: Say) -> Iterator[LocalCluster]:
    """The cluster in ``cluster_home`` (started if a node is down; left running), or a new three-node one of the
    run's own, removed afterwards. The jars are the local broker's (`sq infra fetch`)."""
    try:
        if cluster_home is not None:
            cluster = LocalCluster.load(cluster_home)
            cluster.start()
            yield cluster
            return
        broker = LocalBroker(settings.home, settings.kafka_port)
        if broker.fetch_jars():
            say("fetched the Kafka jars")
        cluster = LocalCluster.create(Path(tempfile.mkdtemp(prefix="sq-chaos-cluster-")), broker.libs, size=3)
        say(f"starting a 3-node KRaft cluster at {cluster.bootstrap_servers} …")
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.remove()
    except InfraError as error:
        raise ChaosError(f"the local cluster: {error}") from None


def on_cluster(settings: Settings, cluster: LocalCluster) -> Settings:
    return settings.with_kafka(cluster.bootstrap_servers, cluster.client_properties())


# -- faults one at a time, beside the flow ---------------------------------------------------------------------
@dataclass
class FaultRunner:
    """Runs faults one after another in a thread; each returns what it did (for the report)."""

    say: Say
    done: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None
    _queue: queue.Queue[Fault | None] = field(default_factory=queue.Queue)
    _idle: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> FaultRunner:
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="sq-chaos-faults", daemon=True)
        self._thread.start()
        return self

    def submit(self, fault: Fault, timeout_s: float) -> None:
        """Start ``fault`` once the previous one is over (waiting for it up to ``timeout_s``)."""
        if not self._idle.wait(timeout_s):
            raise ChaosError(f"a fault was still under way after {timeout_s:.0f} s")
        self._raise_error()
        self._idle.clear()
        self._queue.put(fault)

    def finish(self, timeout_s: float) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise ChaosError(f"the faults were not over within {timeout_s:.0f} s of the flow's end")
        self._raise_error()

    def _raise_error(self) -> None:
        if self.error is not None:
            raise ChaosError(f"a fault could not be carried out: {self.error}")

    def _run(self) -> None:
        while (fault := self._queue.get()) is not None:
            began = time.monotonic()
            try:
                record = fault()
            except BaseException as error:  # reported by the run
                self.error = error
                self._idle.set()
                return
            record["seconds"] = round(time.monotonic() - began, 1)
            self.done.append(record)
            self.say(f"fault {len(self.done)} over: {record}")
            self._idle.set()


def fault_points(faults: int, commands: int, seed: int) -> list[int]:
    """After how many commands sent each fault starts: one in each of ``faults`` equal slots of the flow (past
    its first slot, so the path is busy), at a seeded place in it."""
    rng = random.Random(seed)
    slot = commands / (faults + 1)
    return [int(slot * (n + 1) + rng.uniform(0, slot) * 0.8) for n in range(faults)]


def send_with_faults(
    settings: Settings,
    commands: list[FlowCommand],
    faults: list[Fault],
    *,
    rate: float,
    runner: FaultRunner,
    seed: int,
    say: Say,
) -> None:
    """Produce the commands at ``rate``; start each fault at its point (after the previous one is over)."""
    points = fault_points(len(faults), len(commands), seed)
    pending = list(zip(points, faults, strict=True))
    producer = AvroProducer(settings, None, **{"message.timeout.ms": 300_000})
    began = time.monotonic()
    for sent, command in enumerate(commands, start=1):
        delay = began + sent / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        producer.produce(ORDERS_COMMANDS, command.key, command.schema, command.record)
        while pending and pending[0][0] <= sent:
            say(f"fault {len(faults) - len(pending) + 1}/{len(faults)} due after {sent} commands")
            runner.submit(pending.pop(0)[1], timeout_s=600)
            began = time.monotonic() - sent / rate  # the pace resumes from here, no burst after a wait
    producer.flush(300)


def flow_for(options: ChaosOptions, run_id: str) -> OrderFlow:
    """The seeded flow, over every symbol the flow knows (the venue stage's partitions are symbols)."""
    return OrderFlow(
        FlowConfig(
            orders=options.orders,
            seed=options.seed,
            accounts=options.accounts,
            symbols=tuple(REFERENCE_MIDS),
            run_id=run_id,
        )
    )


def start_stages(settings: Settings, stages: tuple[str, ...], options: ChaosOptions, say: Say) -> Watched:
    supervisor = Supervisor(
        settings.as_env(), say=say, first_backoff_s=0.2, max_backoff_s=2.0, max_restarts=10, window_s=600.0
    )
    for stage in stages:
        for worker in range(options.workers):
            supervisor.start(stage, worker)
    return Watched(supervisor).start()


def _run_flow(
    mode: str,
    settings: Settings,
    options: ChaosOptions,
    *,
    faults: Callable[[Settings, Watched], list[Fault]],
    say: Say,
) -> ChaosReport:
    """The flow through the stages under a supervisor with the sink beside them, the faults injected, then the
    checks (the run's own topics and database on the given cluster)."""
    run_id = f"chaos-{mode}-{uuid.uuid4().hex[:6]}"
    stages = topology_stages(options.topology)
    with isolated(settings, run_id, options.keep, say) as run_settings:
        say(f"{run_id}: topics {run_settings.topic_prefix}*, database {database_name(run_settings)}")
        watched = start_stages(run_settings, stages, options, say)
        sink = SinkThread(run_settings).start()
        runner = FaultRunner(say).start()
        try:
            flow = flow_for(options, run_id)
            commands = list(flow.commands())
            apply_limits(run_settings, flow.limits(), options.topology)
            planned = faults(run_settings, watched)
            say(f"sending {len(commands)} commands at {options.rate:.0f}/s; {len(planned)} faults on the way")
            send_with_faults(
                run_settings, commands, planned, rate=options.rate, runner=runner, seed=options.seed, say=say
            )
            runner.finish(timeout_s=900)
            wait_until(watched.all_running, 120, "every worker to be running")
            say("flow sent; verifying the log until it settles …")
            report = verify_settled(run_settings, options.settle_s, say)
            if watched.given_up:
                raise ChaosError(f"the supervisor gave up on {watched.given_up}")
        finally:
            watched.stop()
            sink.stop()
        restarts = sum(watched.supervisor.restarts.values())
        projection = compare_projections(run_settings, sink, say)
    return ChaosReport(
        mode=mode,
        run_id=run_id,
        commands=report.commands,
        outcomes=report.outcomes,
        faults=len(runner.done),
        lost=report.lost,
        duplicated=report.duplicated + report.duplicate_fills,
        # a worker that exits on a broker or a member going away is a defect, even when its restart heals it
        mismatches=verify_mismatches(report) + projection["differences"] + restarts,
        details={
            "verify": report.as_json(),
            "faults": runner.done,
            "worker_restarts": dict(watched.supervisor.restarts),
            "workers_per_stage": options.workers,
            "projections": projection,
        },
    )


# -- broker ----------------------------------------------------------------------------------------------------
def node_kill(cluster: LocalCluster, node_id: int, say: Say) -> Fault:
    def fault() -> dict[str, Any]:
        say(f"SIGKILL node {node_id}")
        cluster.kill_node(node_id)
        time.sleep(NODE_DOWN_S)
        cluster.start_node(node_id)
        cluster.wait_in_sync(IN_SYNC_TIMEOUT_S)
        return {"fault": "node killed", "node": node_id}

    return fault


def controller_kill(cluster: LocalCluster, say: Say) -> Fault:
    def fault() -> dict[str, Any]:
        controller = cluster.active_controller()
        if controller is None:
            raise ChaosError("no node records an active controller")
        say(f"SIGKILL the active controller, node {controller}")
        cluster.kill_node(controller)
        wait_until(
            lambda: cluster.active_controller() not in (None, controller), 60, "another node to become controller"
        )
        successor = cluster.active_controller()
        time.sleep(NODE_DOWN_S)
        cluster.start_node(controller)
        cluster.wait_in_sync(IN_SYNC_TIMEOUT_S)
        return {"fault": "active controller killed", "node": controller, "next_controller": successor}

    return fault


def node_restart(cluster: LocalCluster, node_id: int, say: Say) -> Fault:
    def fault() -> dict[str, Any]:
        say(f"rolling restart: node {node_id}")
        cluster.stop_node(node_id)
        cluster.start_node(node_id)
        cluster.wait_in_sync(IN_SYNC_TIMEOUT_S)
        return {"fault": "rolling restart", "node": node_id}

    return fault


def run_broker(settings: Settings, options: ChaosOptions, say: Say, cluster_home: Path | None = None) -> ChaosReport:
    """Nodes of a three-node cluster killed and restarted during the flow, then the active controller, then a
    rolling restart of every node."""
    with local_cluster(settings, cluster_home, say) as cluster:
        rng = random.Random(options.seed)
        nodes = [n.node_id for n in cluster.nodes]

        def faults(_: Settings, __: Watched) -> list[Fault]:
            return [
                *(node_kill(cluster, rng.choice(nodes), say) for _ in range(options.kills)),
                controller_kill(cluster, say),
                *(node_restart(cluster, node, say) for node in nodes),
            ]

        report = _run_flow("broker", on_cluster(settings, cluster), options, faults=faults, say=say)
    report.details["cluster"] = {
        "nodes": len(nodes),
        "replication": cluster.replication,
        "min_insync_replicas": cluster.min_insync,
    }
    return report


# -- rebalance -------------------------------------------------------------------------------------------------
def group_members(admin: AdminClient, group: str) -> tuple[str, list[int]] | None:
    """(the group's state, each member's count of assigned partitions), None when the broker does not answer.
    The admin client must outlive the request (a future of a collected client never completes)."""
    try:
        description = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
    except (KafkaException, concurrent.futures.TimeoutError):
        return None
    counts = sorted(len(m.assignment.topic_partitions) for m in description.members)
    return description.state.name, counts


def wait_for_members(settings: Settings, group: str, members: int) -> list[int]:
    """Until the group is stable with ``members`` members; their partition counts."""
    admin = admin_client(settings)
    seen: list[tuple[str, list[int]] | None] = [None]

    def settled() -> bool:
        seen[0] = group_members(admin, group)
        return seen[0] is not None and seen[0][0] == ConsumerGroupState.STABLE.name and len(seen[0][1]) == members

    try:
        wait_until(settled, REBALANCE_TIMEOUT_S, f"group {group} to settle on {members} members")
    except ChaosError as error:
        raise ChaosError(f"{error} (last seen: state and partitions per member {seen[0]})") from None
    assert seen[0] is not None
    return seen[0][1]


def worker_bounce(settings: Settings, watched: Watched, slot: tuple[str, int], workers: int, say: Say) -> Fault:
    """Kill the worker in ``slot`` (stage, number), keep it down until its group rebalanced, start it again."""
    stage, worker = slot
    group = consumer_group(settings, "kafka", stage)

    def fault() -> dict[str, Any]:
        before = wait_for_members(settings, group, workers)
        say(f"SIGKILL {stage}#{worker}; it stays down until its group has rebalanced")
        watched.hold(stage, worker)
        during = wait_for_members(settings, group, workers - 1)
        time.sleep(HOLD_S)
        watched.release(stage, worker)
        after = wait_for_members(settings, group, workers)
        return {
            "fault": "worker killed, group rebalanced",
            "worker": f"{stage}#{worker}",
            "partitions_per_member": {"before": before, "without_it": during, "after": after},
        }

    return fault


def run_rebalance(settings: Settings, options: ChaosOptions, say: Say) -> ChaosReport:
    """``workers`` workers per group stage; ``kills`` times, one worker of each stage killed and kept down until
    its partitions moved to the others, then started again."""
    stages = topology_stages(options.topology)
    exclusive = [stage for stage in stages if STAGES[stage].exclusive]
    if exclusive:
        raise ChaosError(
            f"the {options.topology} topology's stage {exclusive[0]} is exclusive (standbys, no rebalance): "
            "use --topology split or cores"
        )
    if options.workers < 2:
        raise ChaosError("a rebalance needs at least two workers per stage: --workers 2 or more")
    rng = random.Random(options.seed)

    def faults(run_settings: Settings, watched: Watched) -> list[Fault]:
        return [
            worker_bounce(run_settings, watched, (stage, rng.randrange(options.workers)), options.workers, say)
            for _ in range(options.kills)
            for stage in stages
        ]

    report = _run_flow("rebalance", settings, options, faults=faults, say=say)
    report.details["partitions"] = {"account_keyed": ACCOUNT_PARTITIONS, "symbol_keyed": SYMBOL_PARTITIONS}
    return report
