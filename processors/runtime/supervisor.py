"""Worker processes, kept running: one OS process per worker (two cores, one GIL each).

A worker that exits is started again after a backoff that doubles with each exit in the recent window; one
that keeps exiting (``max_restarts`` within ``window_s``) is given up on, and ``check()`` says so in words a
person can act on. Every restart is logged and counted (``restarts``). With ``SQ_METRICS_PORT`` = P in its
environment, the N-th worker it starts (counting from 0, by stage and number; a restart keeps its place) serves
its metrics and probes on P + N: `sq run orderpath` in a container serves on P itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from processors.runtime.worker import DEFAULT_ENGINE


@dataclass
class WorkerProcess:
    processor: str  # the stage it runs
    worker: int
    engine: str
    process: subprocess.Popen[bytes]

    @property
    def label(self) -> str:
        return f"{self.processor}#{self.worker}"


def worker_argv(
    stage: str, worker: int = 0, engine: str = DEFAULT_ENGINE, engine_options: Sequence[str] = ()
) -> list[str]:
    """The command line of one worker process (``processors.runtime.worker``)."""
    options = [f"--engine-option={option}" for option in engine_options]
    return [
        sys.executable,
        "-m",
        "processors.runtime.worker",
        stage,
        "--engine",
        engine,
        "--worker",
        str(worker),
        *options,
    ]


def start_worker(
    stage: str,
    worker: int = 0,
    engine: str = DEFAULT_ENGINE,
    env: dict[str, str] | None = None,
    *,
    stdout: int | None = None,
    own_session: bool = False,
    engine_options: Sequence[str] = (),
) -> WorkerProcess:
    """Start a worker; ``own_session`` keeps a terminal's Ctrl-C from reaching it (its parent stops it)."""
    process = subprocess.Popen(
        worker_argv(stage, worker, engine, engine_options),
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        start_new_session=own_session,
    )
    return WorkerProcess(stage, worker, engine, process)


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


@dataclass
class Supervisor:
    """Starts workers and restarts those that exit (see the module docstring)."""

    env: dict[str, str] = field(default_factory=dict)
    say: Callable[[str], None] = print
    stdout: int | None = None
    own_session: bool = False
    max_restarts: int = 5
    window_s: float = 120.0
    first_backoff_s: float = 0.5
    max_backoff_s: float = 15.0
    engine_options: tuple[str, ...] = ()  # NAME=VALUE for every kafka worker it starts
    workers: list[WorkerProcess] = field(default_factory=list)
    restarts: Counter[str] = field(default_factory=Counter)
    _exits: dict[str, list[float]] = field(default_factory=dict)  # label -> recent exit times
    _due: dict[str, float] = field(default_factory=dict)  # label -> when its restart is due
    _gone: list[WorkerProcess] = field(default_factory=list)  # exited, waiting out their backoff
    _metrics_slots: dict[str, int] = field(default_factory=dict)  # label -> its place among the metrics ports

    def start(self, stage: str, worker: int = 0, engine: str = DEFAULT_ENGINE) -> WorkerProcess:
        options = self.engine_options if engine == "kafka" else ()
        started = start_worker(
            stage,
            worker,
            engine,
            {**self.env, **self._metrics_env(f"{stage}#{worker}")},
            stdout=self.stdout,
            own_session=self.own_session,
            engine_options=options,
        )
        self.workers.append(started)
        return started

    def _metrics_env(self, label: str) -> dict[str, str]:
        base = self.env.get("SQ_METRICS_PORT") or os.environ.get("SQ_METRICS_PORT")
        if not base:
            return {}
        slot = self._metrics_slots.setdefault(label, len(self._metrics_slots))
        return {"SQ_METRICS_PORT": str(int(base) + slot)}

    def metrics_ports(self) -> dict[str, int]:
        """Each worker's metrics port (empty without ``SQ_METRICS_PORT``)."""
        return {
            label: int(env["SQ_METRICS_PORT"]) for label in self._metrics_slots if (env := self._metrics_env(label))
        }

    def check(self) -> str | None:
        """Restart what exited and is due; a message when a worker is given up on, else None."""
        now = time.monotonic()
        for w in [w for w in self.workers if w.process.poll() is not None]:
            self.workers.remove(w)
            exits = [at for at in self._exits.get(w.label, []) if now - at < self.window_s] + [now]
            self._exits[w.label] = exits
            if len(exits) > self.max_restarts:
                return (
                    f"{w.label} exited {len(exits)} times within {self.window_s:.0f} s (last exit code "
                    f"{w.process.returncode}); not restarting it: see its log above, fix the cause, run it again"
                )
            delay = min(self.first_backoff_s * 2 ** (len(exits) - 1), self.max_backoff_s)
            self.say(f"{w.label} exited with code {w.process.returncode}; restarting it in {delay:.1f} s")
            self._due[w.label] = now + delay
            self._gone.append(w)
        for w in [w for w in self._gone if self._due[w.label] <= now]:
            self._gone.remove(w)
            self.restarts[w.label] += 1
            self.start(w.processor, w.worker, w.engine)
            self.say(f"{w.label} restarted ({self.restarts[w.label]} restart(s) so far)")
        return None

    def stop(self, timeout_s: float = 20.0) -> None:
        self._gone.clear()
        stop_workers(self.workers, timeout_s)

    @property
    def labels(self) -> list[str]:
        return sorted({w.label for w in (*self.workers, *self._gone)})
