"""Starting and stopping worker processes: one OS process per worker (two cores, one GIL each)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from processors.runtime.worker import DEFAULT_ENGINE


@dataclass
class WorkerProcess:
    processor: str
    worker: int
    engine: str
    process: subprocess.Popen[bytes]

    @property
    def label(self) -> str:
        return f"{self.processor}#{self.worker}"


def worker_argv(processor: str, worker: int = 0, engine: str = DEFAULT_ENGINE) -> list[str]:
    """The command line of one worker process (``processors.runtime.worker``)."""
    return [sys.executable, "-m", "processors.runtime.worker", processor, "--engine", engine, "--worker", str(worker)]


def start_worker(
    processor: str,
    worker: int = 0,
    engine: str = DEFAULT_ENGINE,
    env: dict[str, str] | None = None,
    *,
    stdout: int | None = None,
    own_session: bool = False,
) -> WorkerProcess:
    """Start a worker; ``own_session`` keeps a terminal's Ctrl-C from reaching it (its parent stops it)."""
    process = subprocess.Popen(
        worker_argv(processor, worker, engine),
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        start_new_session=own_session,
    )
    return WorkerProcess(processor, worker, engine, process)


def stop_workers(workers: list[WorkerProcess], timeout_s: float = 20.0) -> None:
    for w in workers:
        if w.process.poll() is None:
            w.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for w in workers:
        try:
            w.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            w.process.kill()
            w.process.wait()
