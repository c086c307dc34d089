"""Error answers: one JSON shape (``models.Problem``) for everything but validation errors (FastAPI's 422).

While the database or the broker is away every route answers 503 with ``Retry-After``, never 500: the
handlers below turn what psycopg and confluent-kafka raise then into that answer.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

import psycopg
from confluent_kafka import KafkaException
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.db import PoolTimeout
from api.kafka_reads import BrokerUnavailable
from api.models import Problem
from api.producer import ProduceError
from connectors.postgres.read_models import InvalidCursor

log = logging.getLogger(__name__)

RETRY_AFTER_S: Final = "1"

_DESCRIPTIONS = {
    401: "No credentials, or an unknown, revoked, malformed or expired key or token.",
    403: "The key's role may not do this, or may not act on this account.",
    404: "No such order (also when the order belongs to an account the key may not see).",
    409: "The order's state does not allow this (e.g. it is already filled), or the projection has not yet "
    "reached a command this API wrote about the order (`PENDING_PROJECTION`, with the command's place in the log "
    "in `extra`); `reason` says which.",
    413: "The request body is larger than the server's limit (SQ_API_MAX_BODY_BYTES, default 128 KiB).",
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


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(value: Any) -> Any:
    """``value`` with every lone surrogate replaced by U+FFFD: an answer that echoes what the client sent must
    still encode as UTF-8 (a validation error quotes the refused input)."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {printable(key): printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [printable(item) for item in value]
    return value


def _json(status: int, problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(printable(problem.model_dump(exclude_none=True)), status_code=status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer, but printable: its default fails (500) on a lone surrogate in the input it quotes.
        return JSONResponse({"detail": printable(jsonable_encoder(error.errors()))}, status_code=422)

    @app.exception_handler(ApiProblem)
    async def _problem(_request: Request, error: ApiProblem) -> JSONResponse:
        return _json(error.status, error.problem, error.headers)

    @app.exception_handler(InvalidCursor)
    async def _cursor(_request: Request, error: InvalidCursor) -> JSONResponse:
        body = {"detail": [{"loc": ["query", "cursor"], "msg": str(error), "type": "value_error"}]}
        return JSONResponse(printable(body), status_code=422)

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg.InterfaceError)
    async def _database(request: Request, error: Exception) -> JSONResponse:
        # The server's address and user are in psycopg's message: logged here, not told to the client.
        log.warning("database unavailable for %s %s: %s", request.method, request.url.path, error)
        detail = "database unavailable: PostgreSQL did not answer; retry after Retry-After seconds"
        return _json(503, Problem(detail=detail, reason="DATABASE_UNAVAILABLE"), {"Retry-After": RETRY_AFTER_S})

    @app.exception_handler(ProduceError)
    async def _produce(_request: Request, error: ProduceError) -> JSONResponse:
        detail = (
            f"broker unavailable: {error}; the command may or may not be in the log (resend with the same "
            "client_order_id: it names the same order)"
        )
        return _json(503, Problem(detail=detail, reason="BROKER_UNAVAILABLE"), {"Retry-After": RETRY_AFTER_S})

    @app.exception_handler(BrokerUnavailable)
    @app.exception_handler(KafkaException)
    async def _broker(_request: Request, error: Exception) -> JSONResponse:
        detail = f"broker unavailable: {error}; retry after Retry-After seconds"
        return _json(503, Problem(detail=detail, reason="BROKER_UNAVAILABLE"), {"Retry-After": RETRY_AFTER_S})
