"""`sq demo --orders N --exit --json` and `sq up` as a user runs them: subprocesses on a database and topic
prefix of their own (and a free API port), against the real broker and PostgreSQL. The fixture lives here,
not in a conftest: the API tests import names from theirs, and a second ``conftest`` module would shadow it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from confluent_kafka import KafkaException

from connectors.postgres.databases import scratch_database
from settings import Settings
from topics.admin import delete_prefixed_topics

pytestmark = pytest.mark.integration

DEMO_TIMEOUT_S = 90
UP_READY_TIMEOUT_S = 60
UP_STOP_TIMEOUT_S = 40

SQ = [sys.executable, "-m", "sq.cli"]


@dataclass(frozen=True)
class StackEnv:
    settings: Settings
    port: int
    env: dict[str, str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def stack_env(infra_settings: Settings) -> Iterator[StackEnv]:
    """A new database and topic prefix for one stack; the database and every prefixed topic go afterwards."""
    with scratch_database(infra_settings.database_url, "sqdemo") as url:
        settings = infra_settings.with_topic_prefix(f"t{uuid.uuid4().hex[:10]}.").with_database_url(url)
        port = _free_port()
        env = {**os.environ, **settings.as_env(), "SQ_API_HOST": "127.0.0.1", "SQ_API_PORT": str(port)}
        try:
            yield StackEnv(settings, port, env)
        finally:
            try:
                delete_prefixed_topics(settings)
            except KafkaException as error:  # best effort: a failure leaves only clutter
                warnings.warn(f"could not delete the topics of {settings.topic_prefix}: {error}", stacklevel=1)


def _worker_pids_of(stack: StackEnv) -> set[int]:
    """The worker processes running on this stack's topic prefix (their environment names it)."""
    found = set()
    listing = subprocess.run(["pgrep", "-f", "processors.runtime.worker"], capture_output=True, text=True, check=False)
    for pid in map(int, listing.stdout.split()):
        try:
            with open(f"/proc/{pid}/environ", "rb") as environ:
                if f"SQ_TOPIC_PREFIX={stack.settings.topic_prefix}".encode() in environ.read().split(b"\0"):
                    found.add(pid)
        except OSError:  # it ended meanwhile
            continue
    return found


def _demo(stack: StackEnv, orders: int) -> dict[str, Any]:
    done = subprocess.run(
        [*SQ, "demo", "--orders", str(orders), "--exit", "--json"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def test_demo_drives_orders_through_the_api_and_its_counts_agree(stack_env: StackEnv) -> None:
    began = time.monotonic()
    summary = _demo(stack_env, 300)
    session = summary["session"]
    assert summary["verify"]["ok"] and summary["caught_up"]
    assert summary["orders"] > 0 and summary["fills"] > 0 and summary["positions"] > 0
    assert summary["orders"] == sum(summary["orders_by_status"].values())
    assert summary["orders"] <= session["placed"]  # a resent client order id names the same order
    # Risk applied each account's limits (reference prices) before their first order: only the kill switch denies.
    assert summary["rejects"] == {"KILL_SWITCH": 3} and summary["kill_switch"]["denied"] == 3
    assert sum(summary["rejects"].values()) == summary["orders_by_status"].get("REJECTED", 0)
    assert summary["verify"]["orders"] == summary["orders"]  # a fresh log: the run is all of it
    assert summary["verify"]["fills"] == summary["fills"]
    assert summary["key"].startswith("sqk_") and summary["docs"] == f"{stack_env.base_url}/docs"
    assert summary["console"] == f"{stack_env.base_url}/console"
    assert _worker_pids_of(stack_env) == set()
    assert time.monotonic() - began < DEMO_TIMEOUT_S


def test_demo_runs_again_on_the_same_topics_and_tables_and_counts_only_its_run(stack_env: StackEnv) -> None:
    first = _demo(stack_env, 40)
    again = _demo(stack_env, 40)
    assert again["run_id"] != first["run_id"] and not set(again["accounts"]) & set(first["accounts"])
    assert again["verify"]["ok"] and again["caught_up"]
    assert again["kill_switch"]["denied"] == 3  # its accounts start without the first run's switch or positions
    assert again["verify"]["orders"] == first["orders"] + again["orders"]  # the log holds both runs


def test_up_serves_the_api_until_sigint_then_leaves_nothing_running(stack_env: StackEnv) -> None:
    up = subprocess.Popen([*SQ, "up"], env=stack_env.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_ready(up, stack_env)
        workers = _worker_pids_of(stack_env)
        assert len(workers) == 2  # the single topology's orderpath stage, and the orderbook
        up.send_signal(signal.SIGINT)
        out, err = up.communicate(timeout=UP_STOP_TIMEOUT_S)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 0, err[-3000:]
    assert out.startswith(f"ready: API {stack_env.base_url}, console {stack_env.base_url}/console")
    assert (
        err.index("stopping the API") < err.index("stopping orderbook#0, orderpath#0") < err.index("stopping the sink")
    )
    assert _worker_pids_of(stack_env) == set()
    assert not _ready(stack_env.base_url)


def test_up_restarts_a_processor_that_dies_and_keeps_serving(stack_env: StackEnv) -> None:
    up = subprocess.Popen([*SQ, "up"], env=stack_env.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_ready(up, stack_env)
        before = _worker_pids_of(stack_env)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(after := _worker_pids_of(stack_env)) != len(before) or victim in after:
            assert up.poll() is None, "sq up stopped instead of restarting the processor"
            assert time.monotonic() < deadline, "the processor was not restarted within 30 s"
            time.sleep(0.2)
        assert _ready(stack_env.base_url)
        up.send_signal(signal.SIGINT)
        out, err = up.communicate(timeout=UP_STOP_TIMEOUT_S)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 0, err[-3000:]
    assert out.startswith("ready:")
    assert "exited with code -9; restarting it" in err and "restarted (1 restart(s) so far)" in err
    assert _worker_pids_of(stack_env) == set()


def _wait_ready(up: subprocess.Popen[str], stack: StackEnv) -> None:
    deadline = time.monotonic() + UP_READY_TIMEOUT_S
    while not _ready(stack.base_url):
        assert up.poll() is None, up.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "sq up was not ready in time"
        time.sleep(0.2)


def _ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
