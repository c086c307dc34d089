"""An order's story from its records: each line a record of the log, in causal order. Pure: records in, lines out.

Causal order: a record comes after the record that caused it (``meta.causation_id``); records whose cause is
not in the story (the command, a kill switch's synthesized cancel) and records caused by the same record are
ordered by broker time, then by the stage order of the order path, then by offset. The broker time alone is
not enough: one transaction writes a decision, its order events and its venue order within a millisecond.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from schemas.scales import CASH_DECIMALS, PRICE_DECIMALS, QUANTITY_DECIMALS, format_fixed
from topics.catalogue import (
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    PORTFOLIO_POSITIONS,
    RISK_DECISIONS,
    VENUE_EXECUTIONS,
    VENUE_ORDERS,
)

KINDS = {
    ORDERS_COMMANDS: "command",
    RISK_DECISIONS: "risk_decision",
    ORDERS_EVENTS: "order_event",
    VENUE_ORDERS: "venue_order",
    VENUE_EXECUTIONS: "execution",
    PORTFOLIO_POSITIONS: "position",
}
_STAGE_RANK = {topic: rank for rank, topic in enumerate(KINDS)}


@dataclass(frozen=True)
class StoryRecord:
    """One decoded record of the log and where it is."""

    logical_topic: str
    topic: str  # the physical topic name
    partition: int
    offset: int
    timestamp_ms: int
    schema: str
    record: Mapping[str, Any]


def story_lines(records: Sequence[StoryRecord]) -> list[dict[str, Any]]:
    """The lines of an order's story (the API's ``lines``), in causal order."""
    return [_line(record) for record in causal_order(records)]


def causal_order(records: Sequence[StoryRecord]) -> list[StoryRecord]:
    by_id = {str(r.record["meta"]["event_id"]): r for r in records}
    effects: dict[str, list[StoryRecord]] = defaultdict(list)
    ready: list[tuple[int, int, str, int, int, StoryRecord]] = []
    for index, record in enumerate(records):
        cause = record.record["meta"]["causation_id"]
        if cause is not None and cause in by_id and by_id[cause] is not record:
            effects[cause].append(record)
        else:
            heapq.heappush(ready, (*_rank(record), index, record))
    ordered: list[StoryRecord] = []
    while ready:
        *_, record = heapq.heappop(ready)
        ordered.append(record)
        for effect in effects.pop(str(record.record["meta"]["event_id"]), ()):
            heapq.heappush(ready, (*_rank(effect), len(ordered) + len(records), effect))
    return ordered


def _rank(record: StoryRecord) -> tuple[int, int, str, int]:
    return (record.timestamp_ms, _STAGE_RANK.get(record.logical_topic, len(_STAGE_RANK)), record.topic, record.offset)


def jsonable(value: Any) -> Any:
    """A decoded record as JSON: a union's (schema, record) pair becomes the record with its ``schema``."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], dict):
        return {"schema": value[0], **jsonable(value[1])}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def _line(record: StoryRecord) -> dict[str, Any]:
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp_us": record.timestamp_ms * 1000,
        "kind": KINDS.get(record.logical_topic, record.logical_topic),
        "summary": summary(record.logical_topic, record.schema, record.record),
        "record": jsonable(record.record),
    }


def _qty(n: int | None) -> str:
    return "-" if n is None else format_fixed(n, QUANTITY_DECIMALS)


def _price(n: int | None) -> str:
    return "market" if n is None else format_fixed(n, PRICE_DECIMALS)


def _cash(n: int | None) -> str:
    return "-" if n is None else format_fixed(n, CASH_DECIMALS)


def _command(name: str, r: Mapping[str, Any]) -> str:
    producer = r["meta"]["producer"]
    if name == "NewOrder":
        return (
            f"NewOrder {r['side']} {_qty(r['quantity'])} {r['symbol']} {r['order_type']} @ {_price(r['price'])} "
            f"{r['time_in_force']} (client order id {r['client_order_id']}) from {producer}"
        )
    if name == "AmendOrder":
        return f"AmendOrder quantity {_qty(r.get('quantity'))} price {_price(r.get('price'))} from {producer}"
    return f"{name} from {producer}"


def _decision(_name: str, r: Mapping[str, Any]) -> str:
    verdict = "APPROVED" if r["approved"] else f"DENIED {r['reason']}"
    checks = "; ".join(
        f"{c['check']} {'ok' if c['passed'] else 'FAILED'} {c['observed']}/{c['limit']}"
        + (f" ({c['detail']})" if c.get("detail") else "")
        for c in r["checks"]
    )
    return f"{r['command_type']} {verdict}" + (f": {checks}" if checks else "")


def _order_event(_name: str, r: Mapping[str, Any]) -> str:
    text = f"{r['event_type']} → {r['status']} v{r['version']} cum {_qty(r['cum_quantity'])}/{_qty(r['quantity'])}"
    if r["last_quantity"]:
        text += f", filled {_qty(r['last_quantity'])} @ {_price(r['last_price'])} fee {_cash(r['fee'])}"
    if r["reject_reason"]:
        text += f", reason {r['reject_reason']}"
    return text


def _venue_order(_name: str, r: Mapping[str, Any]) -> str:
    return f"{r['action']} to {r['venue']}: {r['side']} {_qty(r['quantity'])} @ {_price(r['price'])}"


def _execution(_name: str, r: Mapping[str, Any]) -> str:
    text = f"{r['exec_type']} from {r['venue']}"
    if r["last_quantity"]:
        text += f": {_qty(r['last_quantity'])} @ {_price(r['last_price'])} {r['liquidity']} fee {_cash(r['fee'])}"
    if r["reject_reason"]:
        text += f", reason {r['reject_reason']}"
    return text


def _position(_name: str, r: Mapping[str, Any]) -> str:
    return (
        f"{r['account']} {r['symbol']} position {_qty(r['quantity'])} avg {_price(r['avg_price'])} "
        f"realized {_cash(r['realized_pnl'])} fees {_cash(r['fees'])}"
    )


_SUMMARIES: dict[str, Callable[[str, Mapping[str, Any]], str]] = {
    ORDERS_COMMANDS: _command,
    RISK_DECISIONS: _decision,
    ORDERS_EVENTS: _order_event,
    VENUE_ORDERS: _venue_order,
    VENUE_EXECUTIONS: _execution,
    PORTFOLIO_POSITIONS: _position,
}


def summary(topic: str, schema: str, record: Mapping[str, Any]) -> str:
    """One line saying what the record is, for a person reading the story."""
    name = schema.rsplit(".", 1)[-1]
    describe = _SUMMARIES.get(topic)
    return describe(name, record) if describe is not None else name
