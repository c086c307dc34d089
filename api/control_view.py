"""control.events and ops.deadletters records → what the console shows: kill switches in force, circuit
breakers' latest states, the history of both, and dead letters with their reasons. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from api.kafka_reads import RecentRecord
from api.views import at
from schemas.names import CIRCUIT_BREAKER, KILL_SWITCH


def control_public(record: RecentRecord) -> dict[str, Any] | None:
    """A kill switch or circuit breaker record as JSON; None for the other control records."""
    if record.schema not in (KILL_SWITCH, CIRCUIT_BREAKER):  # TradingStateSet: neither
        return None
    value, meta = record.record, record.record["meta"]
    common = {
        "scope": value["scope"].lower(),
        "target": value["target"],
        "detail": value["detail"],
        "time": at(meta["event_time_us"]).isoformat(),
        "producer": meta["producer"],
        "offset": record.offset,
        "partition": record.partition,
    }
    if record.schema == KILL_SWITCH:
        return {
            "kind": "kill_switch",
            **common,
            "active": value["active"],
            "cancel_open_orders": value["cancel_open_orders"],
            "actor": value["actor"],
        }
    until = value["cool_down_until_us"]
    return {
        "kind": "circuit_breaker",
        **common,
        "state": value["state"],
        "trading_state": value["trading_state"],
        "trigger_count": value["trigger_count"],
        "cool_down_until": None if until is None else at(until).isoformat(),
    }


def _visible(entry: dict[str, Any], accounts: frozenset[str] | None) -> bool:
    """An account's controls are its own; global and symbol controls concern every account."""
    return accounts is None or entry["scope"] != "account" or entry["target"] in accounts


def control_state(records: Iterable[RecentRecord], accounts: frozenset[str] | None, history: int) -> dict[str, Any]:
    """The kill switches in force and each breaker's latest state, from records oldest first, and the last
    ``history`` of them newest first; limited to ``accounts`` (None: all)."""
    entries = [e for r in records if (e := control_public(r)) is not None and _visible(e, accounts)]
    switches: dict[tuple[str, str | None], dict[str, Any]] = {}
    breakers: dict[tuple[str, str | None], dict[str, Any]] = {}
    for entry in entries:
        latest = switches if entry["kind"] == "kill_switch" else breakers
        latest[(entry["scope"], entry["target"])] = entry
    return {
        "kill_switches": [s for s in switches.values() if s["active"]],
        "breakers": list(breakers.values()),
        "history": entries[::-1][:history],
    }


def dead_letter_public(record: RecentRecord) -> dict[str, Any]:
    value = record.record
    return {
        "time": at(value["meta"]["event_time_us"]).isoformat(),
        "stage": value["stage"],
        "reason": value["reason"],
        "detail": value["detail"],
        "source_topic": value["source_topic"],
        "source_partition": value["source_partition"],
        "source_offset": value["source_offset"],
        "partition": record.partition,
        "offset": record.offset,
    }
