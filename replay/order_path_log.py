"""Reading what the order path wrote back from Kafka, for `sq verify` and the tests.

Nothing in a topic can stop the reading: a record that does not decode, or is of a schema its topic does not
carry, is skipped and counted. On the commands topic, each such record (and each command the order path
dead-lettered, e.g. one keyed by another account) is matched with its dead letter by topic, partition and
offset: it is ``dead_lettered`` by reason, or ``vanished`` when no dead letter names it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator

from replay.audit_range import WHOLE_LOG, AuditRange, RangeError
from replay.verify import OrderPathLog, Record, VerifyReport, decided_command, verify
from schemas.codec import Codec, default_codec
from schemas.errors import SerializationError
from settings import Settings
from topics.admin import physical_name
from topics.catalogue import (
    DEAD_LETTERS,
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    PORTFOLIO_POSITIONS,
    RISK_DECISIONS,
    VENUE_EXECUTIONS,
    VENUE_ORDERS,
    spec_for,
)
from topics.client import ConsumedRecord, read_topic


def read_order_path_log(
    settings: Settings, codec: Codec | None = None, checked: AuditRange = WHOLE_LOG
) -> OrderPathLog:
    """The order path's records. ``checked``: only the commands and venue orders of that range are checked
    (`sq audit verify`, replay/audit_range.py); their outcomes, decisions, fills and positions are read whole,
    wherever they are. Raises RangeError for a range of offsets past the end of its partition."""
    codec = codec or default_codec()
    unreadable = [0]
    where: dict[str, str] = {}
    held: list[int] = []  # the offsets the range's partition holds

    def in_range(topic: str, consumed: ConsumedRecord) -> bool:
        if checked.topic == topic and consumed.partition == checked.partition:
            held.append(consumed.offset)
        return checked.holds(topic, consumed.partition, consumed.offset, consumed.timestamp_ms)

    def decoded(topic: str, ranged: bool = False) -> Iterator[tuple[ConsumedRecord, str, Record]]:
        schemas = set(spec_for(topic).value_schemas)
        for consumed in read_topic(settings, topic):
            if ranged and not in_range(topic, consumed):
                continue
            try:
                found = codec.decode(consumed.value) if consumed.value is not None else None
            except SerializationError:
                found = None
            if found is None or found.schema not in schemas:
                unreadable[0] += 1
                continue
            where[str(found.record["meta"]["event_id"])] = _position(consumed)
            yield consumed, found.schema, found.record

    def records(topic: str, ranged: bool = False) -> list[Record]:
        return [record for _, _, record in decoded(topic, ranged)]

    letters = _command_letters(physical_name(settings, ORDERS_COMMANDS), records(DEAD_LETTERS))
    commands: list[tuple[str, Record]] = []
    dead_lettered: Counter[str] = Counter()
    vanished: list[str] = []
    command_schemas = set(spec_for(ORDERS_COMMANDS).value_schemas)
    for consumed in read_topic(settings, ORDERS_COMMANDS):
        if not in_range(ORDERS_COMMANDS, consumed):
            continue
        reason = letters.get((consumed.partition, consumed.offset))
        if reason is not None:
            dead_lettered[reason] += 1
            continue
        try:
            found = codec.decode(consumed.value) if consumed.value is not None else None
        except SerializationError:
            found = None
        if found is None or found.schema not in command_schemas:
            vanished.append(_position(consumed))
            continue
        where[str(found.record["meta"]["event_id"])] = _position(consumed)
        commands.append((found.schema, found.record))
    decisions = records(RISK_DECISIONS)
    if checked.caused_by_commands:
        venue_orders = _caused_by(commands, decisions, records(VENUE_ORDERS))
    else:
        venue_orders = records(VENUE_ORDERS, ranged=True)
    _check_held(checked, held)
    log = OrderPathLog(
        commands=commands,
        decisions=decisions,
        order_events=records(ORDERS_EVENTS),
        venue_orders=venue_orders,
        executions=records(VENUE_EXECUTIONS),
        positions=records(PORTFOLIO_POSITIONS),
        dead_lettered=dict(dead_lettered),
        vanished=vanished,
        where=where,
    )
    log.unreadable = unreadable[0]  # counted while the lists above were read
    return log


def _command_letters(commands_topic: str, letters: list[Record]) -> dict[tuple[int, int], str]:
    """(partition, offset) of a commands-topic record -> the reason it was dead-lettered."""
    return {
        (letter["source_partition"], letter["source_offset"]): letter["reason"]
        for letter in letters
        if letter["source_topic"] == commands_topic and letter["source_offset"] is not None
    }


def _caused_by(commands: list[tuple[str, Record]], decisions: list[Record], venue_orders: list[Record]) -> list[Record]:
    """The venue orders the commands caused: their risk decision decided one of the commands."""
    ranged = {str(c["meta"]["event_id"]) for _, c in commands}
    caused = {str(d["meta"]["event_id"]) for d in decisions if decided_command(d)["meta"]["event_id"] in ranged}
    return [v for v in venue_orders if v["risk_decision_id"] in caused]


def _check_held(checked: AuditRange, held: list[int]) -> None:
    if checked.begin_offset is None:
        return
    where = f"{checked.topic}:{checked.partition}"
    if not held:
        raise RangeError(f"{where} holds no committed record; give a partition that does, or a time")
    if checked.begin_offset > max(held):
        raise RangeError(
            f"--from {where}:{checked.begin_offset} is past the end of the partition (it holds offsets "
            f"{min(held)} to {max(held)}); give an offset it holds"
        )


def _position(consumed: ConsumedRecord) -> str:
    return f"{consumed.topic} [{consumed.partition}] @{consumed.offset}"


QUIET_S = 10.0  # nothing in flight and a log this still: what is violated now stays violated


def verify_settled(
    settings: Settings, settle_s: float, progress: Callable[[str], None] = lambda _: None
) -> VerifyReport:
    """Verify; while an invariant fails, re-check for up to ``settle_s``, unless nothing is in flight any more."""
    deadline = time.monotonic() + settle_s
    last, changed_at = None, time.monotonic()
    while True:
        report = verify(read_order_path_log(settings))
        now = time.monotonic()
        if report.as_json() != last:
            last, changed_at = report.as_json(), now
        # what a working pipeline may still resolve (a malformed record is dead-lettered once it is reached)
        in_flight = report.lost or report.position_mismatches or report.vanished
        if report.ok or now >= deadline or (not in_flight and now - changed_at >= QUIET_S):
            return report
        progress(
            f"not settled yet: {report.lost} without outcome, {report.position_mismatches} positions behind, "
            f"{report.vanished} bad records not dead-lettered yet …"
        )
        time.sleep(1.0)
