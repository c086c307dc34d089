"""Fixtures for fault tests: a broker of the test's own, so killing it disturbs no other test."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from infra.kafka_broker import LocalBroker
from infra.process import pid_alive
from settings import Settings


def _free_port_pair() -> int:
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


@pytest.fixture
def own_broker(infra_settings: Settings) -> Iterator[OwnBroker]:
    """A single-node broker on free ports with a home of its own (the jars shared with the session's broker)."""
    if infra_settings.external_kafka:
        pytest.skip("needs the local broker's jars: the session runs against an external cluster")
    home = Path(tempfile.mkdtemp(prefix="sq-fault-"))
    (home / "kafka").mkdir()
    (home / "kafka" / "libs").symlink_to(LocalBroker(infra_settings.home, infra_settings.kafka_port).libs)
    settings = replace(infra_settings, home=home, kafka_port=_free_port_pair(), topic_prefix="fault.")
    broker = LocalBroker(home, settings.kafka_port)
    broker.start()
    try:
        yield OwnBroker(broker, settings)
    finally:
        pid = broker.pid()
        if pid is not None and pid_alive(pid):
            broker.stop()
        shutil.rmtree(home, ignore_errors=True)
