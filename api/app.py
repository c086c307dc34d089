"""The FastAPI application: ``create_app(ApiSettings)``; ``sq api`` serves it with uvicorn."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import console
from api.body_limit import BodyLimitMiddleware
from api.config import ApiSettings
from api.deps import Resources
from api.errors import install_handlers
from api.metrics import ApiMetrics
from api.routes import analytics, audit, health, market, operations, orders, queries, risk, stream
from connectors.marketdata.views import MarketViews
from connectors.postgres.migrate import migrate

# How long a start waits for the market views to read their sources' tails (they answer 503 until then).
MARKET_VIEWS_START_S = 10.0

DESCRIPTION = """\
Commands in, queries out, for the ShrivenQuant order path.

* **Commands** (`POST/PATCH/DELETE /v1/orders…`, `/v1/risk/…`) are written to Kafka and answered
  `202 Accepted` with their place in the log; what they cause arrives as order events.
* **Queries** (`GET /v1/…`) read the PostgreSQL projections of the topics.
* Prices and quantities are **decimal strings** ("0.015"), exact at 8 decimals; JSON numbers are refused.
* A request body over 128 KiB (`SQ_API_MAX_BODY_BYTES`) is a `413`, before it is parsed; a string holding
  NUL or a lone surrogate is a `422` naming the parameter. While the broker or the database is away,
  routes answer `503` with `Retry-After`.
* Authenticate with `X-API-Key: <key>` (from `sq auth create-key`) or `Authorization: Bearer <JWT>`.
"""


class MetricsMiddleware:
    """Counts requests and their latency by route template (not raw path: ids would explode the labels)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - began)


def create_app(config: ApiSettings, resources: Resources | None = None, migrate_on_start: bool = True) -> FastAPI:
    """The app; it opens its resources (database pool, Kafka producer) at startup unless given them."""
    metrics = resources.metrics if resources is not None else ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate_on_start:
            migrate(config.database_url)  # the api_keys table and the projections' schema
        owned = resources is None
        opened = resources if resources is not None else Resources.open(config)
        opened.metrics = metrics
        app.state.resources = opened
        views = MarketViews(config.settings, timeout_s=config.broker_timeout_s)
        views.start()
        views.wait_settled(MARKET_VIEWS_START_S)
        app.state.market_views = views
        try:
            yield
        finally:
            views.close()
            if owned:
                opened.close()

    app = FastAPI(
        title="ShrivenQuant API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "orders", "description": "Order commands, produced to orders.commands."},
            {"name": "queries", "description": "Reads of the PostgreSQL projections."},
            {"name": "risk", "description": "Kill switches and limits (risk and admin keys)."},
            {"name": "stream", "description": "Live order events (server-sent events)."},
            {"name": "market", "description": "Order books and analytics as the orderbook processor holds them."},
            {"name": "analytics", "description": "Portfolio risk and optimisation per account; TCA per order."},
            {"name": "health", "description": "Liveness, readiness, metrics."},
            {"name": "operations", "description": "The caller, kill switches and breakers, dead letters, stage lag."},
        ],
    )
    install_handlers(app)
    for module in (orders, queries, risk, stream, market, health, analytics, audit, operations):
        app.include_router(module.router)
    console.mount(app)  # the operator's web console at /console
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # the outermost: it counts the 413s too
    return app


def app_factory() -> Any:
    """For ``uvicorn --factory api.app:app_factory``: settings from the environment."""
    return create_app(ApiSettings.from_env())
