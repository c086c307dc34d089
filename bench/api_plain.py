"""The yardstick of POST /v1/orders: a FastAPI endpoint that only validates the same body and answers 202.

    python -m bench.api_plain [--port P]

Served on 127.0.0.1 with the API's own uvicorn settings (api/server.py), in a process of its own as the API is
in `sq up`'s; bench.api starts it and times it with the client loop it times the real endpoint with. The body
model is the API's (api/models.py: OrderCreate, its validators included); nothing is produced, stored or
authenticated, so the ratio POST ÷ this endpoint is what the order path's edge costs on top of HTTP + pydantic.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Sequence

import uvicorn
from fastapi import FastAPI

from api.models import OrderCreate
from api.server import server_config


def plain_app() -> FastAPI:
    app = FastAPI(title="plain endpoint")

    @app.post("/v1/orders", status_code=202)
    async def accept(body: OrderCreate) -> dict[str, str | None]:
        return {"order_id": body.client_order_id, "account": body.account}

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.api_plain", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="listen port on 127.0.0.1 (0: any free one)")
    args = parser.parse_args(argv)
    # Bound as deploy/stack.py binds the API's socket (IPPROTO_TCP, so asyncio sets TCP_NODELAY).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen()
    uvicorn.Server(server_config(plain_app())).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
