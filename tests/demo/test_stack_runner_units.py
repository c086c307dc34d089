"""The stack runner's watching and its start-up errors, without a broker: fake parts, real processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading

import pytest

from api.config import ApiSettings
from deploy.stack import Stack, StackError, stop_on_signals
from processors.runtime.supervisor import WorkerProcess
from settings import Settings

SETTINGS = Settings.from_env({})


def _stack(port: int = 8000, workers: list[WorkerProcess] | None = None) -> Stack:
    return Stack(SETTINGS, ApiSettings(settings=SETTINGS, port=port), say=lambda _: None, workers=workers or [])


def _worker(code: str) -> WorkerProcess:
    return WorkerProcess("risk", 0, "kafka", subprocess.Popen([sys.executable, "-c", code]))


def test_a_worker_that_exits_stops_the_wait_and_is_named() -> None:
    worker = _worker("raise SystemExit(3)")
    worker.process.wait(10)
    assert _stack(workers=[worker]).run_until_stopped(poll_s=0.01) == "processor risk#0 exited with code 3"


def test_a_requested_stop_ends_the_wait_without_a_failure() -> None:
    worker = _worker("import time; time.sleep(30)")
    stack = _stack(workers=[worker])
    try:
        stack.stop_requested.set()
        assert stack.run_until_stopped(poll_s=0.01) is None
    finally:
        stack.stop()  # stops the worker it was given
    assert worker.process.returncode == -signal.SIGTERM


def test_sigterm_sets_the_stop_event_instead_of_killing() -> None:
    with stop_on_signals(threading.Event()) as stop:
        signal.raise_signal(signal.SIGTERM)
        assert stop.is_set()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_an_api_port_in_use_is_refused_before_anything_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        stack = _stack(port=taken.getsockname()[1])
        with pytest.raises(StackError, match="set SQ_API_PORT to a free port"):
            stack.start()  # refused before the infra, topics or workers start
