"""Error answers: one JSON shape (``models.Problem``) for everything but validation errors (FastAPI's 422)."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.db import PoolTimeout
from api.models import Problem
from api.producer import ProduceError
from connectors.postgres.read_models import InvalidCursor

_DESCRIPTIONS = {
    401: "No credentials, or an unknown, revoked, malformed or expired key or token.",
    403: "The key's role may not do this, or may not act on this account.",
    404: "No such order (also when the order belongs to an account the key may not see).",
    409: "The order's state does not allow this (e.g. it is already filled); `reason` says why.",
    429: "The key's rate limit is exceeded; retry after `Retry-After` seconds.",
    503: "The broker or the database did not answer in time.",
}


class ApiProblem(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        reason: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.problem = Problem(detail=detail, reason=reason, extra=extra)
        self.headers = headers


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route may answer."""
    return {status: {"model": Problem, "description": _DESCRIPTIONS[status]} for status in statuses}


def _json(status: int, problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem.model_dump(exclude_none=True), status_code=status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def _problem(_request: Request, error: ApiProblem) -> JSONResponse:
        return _json(error.status, error.problem, error.headers)

    @app.exception_handler(InvalidCursor)
    async def _cursor(_request: Request, error: InvalidCursor) -> JSONResponse:
        body = {"detail": [{"loc": ["query", "cursor"], "msg": str(error), "type": "value_error"}]}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(psycopg.OperationalError)
    async def _database(_request: Request, error: Exception) -> JSONResponse:
        problem = Problem(detail=f"database unavailable: {error}", reason="DATABASE_UNAVAILABLE")
        return _json(503, problem, {"Retry-After": "1"})

    @app.exception_handler(ProduceError)
    async def _broker(_request: Request, error: ProduceError) -> JSONResponse:
        detail = (
            f"broker unavailable: {error}; the command may or may not be in the log (resend with the same "
            "client_order_id: it names the same order)"
        )
        return _json(503, Problem(detail=detail, reason="BROKER_UNAVAILABLE"), {"Retry-After": "1"})
