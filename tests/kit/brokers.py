"""A Kafka broker of a test's own, on free ports (the jars shared with the session's broker): a test may kill it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from infra.kafka_broker import LocalBroker
from infra.process import pid_alive
from settings import Settings


def free_port_pair() -> int:
    """A port whose next port is free too (the broker's controller listens there)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        with socket.socket() as first, socket.socket() as second:
            try:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two free consecutive ports on 127.0.0.1")


@dataclass
class OwnBroker:
    broker: LocalBroker
    settings: Settings

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as a crashed machine."""
        pid = self.broker.pid()
        assert pid is not None, "the broker is not running"
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.broker.answers(timeout_s=0.5) and time.monotonic() < deadline:
            time.sleep(0.1)

    def start(self) -> None:
        self.broker.start()


@contextmanager
def own_broker(base: Settings) -> Iterator[OwnBroker]:
    """A started broker with a home of its own, stopped and removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="sq-fault-"))
    (home / "kafka").mkdir()
    (home / "kafka" / "libs").symlink_to(LocalBroker(base.home, base.kafka_port).libs)
    settings = replace(base, home=home, kafka_port=free_port_pair(), topic_prefix="fault.")
    broker = LocalBroker(home, settings.kafka_port)
    try:
        broker.start()
        yield OwnBroker(broker, settings)
    finally:
        pid = broker.pid()
        if pid is not None and pid_alive(pid):
            broker.stop()
        shutil.rmtree(home, ignore_errors=True)
