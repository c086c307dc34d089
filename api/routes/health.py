"""Liveness, readiness and metrics: no credentials needed (they reveal no trading data)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from api.deps import Res, Resources
from api.models import Health, HealthDetail, ProjectionLagPublic

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

READY_TIMEOUT_S = 2.0


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": Health, "description": "The broker or the database does not answer."}
}


@router.get("/readyz", response_model=Health, summary="The broker and the database answer", responses=NOT_READY)
def readyz(res: Res) -> JSONResponse:
    checks = _checks(res)
    ready = all(value.startswith("ok") for value in checks.values())
    health = Health(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(health.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/v1/health",
    response_model=HealthDetail,
    summary="Readiness, and how far each projection is behind the log",
    responses={503: {"model": HealthDetail, "description": "The broker or the database does not answer."}},
)
def health(res: Res) -> JSONResponse:
    checks = _checks(res)
    projections: list[ProjectionLagPublic] = []
    if all(value.startswith("ok") for value in checks.values()):
        try:
            with res.pool.connection(timeout_s=READY_TIMEOUT_S) as conn:
                lags = res.lag_probe().measure(conn, int(res.wall_clock() * 1000), READY_TIMEOUT_S)
            projections = [ProjectionLagPublic(**lag.as_json()) for lag in lags]
            checks["projections"] = "ok"
        except Exception as error:  # a lag that cannot be read makes the answer incomplete: not ready
            checks["projections"] = _unavailable("projections", error)
    ready = all(value.startswith("ok") for value in checks.values())
    detail = HealthDetail(status="ok" if ready else "unavailable", checks=checks, projections=projections)
    return JSONResponse(detail.model_dump(), status_code=200 if ready else 503)


def _checks(res: Resources) -> dict[str, str]:
    """Whether the broker and the database answer, each within READY_TIMEOUT_S."""
    checks: dict[str, str] = {}
    try:
        metadata = res.producer.list_topics(READY_TIMEOUT_S)
        checks["kafka"] = f"ok ({len(metadata.brokers)} brokers)"
    except Exception as error:  # any failure means not ready; the message says which
        checks["kafka"] = _unavailable("kafka", error)
    try:
        with res.pool.connection(timeout_s=READY_TIMEOUT_S) as conn:
            conn.execute("select 1").fetchone()
        checks["postgres"] = "ok"
    except Exception as error:
        checks["postgres"] = _unavailable("postgres", error)
    return checks


def _unavailable(check: str, error: Exception) -> str:
    """What an unauthenticated probe is told: the kind of failure. The driver's message names servers, ports
    and users, so it goes to the API's log only."""
    log.warning("readiness check %s failed: %s", check, error)
    return f"unavailable ({type(error).__name__}; the API's log has the details)"


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics (text format, or OpenMetrics)")
def metrics(request: Request, res: Res) -> Response:
    """prometheus-client's exposition of the app's registry, in the format the scraper's ``Accept`` asks for."""
    body, content_type = res.metrics.exposition(request.headers.get("accept"))
    return Response(body, media_type=content_type)
