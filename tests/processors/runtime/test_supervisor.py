"""The supervisor restarts a worker that exits, with a growing backoff, and gives up on one that keeps exiting."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from processors.runtime import supervisor as supervisor_module
from processors.runtime.supervisor import Supervisor, WorkerProcess


def _fake(supervisor: Supervisor, code: str) -> None:
    """Stand a process running ``code`` in for a worker: the supervisor's restarts start the same code."""

    def start(stage: str, worker: int = 0, engine: str = "kafka") -> WorkerProcess:
        started = WorkerProcess(stage, worker, engine, subprocess.Popen([sys.executable, "-c", code]))
        supervisor.workers.append(started)
        return started

    supervisor.start = start  # type: ignore[method-assign]


def _until(condition: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_worker_that_exits_is_restarted_after_its_backoff() -> None:
    said: list[str] = []
    supervisor = Supervisor(say=said.append, first_backoff_s=0.3)
    _fake(supervisor, "import sys, time; time.sleep(0.2); sys.exit(3)")
    supervisor.start("risk")
    try:
        _until(lambda: supervisor.check() is None and supervisor.restarts["risk#0"] >= 2)
    finally:
        supervisor.stop()
    assert said[0] == "risk#0 exited with code 3; restarting it in 0.3 s"
    assert "risk#0 restarted (1 restart(s) so far)" in said
    assert any("restarting it in 0.6 s" in line for line in said)  # the backoff doubles


def test_a_worker_that_keeps_exiting_is_given_up_on_with_a_reason() -> None:
    supervisor = Supervisor(say=lambda _: None, first_backoff_s=0.01, max_restarts=3, window_s=60)
    _fake(supervisor, "import sys; sys.exit(2)")
    supervisor.start("venue", 1)
    verdicts: list[str | None] = []

    def given_up() -> bool:
        verdicts.append(supervisor.check())
        return verdicts[-1] is not None

    try:
        _until(given_up)
    finally:
        supervisor.stop()
    assert verdicts[-1] is not None
    assert verdicts[-1].startswith("venue#1 exited 4 times within 60 s (last exit code 2); not restarting it")
    assert supervisor.restarts["venue#1"] == 3


def test_each_worker_gets_a_metrics_port_of_its_own_and_keeps_it_across_restarts(monkeypatch: Any) -> None:
    given: list[tuple[str, str]] = []

    def start_worker(stage: str, worker: int, engine: str, env: dict[str, str], **_: object) -> WorkerProcess:
        given.append((f"{stage}#{worker}", env["SQ_METRICS_PORT"]))
        return WorkerProcess(stage, worker, engine, subprocess.Popen([sys.executable, "-c", "pass"]))

    monkeypatch.setattr(supervisor_module, "start_worker", start_worker)
    supervisor = Supervisor(env={"SQ_METRICS_PORT": "9400"}, say=lambda _: None, first_backoff_s=0.01)
    supervisor.start("orderpath")
    supervisor.start("orderpath", 1)
    supervisor.start("orderbook")
    _until(lambda: supervisor.check() is None and supervisor.restarts["orderpath#1"] >= 1)
    supervisor.stop()
    assert dict(given) == {"orderpath#0": "9400", "orderpath#1": "9401", "orderbook#0": "9402"}
    assert ("orderpath#1", "9401") in given[3:]  # a restart serves where its predecessor did
    assert supervisor.metrics_ports() == {"orderpath#0": 9400, "orderpath#1": 9401, "orderbook#0": 9402}
