"""Risk controls: kill switches (control.events) and account limits (risk.limits), for risk and admin keys.

A switch or limits for one account need a key that may act on that account; a global or symbol switch
affects every account, so it needs a key for every account (``*``)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError

from api import commands
from api.auth import Action, Principal
from api.deps import Reader, Res, allowed, require_account
from api.errors import ApiProblem, responses
from api.kafka_reads import latest_limits
from api.models import (
    CommandAccepted,
    Identifier,
    KillSwitchAccepted,
    KillSwitchCreate,
    KillSwitchScope,
    RiskLimitsPublic,
    RiskLimitsUpdate,
    Text,
    check_scope_target,
)
from api.producer import Delivered
from api.views import limits_public
from processors.risk.limits import DEFAULT_LIMITS
from schemas.names import KILL_SWITCH
from schemas.names import RISK_LIMITS as RISK_LIMITS_SCHEMA
from topics.catalogue import CONTROL_EVENTS, RISK_LIMITS

router = APIRouter(prefix="/v1/risk", tags=["risk"])

KillSwitcher = Annotated[Principal, Depends(allowed(Action.KILL_SWITCH))]
LimitSetter = Annotated[Principal, Depends(allowed(Action.SET_LIMITS))]


def _produce(res: Res, topic: str, key: str, schema: str, record: dict[str, Any]) -> Delivered:
    began = time.perf_counter()
    delivered = res.producer.send(topic, key, schema, record)
    res.metrics.produce_latency.observe(time.perf_counter() - began)
    res.metrics.commands.labels(schema).inc()
    return delivered


def _check_scope(principal: Principal, scope: str, target: str | None) -> None:
    if scope == "account" and target is not None:
        require_account(principal, target)
    elif scope != "account" and not principal.all_accounts:
        raise ApiProblem(
            403,
            f"a {scope} kill switch affects every account: it needs a key for every account",
            "ACCOUNT_NOT_PERMITTED",
        )


def _switch(
    res: Res, principal: Principal, scope: str, target: str | None, *, active: bool, cancel: bool, reason: str
) -> KillSwitchAccepted:
    _check_scope(principal, scope, target)
    origin = res.origin()
    record = commands.kill_switch(
        scope, target, active=active, cancel_open_orders=cancel, actor=principal.subject, detail=reason, origin=origin
    )
    delivered = _produce(res, CONTROL_EVENTS, commands.control_key(scope, target), KILL_SWITCH, record)
    return KillSwitchAccepted(
        event_id=origin.event_id,
        topic=delivered.topic,
        partition=delivered.partition,
        offset=delivered.offset,
        scope=scope,  # type: ignore[arg-type]  # one of the Literal's values: the route's path or body chose it
        target=target,
        active=active,
    )


@router.post(
    "/kill-switch",
    status_code=202,
    response_model=KillSwitchAccepted,
    summary="Engage a kill switch",
    responses=responses(401, 403, 413, 429, 503),
)
def engage_kill_switch(body: KillSwitchCreate, res: Res, principal: KillSwitcher) -> KillSwitchAccepted:
    """New orders in scope are denied from the next command on; with ``cancel_open_orders`` risk also
    cancels the working orders in scope."""
    return _switch(
        res, principal, body.scope, body.target, active=True, cancel=body.cancel_open_orders, reason=body.reason
    )


@router.delete(
    "/kill-switch",
    status_code=202,
    response_model=KillSwitchAccepted,
    summary="Release a kill switch",
    responses=responses(401, 403, 429, 503),
)
def release_kill_switch(
    res: Res,
    principal: KillSwitcher,
    scope: Annotated[KillSwitchScope, Query()],
    target: Annotated[Identifier | None, Query(description="The account or symbol; absent for global.")] = None,
    reason: Annotated[Text, Query(max_length=500)] = "",
) -> KillSwitchAccepted:
    try:
        check_scope_target(scope, target)
    except ValueError as error:
        raise RequestValidationError([{"loc": ("query", "target"), "msg": str(error), "type": "value_error"}]) from None
    return _switch(res, principal, scope, target, active=False, cancel=False, reason=reason)


@router.put(
    "/limits/{account}",
    status_code=202,
    response_model=CommandAccepted,
    summary="Set an account's limits",
    responses=responses(401, 403, 413, 429, 503),
)
def set_limits(account: Identifier, body: RiskLimitsUpdate, res: Res, principal: LimitSetter) -> CommandAccepted:
    """Writes a RiskLimits record to the compacted risk.limits topic; risk applies it to the account's next
    command. Fields left out take the documented defaults."""
    require_account(principal, account)
    origin = res.origin()
    record = commands.risk_limits(account, body, origin)
    delivered = _produce(res, RISK_LIMITS, account, RISK_LIMITS_SCHEMA, record)
    return CommandAccepted(
        event_id=origin.event_id, topic=delivered.topic, partition=delivered.partition, offset=delivered.offset
    )


@router.get(
    "/limits/{account}",
    response_model=RiskLimitsPublic,
    summary="An account's limits",
    responses=responses(401, 403, 429, 503),
)
def get_limits(account: Identifier, res: Res, principal: Reader) -> RiskLimitsPublic:
    """The latest limits set for the account, or the defaults risk applies when none were set."""
    require_account(principal, account)
    record = latest_limits(res.config.settings, account, res.producer.codec, res.config.broker_timeout_s)
    if record is None:
        return limits_public(account, DEFAULT_LIMITS.as_record(), None)
    return limits_public(account, record, record["meta"]["event_time_us"])
