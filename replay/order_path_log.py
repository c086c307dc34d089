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

from replay.verify import OrderPathLog, Record, VerifyReport, verify
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

Window = tuple[int | None, int | None]  # [from, to) in broker time, ms; None: open


def in_window(window: Window, timestamp_ms: int) -> bool:
    begin, end = window
    return (begin is None or timestamp_ms >= begin) and (end is None or timestamp_ms < end)


def read_order_path_log(settings: Settings, codec: Codec | None = None, window: Window = (None, None)) -> OrderPathLog:
    """The order path's records. ``window``: only the commands and venue orders of that broker-time range are
    checked (`sq audit verify`); their outcomes, decisions, fills and positions are read whole, wherever they are."""
    codec = codec or default_codec()
    unreadable = [0]
    where: dict[str, str] = {}

    def decoded(topic: str, windowed: bool = False) -> Iterator[tuple[ConsumedRecord, str, Record]]:
        schemas = set(spec_for(topic).value_schemas)
        for consumed in read_topic(settings, topic):
            if windowed and not in_window(window, consumed.timestamp_ms):
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

    def records(topic: str, windowed: bool = False) -> list[Record]:
        return [record for _, _, record in decoded(topic, windowed)]

    commands_topic = physical_name(settings, ORDERS_COMMANDS)
    letters: dict[tuple[int, int], str] = {}
    for _, _, letter in decoded(DEAD_LETTERS):
        if letter["source_topic"] == commands_topic and letter["source_offset"] is not None:
            letters[letter["source_partition"], letter["source_offset"]] = letter["reason"]
    commands: list[tuple[str, Record]] = []
    dead_lettered: Counter[str] = Counter()
    vanished: list[str] = []
    command_schemas = set(spec_for(ORDERS_COMMANDS).value_schemas)
    for consumed in read_topic(settings, ORDERS_COMMANDS):
        if not in_window(window, consumed.timestamp_ms):
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
    log = OrderPathLog(
        commands=commands,
        decisions=records(RISK_DECISIONS),
        order_events=records(ORDERS_EVENTS),
        venue_orders=records(VENUE_ORDERS, windowed=True),
        executions=records(VENUE_EXECUTIONS),
        positions=records(PORTFOLIO_POSITIONS),
        dead_lettered=dict(dead_lettered),
        vanished=vanished,
        where=where,
    )
    log.unreadable = unreadable[0]  # counted while the lists above were read
    return log


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
