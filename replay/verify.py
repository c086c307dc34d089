"""The order path's invariants, checked from the log alone (`sq verify`). Pure: records in, a report out.

1. Every command has exactly one outcome: a NewOrder one creation outcome (PENDING_NEW, DENIED, REJECTED,
   DUPLICATE_REJECTED), a CancelOrder one of CANCELLED / CANCEL_REJECTED, an AmendOrder one of REPLACED /
   REPLACE_REJECTED; none is lost (no outcome) and none duplicated (more than one).
2. Every command has exactly one risk decision.
3. No fill is counted twice: fill ids are unique per order in the order events, and the OMS booked exactly
   the venue's fills.
4. Positions equal the sum of the fills: the latest position per account and symbol equals the signed sum
   of fill quantities in the order events.
5. No order reached a venue without a risk approval: every venue NEW/AMEND names an approving decision.
6. Bad input never vanishes: a record of the commands topic that is not a usable command (undecodable, of
   another schema, keyed by something else than its account) has a dead letter with the reason; such
   records are counted (``dead_lettered``), not checked as commands, and one without a dead letter is a
   violation (``vanished``).
Orders still working (resting) or still in flight are counted, not violations.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from schemas.names import AMEND_ORDER, CANCEL_ORDER, NEW_ORDER
from schemas.statuses import TERMINAL_STATUSES

CREATION_OUTCOMES = {"PENDING_NEW", "DENIED", "REJECTED", "DUPLICATE_REJECTED"}
CANCEL_OUTCOMES = {"CANCELLED", "CANCEL_REJECTED"}
AMEND_OUTCOMES = {"REPLACED", "REPLACE_REJECTED"}
OUTCOMES_BY_COMMAND = {
    NEW_ORDER: CREATION_OUTCOMES,
    CANCEL_ORDER: CANCEL_OUTCOMES,
    AMEND_ORDER: AMEND_OUTCOMES,
}

Record = dict[str, Any]  # a decoded record, as the codec hands it out
MAX_VIOLATIONS = 1000  # listed one by one (with where they are); counted beyond


@dataclass
class VerifyReport:
    commands: int = 0
    outcomes: int = 0
    lost: int = 0
    duplicated: int = 0
    undecided: int = 0  # commands without exactly one risk decision
    unapproved: int = 0  # venue orders without an approving decision
    fills: int = 0
    venue_fills: int = 0
    duplicate_fills: int = 0
    position_mismatches: int = 0
    dead_lettered: int = 0  # records of the commands topic the order path dead-lettered
    vanished: int = 0  # records of the commands topic neither a command with its outcome nor dead-lettered
    unreadable: int = 0  # records of the other order path topics that are not theirs (skipped)
    orders: int = 0
    orders_terminal: int = 0
    orders_working: int = 0
    outcomes_by_type: dict[str, int] = field(default_factory=dict)
    reject_reasons: dict[str, int] = field(default_factory=dict)
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    # Each violation with where the log holds the record it is about ("topic [partition] @offset", when known).
    violations: list[dict[str, str | None]] = field(default_factory=list)
    _where: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.duplicated
            or self.undecided
            or self.unapproved
            or self.duplicate_fills
            or self.position_mismatches
            or self.vanished
            or self.fills != self.venue_fills
        )

    def as_json(self) -> dict[str, Any]:
        document = {**asdict(self), "ok": self.ok}
        del document["_where"]
        return document

    def _example(self, text: str, event_id: str | None = None, where: str | None = None) -> None:
        where = where or (self._where.get(event_id) if event_id is not None else None)
        if len(self.violations) < MAX_VIOLATIONS:
            self.violations.append({"violation": text, "event_id": event_id, "where": where})
        if len(self.examples) < 10:
            self.examples.append(f"{text} at {where}" if where else text)


@dataclass
class OrderPathLog:
    """What the order path wrote, topic by topic, in log order."""

    commands: list[tuple[str, Record]]  # (schema full name, record)
    decisions: list[Record]
    order_events: list[Record]
    venue_orders: list[Record]
    executions: list[Record]
    positions: list[Record]
    dead_lettered: dict[str, int] = field(default_factory=dict)  # reason -> commands-topic records dead-lettered
    vanished: list[str] = field(default_factory=list)  # commands-topic records unusable and without a dead letter
    unreadable: int = 0
    where: dict[str, str] = field(default_factory=dict)  # event id -> "topic [partition] @offset"


def verify(log: OrderPathLog) -> VerifyReport:
    report = VerifyReport()
    report._where = log.where
    report.dead_lettered = sum(log.dead_lettered.values())
    report.dead_letter_reasons = dict(sorted(log.dead_lettered.items()))
    report.vanished = len(log.vanished)
    report.unreadable = log.unreadable
    for where in log.vanished:
        report._example("vanished: no usable command and no dead letter", where=where)
    _check_outcomes(report, log.commands, log.order_events)
    approved = _check_decisions(report, [c["meta"]["event_id"] for _, c in log.commands], log.decisions)
    _check_venue_orders(report, log.venue_orders, approved)
    _check_fills(report, log.order_events, log.executions)
    _check_positions(report, log.order_events, log.positions)
    _count_orders(report, log.order_events)
    return report


def _check_outcomes(report: VerifyReport, commands: list[tuple[str, Record]], events: list[Record]) -> None:
    by_command: dict[str, list[str]] = defaultdict(list)
    for event in events:
        if event["command_id"] is not None:
            by_command[event["command_id"]].append(event["event_type"])
    types: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for event in events:
        if event["reject_reason"] is not None and event["event_type"] in {
            "DENIED",
            "REJECTED",
            "DUPLICATE_REJECTED",
            "CANCEL_REJECTED",
            "REPLACE_REJECTED",
        }:
            reasons[event["reject_reason"]] += 1
    for schema, command in commands:
        report.commands += 1
        command_id = command["meta"]["event_id"]
        outcomes = [t for t in by_command.get(command_id, []) if t in OUTCOMES_BY_COMMAND[schema]]
        types.update(outcomes)
        report.outcomes += len(outcomes)
        if not outcomes:
            report.lost += 1
            report._example(f"lost: {schema.rsplit('.', 1)[1]} {command_id} (order {command['order_id']})", command_id)
        elif len(outcomes) > 1:
            report.duplicated += 1
            report._example(f"duplicated: {command_id} has outcomes {outcomes}", command_id)
    report.outcomes_by_type = dict(sorted(types.items()))
    report.reject_reasons = dict(sorted(reasons.items()))


def decided_command(decision: Record) -> Record:
    """The command a RiskDecision carries: a union, decoded as (schema full name, record)."""
    command = decision["command"]
    record: Record = command[1] if isinstance(command, tuple) else command
    return record


def _check_decisions(report: VerifyReport, command_ids: list[str], decisions: Iterable[Record]) -> set[str]:
    """Exactly one decision per upstream command (risk's own kill-switch cancels have no upstream command)."""
    approved: set[str] = set()
    per_command: Counter[str] = Counter()
    for decision in decisions:
        per_command[decided_command(decision)["meta"]["event_id"]] += 1
        if decision["approved"]:
            approved.add(decision["meta"]["event_id"])
    for command_id in command_ids:
        if per_command[command_id] != 1:
            report.undecided += 1
            report._example(f"command {command_id} has {per_command[command_id]} risk decisions", command_id)
    return approved


def _check_venue_orders(report: VerifyReport, venue_orders: Iterable[Record], approved: set[str]) -> None:
    for order in venue_orders:
        if order["action"] in {"NEW", "AMEND"} and order["risk_decision_id"] not in approved:
            report.unapproved += 1
            event_id = order.get("meta", {}).get("event_id")
            report._example(f"unapproved: venue order {order['order_id']} ({order['action']})", event_id)


def _check_fills(report: VerifyReport, events: list[Record], executions: Iterable[Record]) -> None:
    seen: set[tuple[str, str]] = set()
    for event in events:
        if event["last_quantity"] > 0 and event["event_type"] in {"PARTIALLY_FILLED", "FILLED"}:
            report.fills += 1
            fill = (event["order_id"], event["fill_id"])
            if fill in seen:
                report.duplicate_fills += 1
                event_id = event.get("meta", {}).get("event_id")
                report._example(f"fill counted twice: order {fill[0]} fill {fill[1]}", event_id)
            seen.add(fill)
    report.venue_fills = len({(e["order_id"], e["fill_id"]) for e in executions if e["exec_type"] == "FILL"})


def _check_positions(report: VerifyReport, events: list[Record], positions: Iterable[Record]) -> None:
    expected: Counter[tuple[str, str]] = Counter()
    for event in events:
        if event["last_quantity"] > 0 and event["event_type"] in {"PARTIALLY_FILLED", "FILLED"}:
            sign = 1 if event["side"] == "BUY" else -1
            expected[(event["account"], event["symbol"])] += sign * event["last_quantity"]
    latest: dict[tuple[str, str], int] = {}
    latest_id: dict[tuple[str, str], str | None] = {}
    for position in positions:
        latest[(position["account"], position["symbol"])] = position["quantity"]
        latest_id[(position["account"], position["symbol"])] = position.get("meta", {}).get("event_id")
    for key in set(expected) | set(latest):
        if expected.get(key, 0) != latest.get(key, 0):
            report.position_mismatches += 1
            text = f"position {key}: fills sum to {expected.get(key, 0)}, position says {latest.get(key)}"
            report._example(text, latest_id.get(key))


def _count_orders(report: VerifyReport, events: list[Record]) -> None:
    status: dict[str, str] = {}
    for event in events:
        if event["event_type"] != "DUPLICATE_REJECTED":
            status[event["order_id"]] = event["status"]
    report.orders = len(status)
    report.orders_terminal = sum(1 for s in status.values() if s in TERMINAL_STATUSES)
    report.orders_working = report.orders - report.orders_terminal
