"""Run the real API over real HTTP in this process: uvicorn on a free loopback port, in a background thread.

``serve_api(settings)`` is what any test that needs the API uses (the access matrix here, the full-pipeline
tests later): give it the Settings (topic prefix and database URL) and it yields the base URL once the app
has started (migrations applied, producer and pool open), and stops it afterwards.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn

from api.app import create_app
from api.config import ApiSettings
from api.server import server_config
from settings import Settings

START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RunningApi:
    base_url: str
    config: ApiSettings


def _wait_ready(base_url: str, deadline: float) -> None:
    while httpx.get(f"{base_url}/readyz", timeout=10).status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the API was not ready within {START_TIMEOUT_S} s")
        time.sleep(0.05)


@contextmanager
def serve_api(settings: Settings, *, migrate_on_start: bool = True, **overrides: object) -> Iterator[RunningApi]:
    """The API on ``settings`` (topics and database); ``overrides`` set ApiSettings fields (rate limits, secret)."""
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only when the listening socket says
    # it is TCP; without it Nagle and delayed ACKs add about 40 ms to every response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = ApiSettings(settings=settings, host="127.0.0.1", port=port).with_overrides(**overrides)
    server = uvicorn.Server(server_config(create_app(config, migrate_on_start=migrate_on_start)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"api-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the API server stopped during startup (see the log above)")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the API did not start within {START_TIMEOUT_S} s")
        time.sleep(0.01)
    base_url = f"http://127.0.0.1:{port}"
    if migrate_on_start:  # a server meant to work: wait until its broker and database answer (warms both)
        _wait_ready(base_url, deadline)
    try:
        yield RunningApi(base_url, config)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
