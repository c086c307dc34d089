"""`sq auth create-key` and `sq api`, run as a user runs them (subprocesses), against a database of their own."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psycopg
import pytest
from conftest import OWN, ApiEnv

pytestmark = pytest.mark.integration

SQ = [sys.executable, "-m", "sq.cli"]


def _sq(env: ApiEnv, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env.settings.as_env()}
    return subprocess.run([*SQ, *args], capture_output=True, text=True, timeout=60, env=environment, check=False)


def test_create_key_prints_the_key_once_alone_on_its_last_line_and_stores_only_its_hash(
    api_env: ApiEnv, api_database: str
) -> None:
    done = _sq(api_env, "auth", "create-key", "--role", "trader", "--accounts", f"{OWN},ACC-X", "--label", "cli")
    assert done.returncode == 0, done.stderr
    key = done.stdout.splitlines()[-1]
    assert done.stdout == key + "\n" and key.startswith("sqk_")
    with psycopg.connect(api_database) as conn:
        row = conn.execute("select key_hash, role, accounts, label from api_keys where label = 'cli'").fetchone()
    assert row == (hashlib.sha256(key.encode()).hexdigest(), "trader", sorted([OWN, "ACC-X"]), "cli")
    with api_env.client(key) as client:
        assert client.get(f"/v1/positions/{OWN}").status_code == 200


def test_a_trader_key_needs_accounts(api_env: ApiEnv) -> None:
    done = _sq(api_env, "auth", "create-key", "--role", "trader")
    assert done.returncode == 2 and "needs --accounts" in done.stderr and done.stdout == ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_sq_api_serves_on_the_configured_port_until_interrupted(api_env: ApiEnv) -> None:
    port = _free_port()
    environment = {**os.environ, **api_env.settings.as_env(), "SQ_API_PORT": str(port)}
    process = subprocess.Popen([*SQ, "api"], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "sq api did not become ready within 30 s"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert f"http://127.0.0.1:{port}" in stderr
