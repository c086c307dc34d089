"""A local Apache Kafka cluster of N KRaft nodes on 127.0.0.1, each a broker and a controller, for fault runs
and scale-out trials on one machine (`sq chaos broker`, the scale-out tests and benchmarks).

Replication N, ``min.insync.replicas`` N - 1: a topic keeps taking writes with one node down. Each node has its
own ports and data directory under the cluster's home (never the local broker's on 19092); the jars are the
local broker's (`sq infra fetch`). The layout is written to ``cluster.json`` in the home, so another process
(a test module's fixture and the `sq chaos` run it starts) can drive the same cluster. Heaps are small: three
JVMs share the machine with the workers they serve.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from infra.kafka_broker import LOG4J2_PROPERTIES, format_storage, new_cluster_id, start_java_broker
from infra.process import (
    InfraError,
    free_port,
    is_zombie,
    log_tail,
    pid_alive,
    read_pid,
    require_command,
    terminate,
)

LAYOUT_FILE = "cluster.json"
JVM_OPTIONS = ("-Xmx384m", "-Xms64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
READY_TIMEOUT_S = 180.0

NODE_PROPERTIES = """\
# Written by infra/kafka_cluster.py; edits are overwritten.
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
# Clients on CLIENT (PLAINTEXT, or SASL_PLAINTEXT with the PLAIN mechanism), the nodes among themselves on BROKER.
listeners=CLIENT://127.0.0.1:{port},BROKER://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=CLIENT://127.0.0.1:{port},BROKER://127.0.0.1:{broker_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=BROKER
listener.security.protocol.map=CLIENT:{client_protocol},BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data_dir}
auto.create.topics.enable=false
num.partitions=1
default.replication.factor={replication}
min.insync.replicas={min_insync}
unclean.leader.election.enable=false
offsets.topic.replication.factor={replication}
offsets.topic.num.partitions=12
transaction.state.log.replication.factor={replication}
transaction.state.log.min.isr={min_insync}
transaction.state.log.num.partitions=12
share.coordinator.state.topic.replication.factor={replication}
share.coordinator.state.topic.min.isr={min_insync}
# Few threads and a small cleaner buffer: several nodes share two cores and a small heap.
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
background.threads=2
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
# A replica that stops fetching leaves the ISR after 10 s (default 30 s): a killed node is noticed sooner.
replica.lag.time.max.ms=10000
group.initial.rebalance.delay.ms=0
transaction.abort.timed.out.transaction.cleanup.interval.ms=10000
# A killed node's leaderships move after 6 s without a heartbeat (default 9 s).
broker.session.timeout.ms=6000
"""

SASL_PROPERTIES = """\
sasl.enabled.mechanisms=PLAIN
listener.name.client.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\
  user_{username}="{password}";
"""


@dataclass(frozen=True)
class ClusterNode:
    node_id: int
    port: int  # clients
    broker_port: int  # the other nodes
    controller_port: int  # the metadata quorum
    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def properties(self) -> Path:
        return self.root / "server.properties"

    @property
    def pid_file(self) -> Path:
        return self.root / "node.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "node.log"

    def pid(self) -> int | None:
        pid = read_pid(self.pid_file)
        return pid if pid is not None and pid_alive(pid) and not is_zombie(pid) else None

    def quorum_state(self) -> tuple[int, int] | None:
        """(leader epoch, leader id) as this node last recorded the metadata quorum's leader."""
        try:
            state = json.loads((self.data_dir / "__cluster_metadata-0" / "quorum-state").read_text())
        except (FileNotFoundError, ValueError):
            return None
        leader = int(state.get("leaderId", -1))
        return (int(state.get("leaderEpoch", -1)), leader) if leader >= 0 else None


@dataclass(frozen=True)
class LocalCluster:
    home: Path
    libs: Path
    cluster_id: str
    nodes: tuple[ClusterNode, ...]
    sasl: tuple[str, str] | None = None  # (user, password) clients authenticate with; None: plaintext

    # -- layout -------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, home: Path, libs: Path, size: int = 3, sasl: tuple[str, str] | None = None) -> LocalCluster:
        """A new cluster's layout in ``home`` on free ports (nothing started yet); with ``sasl`` = (user, password)
        clients must authenticate (SASL_PLAINTEXT, PLAIN), as on a managed cluster."""
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        if not any(libs.glob("kafka_*.jar")):
            raise InfraError(f"no Kafka jars in {libs}: run `sq infra fetch` first")
        home.mkdir(parents=True, exist_ok=True)
        ports: list[int] = []
        while len(ports) < 3 * size:
            port = free_port()
            if port not in ports:
                ports.append(port)
        nodes = tuple(
            ClusterNode(n + 1, ports[3 * n], ports[3 * n + 1], ports[3 * n + 2], home / f"node-{n + 1}")
            for n in range(size)
        )
        cluster = cls(home, libs, new_cluster_id(), nodes, sasl)
        layout = {
            "libs": str(libs),
            "cluster_id": cluster.cluster_id,
            "sasl": list(sasl) if sasl else None,
            "nodes": [
                {
                    "node_id": n.node_id,
                    "port": n.port,
                    "broker_port": n.broker_port,
                    "controller_port": n.controller_port,
                }
                for n in nodes
            ],
        }
        (home / LAYOUT_FILE).write_text(json.dumps(layout, indent=2))
        return cluster

    @classmethod
    def load(cls, home: Path) -> LocalCluster:
        """The cluster whose layout ``create`` wrote in ``home``."""
        try:
            layout = json.loads((home / LAYOUT_FILE).read_text())
        except FileNotFoundError:
            raise InfraError(f"no cluster in {home} ({LAYOUT_FILE} is missing)") from None
        nodes = tuple(
            ClusterNode(n["node_id"], n["port"], n["broker_port"], n["controller_port"], home / f"node-{n['node_id']}")
            for n in layout["nodes"]
        )
        sasl = tuple(layout["sasl"]) if layout.get("sasl") else None
        return cls(home, Path(layout["libs"]), layout["cluster_id"], nodes, sasl)

    def client_properties(self) -> dict[str, str]:
        """What a client sets besides the bootstrap servers (the settings' KAFKA_* pass-through)."""
        if self.sasl is None:
            return {}
        username, password = self.sasl
        return {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": username,
            "sasl.password": password,
        }

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    @property
    def replication(self) -> int:
        return len(self.nodes)

    @property
    def min_insync(self) -> int:
        return max(1, len(self.nodes) - 1)

    def node(self, node_id: int) -> ClusterNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise ValueError(f"no node {node_id} in the cluster (nodes {[n.node_id for n in self.nodes]})")

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every node that is not running and wait until all of them serve as brokers."""
        for node in self.nodes:
            if node.pid() is None:
                self._launch(node)
        self.wait_for_brokers({n.node_id for n in self.nodes}, READY_TIMEOUT_S)

    def start_node(self, node_id: int, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Start one node and wait until the cluster lists it as a broker again."""
        node = self.node(node_id)
        if node.pid() is None:
            self._launch(node)
        self.wait_for_brokers({node_id}, timeout_s)

    def kill_node(self, node_id: int) -> None:
        """SIGKILL: no controlled shutdown, as a machine that dies."""
        node = self.node(node_id)
        pid = node.pid()
        if pid is None:
            raise InfraError(f"node {node_id} is not running")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while node.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop_node(self, node_id: int) -> None:
        """SIGTERM: a controlled shutdown (leaderships handed over first), as a rolling restart does."""
        node = self.node(node_id)
        pid = node.pid()
        if pid is not None:
            terminate(pid, timeout_s=60.0)
        node.pid_file.unlink(missing_ok=True)

    def stop(self) -> None:
        for node in self.nodes:
            pid = node.pid()
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
        for node in self.nodes:
            pid = read_pid(node.pid_file)
            if pid is not None:
                terminate(pid, timeout_s=30.0)
            node.pid_file.unlink(missing_ok=True)

    def remove(self) -> None:
        """Stop the nodes and delete the home with their data."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def running(self) -> list[int]:
        return [n.node_id for n in self.nodes if n.pid() is not None]

    # -- what the cluster says --------------------------------------------------------------------------------
    def active_controller(self) -> int | None:
        """The metadata quorum's leader, as the running nodes last recorded it (the highest epoch wins)."""
        states = [state for n in self.nodes if n.pid() is not None and (state := n.quorum_state()) is not None]
        return max(states)[1] if states else None

    def serves(self, node_id: int, timeout_s: float = 2.0) -> bool:
        """The node answers a metadata request on its own port and lists itself among the brokers."""
        node = self.node(node_id)
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{node.port}", **self.client_properties(), "log_level": 0})
        try:
            return node_id in admin.list_topics(timeout=timeout_s).brokers
        except KafkaException:
            return False

    def wait_for_brokers(self, node_ids: set[int], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        waiting = set(node_ids)
        while waiting:
            for node_id in sorted(waiting):
                node = self.node(node_id)
                if node.pid() is None:
                    raise InfraError(f"node {node_id} exited; its log ends:\n{log_tail(node.log_file)}")
                if self.serves(node_id):
                    waiting.discard(node_id)
            if waiting and time.monotonic() > deadline:
                raise InfraError(f"nodes {sorted(waiting)} did not serve within {timeout_s:.0f} s")
            if waiting:
                time.sleep(0.2)

    def under_replicated(self) -> int:
        """Partitions whose in-sync replicas are fewer than their replicas (internal topics included)."""
        metadata = self._admin().list_topics(timeout=10)
        return sum(
            len(p.isrs) < len(p.replicas) for topic in metadata.topics.values() for p in topic.partitions.values()
        )

    def wait_in_sync(self, timeout_s: float) -> None:
        """Until every partition has all its replicas in sync again (a restarted node has caught up)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.under_replicated() == 0:
                    return
            except KafkaException:
                pass  # a node is still electing: ask again
            if time.monotonic() > deadline:
                raise InfraError(f"partitions still under-replicated after {timeout_s:.0f} s")
            time.sleep(0.5)

    # -- internals ----------------------------------------------------------------------------------------
    def _admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap_servers, **self.client_properties(), "log_level": 0})

    def _launch(self, node: ClusterNode) -> None:
        java = require_command("java", "install a Java 17+ runtime")
        node.data_dir.mkdir(parents=True, exist_ok=True)
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        properties = NODE_PROPERTIES.format(
            node_id=node.node_id,
            voters=voters,
            port=node.port,
            broker_port=node.broker_port,
            controller_port=node.controller_port,
            client_protocol="SASL_PLAINTEXT" if self.sasl else "PLAINTEXT",
            data_dir=node.data_dir,
            replication=self.replication,
            min_insync=self.min_insync,
        )
        if self.sasl is not None:
            properties += SASL_PROPERTIES.format(username=self.sasl[0], password=self.sasl[1])
        node.properties.write_text(properties)
        (node.root / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        if not (node.data_dir / "meta.properties").exists():
            format_storage(java, self.libs, node.properties, self.cluster_id)
        process = start_java_broker(java, self.libs, node.properties, node.log_file, JVM_OPTIONS)
        node.pid_file.write_text(str(process.pid))
