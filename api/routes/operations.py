"""What an operator's screen needs beside orders and positions: who the caller is, the kill switches and
circuit breakers (control.events), dead letters (ops.deadletters) and each processor stage's consumer lag."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import Action
from api.control_view import control_state, dead_letter_public
from api.deps import Reader, Res
from api.errors import ApiProblem, responses
from api.kafka_reads import BrokerUnavailable, group_lags, recent_records
from api.routes.market import AnalyticsPoint, Symbol
from connectors.marketdata.views import MEASURES
from processors.runtime.pipeline import STAGES, Pipeline
from processors.runtime.registry import consumer_group, new_core
from topics.catalogue import CONTROL_EVENTS, DEAD_LETTERS, MD_ANALYTICS

router = APIRouter(prefix="/v1", tags=["operations"])

CONTROL_PER_PARTITION = 500  # control.events is small: the latest records of each partition decide the state


class Me(BaseModel):
    subject: str
    role: str
    accounts: list[str] = Field(description='The accounts the key may act on; ["*"] for every account.')
    may: list[str] = Field(description="The actions the role may take.")


class ControlEntry(BaseModel):
    """A kill switch (``active``, ``cancel_open_orders``, ``actor``) or circuit breaker (``state``,
    ``trading_state``, ``trigger_count``, ``cool_down_until``) record of control.events."""

    kind: Literal["kill_switch", "circuit_breaker"]
    scope: Literal["global", "account", "symbol"]
    target: str | None
    detail: str
    time: datetime
    producer: str
    partition: int
    offset: int
    active: bool | None = None
    cancel_open_orders: bool | None = None
    actor: str | None = None
    state: Literal["TRIPPED", "RESET"] | None = None
    trading_state: str | None = None
    trigger_count: int | None = None
    cool_down_until: datetime | None = None


class ControlState(BaseModel):
    kill_switches: list[ControlEntry] = Field(description="The kill switches in force.")
    breakers: list[ControlEntry] = Field(description="Each circuit breaker's latest record.")
    history: list[ControlEntry] = Field(description="Kill switch and breaker records, newest first.")


class DeadLetterPublic(BaseModel):
    time: datetime
    stage: str = Field(description="The stage that gave up on the record.")
    reason: str
    detail: str
    source_topic: str
    source_partition: int | None
    source_offset: int | None
    partition: int = Field(description="Where the dead letter is on ops.deadletters.")
    offset: int


class StageLag(BaseModel):
    stage: str
    group: str
    committed: int = Field(description="Input offsets committed, summed over partitions (its rate: throughput).")
    lag_records: int = Field(description="Input offsets not committed yet.")


def _unavailable(error: BrokerUnavailable) -> ApiProblem:
    return ApiProblem(503, f"broker unavailable: {error}", "BROKER_UNAVAILABLE", headers={"Retry-After": "1"})


@router.get(
    "/me",
    response_model=Me,
    summary="The caller: role, accounts and what it may do",
    responses=responses(401, 403, 429),
)
async def me(principal: Reader) -> Me:
    return Me(
        subject=principal.subject,
        role=principal.role.value,
        accounts=sorted(principal.accounts),
        may=[action.value for action in Action if principal.may(action)],
    )


@router.get(
    "/control",
    response_model=ControlState,
    summary="Kill switches in force, circuit breaker states and their history (control.events)",
    responses=responses(401, 403, 429, 503),
)
def control(
    principal: Reader,
    res: Res,
    history: Annotated[int, Query(ge=1, le=1000, description="History entries, newest first.")] = 100,
) -> dict[str, Any]:
    """An account's switches and breakers show to keys of that account; global and symbol ones to every key."""
    try:
        records = recent_records(
            res.config.settings, CONTROL_EVENTS, CONTROL_PER_PARTITION, res.producer.codec, res.config.broker_timeout_s
        )
    except BrokerUnavailable as error:
        raise _unavailable(error) from None
    return control_state(records, principal.visible_accounts(), history)


@router.get(
    "/dead-letters",
    response_model=list[DeadLetterPublic],
    summary="The latest dead letters with their reasons (keys for every account)",
    responses=responses(401, 403, 429, 503),
)
def dead_letters(
    principal: Reader,
    res: Res,
    limit: Annotated[int, Query(ge=1, le=1000, description="Entries per partition, newest first.")] = 100,
) -> list[dict[str, Any]]:
    if not principal.all_accounts:  # a dead letter may hold any account's record
        raise ApiProblem(
            403,
            "dead letters may hold any account's records: they need a key for every account",
            "ACCOUNT_NOT_PERMITTED",
        )
    try:
        records = recent_records(
            res.config.settings, DEAD_LETTERS, limit, res.producer.codec, res.config.broker_timeout_s
        )
    except BrokerUnavailable as error:
        raise _unavailable(error) from None
    return [dead_letter_public(r) for r in reversed(records)]


@router.get(
    "/pipeline",
    response_model=list[StageLag],
    summary="Each processor stage's consumer group: input offsets committed and not yet committed",
    responses=responses(401, 403, 429, 503),
)
async def pipeline(_principal: Reader, res: Res) -> list[StageLag]:
    """The stages that have committed (whichever topology runs); sample twice for throughput."""

    settings = res.config.settings
    groups = {
        consumer_group(settings, "kafka", name): (name, Pipeline([new_core(core) for core in spec.cores]).inputs)
        for name, spec in STAGES.items()
    }

    def measure() -> list[StageLag]:
        lags = group_lags(
            settings, {group: inputs for group, (_, inputs) in groups.items()}, res.config.broker_timeout_s
        )
        return [
            StageLag(stage=groups[lag.group][0], group=lag.group, committed=lag.committed, lag_records=lag.lag_records)
            for lag in lags
        ]

    try:
        return await run_in_threadpool(measure)
    except BrokerUnavailable as error:
        raise _unavailable(error) from None


@router.get(
    "/analytics/{symbol}/history",
    response_model=list[AnalyticsPoint],
    summary="A symbol's latest analytics records, oldest first (md.analytics)",
    responses=responses(401, 403, 429, 503),
)
def analytics_history(
    symbol: Symbol,
    _principal: Reader,
    res: Res,
    limit: Annotated[int, Query(ge=1, le=2000, description="Records of the symbol at most.")] = 300,
) -> list[dict[str, Any]]:
    """Read from the last ``limit`` records of each md.analytics partition, so a symbol that shares its partition
    with busier ones may get fewer than ``limit``; [] when none."""
    try:
        records = recent_records(
            res.config.settings, MD_ANALYTICS, limit, res.producer.codec, res.config.broker_timeout_s
        )
    except BrokerUnavailable as error:
        raise _unavailable(error) from None
    rows = [r.record for r in records if r.record["symbol"] == symbol]
    rows.sort(key=lambda row: int(row["window_end_us"]))
    return [
        {
            "symbol": row["symbol"],
            "venue": row["venue"],
            "window_end_us": row["window_end_us"],
            **{m: row[m] for m in MEASURES},
        }
        for row in rows[-limit:]
    ]
