"""How the API is served: the uvicorn settings that `sq up`, `sq api`, the tests' server and the benchmarks share,
and the API's own process for `sq up` (``python -m api.server --fd N``).

Chosen by measurement (docs/BENCHMARKS.md, "Read side (issue 19): API"):

- Its own process, not a thread of `sq up`'s: there it shared one GIL with the projection sink, and each time a
  request's thread gave the GIL up (a socket write, a produce) it waited for the sink's decoding to hand it
  back (up to the 5 ms switch interval), which bounded POST /v1/orders, not the work of the request.
- One server process (no uvicorn workers): read-your-writes remembers the commands in flight in the process
  that produced them (api/read_your_writes.py), so a second worker would answer a GET or DELETE of an order
  the first one placed with a 404; and on this machine's two cores a second process only competes with the
  broker, the database and the processors.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
from collections.abc import Sequence

import uvicorn
from starlette.types import ASGIApp

from api.app import create_app
from api.config import ApiSettings
from processors.runtime.logs import configure_logging
from settings import load_settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def server_config(
    app: ASGIApp, *, log_level: str = "warning", host: str = "127.0.0.1", port: int = 8000
) -> uvicorn.Config:
    """The uvicorn settings of the API (``host`` and ``port`` matter only when uvicorn binds the socket itself).
    No access log: a line per request costs more than a POST's own work at these rates (the metrics count them).
    No log configuration of uvicorn's own: its records go to the process's (processors.runtime.logs)."""
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, lifespan="on", access_log=False, log_config=None
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the API (settings from the environment, ``ApiSettings.as_env``) on a listening socket the parent
    bound and passed down (``--fd``), until SIGINT or SIGTERM; uvicorn then drains, and the lifespan closes the
    producer (flushing it) and the pool."""
    parser = argparse.ArgumentParser(prog="api.server", description="serve the API on an inherited socket")
    parser.add_argument("--fd", type=int, required=True, help="file descriptor of the bound, listening socket")
    parser.add_argument("--log-level", default="warning", choices=LOG_LEVELS)
    args = parser.parse_args(argv)
    configure_logging(load_settings(), "api")
    sock = socket.socket(fileno=args.fd)  # family, type and protocol (TCP: asyncio sets TCP_NODELAY) read back
    server = uvicorn.Server(server_config(create_app(ApiSettings.from_env()), log_level=args.log_level))
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it shut down on
        server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
