"""A single-node Apache Kafka broker in KRaft mode on 127.0.0.1, fetched with Maven and run with Java.

The broker's jars come from Maven Central through ``infra/kafka/pom.xml`` into ``$SQ_HOME/kafka/libs``
(about 45 jars, 43 MB); storage is formatted once; the broker runs detached with its pid in a file so
``sq infra down`` stops exactly what ``up`` started.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from infra.process import (
    InfraError,
    log_tail,
    metadata_answers,
    pid_alive,
    port_is_open,
    read_pid,
    require_command,
    require_free_disk,
    terminate,
)

POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
# A test suite leaves thousands of partitions behind between cleanups; 512 MiB ran out of heap near 18,000.
HEAP = "-Xmx1536m"
READY_TIMEOUT_S = 180.0  # a broker with many partitions loads them all before it answers

SERVER_PROPERTIES = """\
# Written by `sq infra up`; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data_dir}
num.partitions=1
auto.create.topics.enable=false
# A single node: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# The default 128 MiB dedupe buffer does not fit a 512 MiB heap.
log.cleaner.dedupe.buffer.size=16777216
# No point waiting for more members of a group on a laptop or in tests.
group.initial.rebalance.delay.ms=0
transaction.abort.timed.out.transaction.cleanup.interval.ms=10000
"""

LOG4J2_PROPERTIES = """\
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka.server.KafkaRaftServer
logger.kafka.level=INFO
"""


@dataclass(frozen=True)
class LocalBroker:
    home: Path
    port: int

    @property
    def root(self) -> Path:
        return self.home / "kafka"

    @property
    def libs(self) -> Path:
        return self.root / "libs"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def pid_file(self) -> Path:
        return self.root / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "broker.log"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def pid(self) -> int | None:
        pid = read_pid(self.pid_file)
        return pid if pid is not None and pid_alive(pid) else None

    # -- jars ---------------------------------------------------------------------------------------
    def fetch_jars(self) -> bool:
        """Resolve the broker's jars with Maven unless the cache matches the descriptor; True if fetched."""
        stamp = self.libs / ".pom-sha256"
        wanted = hashlib.sha256(POM.read_bytes()).hexdigest()
        if stamp.exists() and stamp.read_text() == wanted:
            return False
        require_command("java", "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)")
        mvn = require_command("mvn", "install Maven (Debian: apt-get install maven)")
        require_free_disk(self.root)
        self.libs.mkdir(parents=True, exist_ok=True)
        for old in self.libs.glob("*.jar"):
            old.unlink()
        result = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise InfraError(
                "Maven could not resolve the Kafka broker's jars (infra/kafka/pom.xml); check that Maven "
                f"Central is reachable or set KAFKA_BOOTSTRAP_SERVERS to an existing cluster.\n"
                f"{(result.stdout + result.stderr)[-2000:]}"
            )
        stamp.write_text(wanted)
        return True

    # -- lifecycle ----------------------------------------------------------------------------------
    def answers(self, timeout_s: float = 1.0) -> bool:
        return port_is_open(self.port) and metadata_answers({"bootstrap.servers": self.bootstrap_servers}, timeout_s)

    def start(self) -> bool:
        """Start the broker and wait until it answers metadata; False if one already answered here."""
        if port_is_open(self.port):
            if self.answers(timeout_s=5.0):
                return False
            raise InfraError(
                f"port {self.port} is taken by a program that is not a Kafka broker: stop it, or choose "
                "another port with SQ_KAFKA_PORT"
            )
        if port_is_open(self.port + 1):
            raise InfraError(f"the controller port {self.port + 1} is taken: stop that program or set SQ_KAFKA_PORT")
        self.fetch_jars()
        require_free_disk(self.root)
        java = require_command("java", "install a Java 17+ runtime")
        properties = self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            format_storage(java, self.libs, properties, new_cluster_id())
        process = start_java_broker(
            java, self.libs, properties, self.log_file, jvm_options=(HEAP, "-Xms256m", "-XX:+UseG1GC")
        )
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise InfraError(
                    f"the Kafka broker exited with code {process.returncode}; its log ({self.log_file}) ends:\n"
                    f"{log_tail(self.log_file)}"
                )
            if self.answers():
                return True
            time.sleep(0.2)
        terminate(process.pid)
        self.pid_file.unlink(missing_ok=True)
        raise InfraError(
            f"the Kafka broker did not answer within {READY_TIMEOUT_S:.0f} s; its log ends:\n{log_tail(self.log_file)}"
        )

    def stop(self) -> bool:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        terminate(pid)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        properties = self.root / "server.properties"
        properties.write_text(
            SERVER_PROPERTIES.format(port=self.port, controller_port=self.port + 1, data_dir=self.data_dir)
        )
        (self.root / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        return properties


def new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def format_storage(java: str, libs: Path, properties: Path, cluster_id: str) -> None:
    """Format a node's log directories for ``cluster_id`` (once: a formatted directory keeps its data)."""
    result = subprocess.run(
        [
            java,
            "-cp",
            f"{libs}/*",
            f"-Dlog4j2.configurationFile={properties.parent / 'log4j2.properties'}",
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",  # attached: an id may begin with "-", which as a word of its own is an option
            "-c",
            str(properties),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise InfraError(f"formatting the broker's storage failed:\n{(result.stdout + result.stderr)[-2000:]}")


def start_java_broker(
    java: str, libs: Path, properties: Path, log_file: Path, jvm_options: tuple[str, ...]
) -> subprocess.Popen[bytes]:
    """The broker's JVM, detached (a session of its own), writing to ``log_file``; log4j2 beside ``properties``."""
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [
                java,
                *jvm_options,
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={properties.parent / 'log4j2.properties'}",
                "-cp",
                f"{libs}/*",
                "kafka.Kafka",
                str(properties),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
