"""Bad records mixed into a seeded flow: every one dead-lettered with its reason, the flow's outcome unchanged.

The flow is one account's (all its commands in one partition, so the order they are applied in is the log's
and the outcome is deterministic); a thousand records of each bad kind go in between its commands, on its
partition and on others. The single topology's worker runs through all of it without a restart, every bad
record ends in ops.deadletters with the reason that fits it, `sq verify` counts them and finds every
invariant holding, and the order events, executions and positions are exactly those of the same flow run
in the memory engine without a single bad record (ingest times aside).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from typing import Any

import pytest

from connectors.order_flow import FlowConfig, OrderFlow
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.registry import stage_factories
from processors.runtime.supervisor import Supervisor
from replay.order_path_log import verify_settled
from schemas.codec import MARKER, default_codec
from schemas.examples import example_event
from schemas.names import NEW_ORDER, ORDER_EVENT
from settings import Settings
from tests.kit.flows import command_event
from tests.kit.running import send_limits
from topics.catalogue import DEAD_LETTERS, ORDERS_COMMANDS, ORDERS_EVENTS, PORTFOLIO_POSITIONS, VENUE_EXECUTIONS
from topics.client import AvroProducer, read_events

pytestmark = pytest.mark.integration

EACH = 1_000
# 900 KB records: 1,000 of them would write 900 MB per run; 40 show the same (refused before decoding).
OVERSIZED_COUNT = int(os.environ.get("SQ_OVERSIZED_RECORDS", "40"))
ACCOUNT = "ACC-001"


def _bad_records(rng: random.Random) -> list[tuple[str, str | None, bytes | None, str]]:
    """(kind, key, value, the reason its dead letter must give) for every bad record."""
    codec = default_codec()
    order = example_event(NEW_ORDER, account="acct-001")
    valid = codec.encode(NEW_ORDER, order)
    foreign = codec.encode(ORDER_EVENT, example_event(ORDER_EVENT, account=ACCOUNT))
    records: list[tuple[str, str | None, bytes | None, str]] = []
    for n in range(EACH):
        records += [
            ("garbage", ACCOUNT, rng.randbytes(rng.randint(1, 200)), "UNDECODABLE"),
            ("truncated", ACCOUNT, valid[: rng.randint(11, len(valid) - 1)], "UNDECODABLE"),
            ("unknown fingerprint", ACCOUNT, MARKER + rng.randbytes(8) + valid[10:], "UNKNOWN_SCHEMA"),
            ("order event on the commands topic", ACCOUNT, foreign, "UNEXPECTED_SCHEMA"),
            ("mis-keyed", f"POISON-{n % 7}", valid, "KEY_MISMATCH"),
            ("no key", None, valid, "KEY_MISMATCH"),
            ("tombstone", ACCOUNT, None, "INVALID_RECORD"),
        ]
    records += [("900 KB", ACCOUNT, b"\xc3\x01" + rng.randbytes(900 * 1024), "OVERSIZED")] * OVERSIZED_COUNT
    return records


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "meta": {**record["meta"], "ingest_time_us": 0}}


@pytest.mark.timeout(600)
def test_bad_records_are_dead_lettered_and_change_nothing(catalogue_topics: Settings) -> None:
    settings = catalogue_topics
    rng = random.Random(23)
    config = FlowConfig(orders=1_500, seed=17, accounts=1, run_id="poison")
    flow = OrderFlow(config)
    limits = flow.limits()
    commands = list(flow.commands())
    bad = _bad_records(rng)
    schedule: list[tuple[str, str | None, bytes | None, str]] = [
        ("command", command.key, default_codec().encode(command.schema, command.record), "") for command in commands
    ]
    for record in bad:  # each bad record at a random place in the flow
        schedule.insert(rng.randint(0, len(schedule)), record)

    supervisor = Supervisor(settings.as_env())
    supervisor.start("orderpath")
    try:
        send_limits(settings, limits, "orderpath")
        producer = AvroProducer(settings, None, **{"message.max.bytes": 2 * 1024 * 1024})
        for _, key, value, _ in schedule:
            producer.produce_raw(ORDERS_COMMANDS, key, value)
        producer.flush(120)
        report = verify_settled(settings, settle_s=300)
        assert supervisor.check() is None and not supervisor.restarts, "the worker ran through every bad record"
    finally:
        supervisor.stop()

    expected = Counter(reason for _, _, _, reason in bad)
    letters = [d.record for d in read_events(settings, DEAD_LETTERS)]
    assert Counter(letter["reason"] for letter in letters) == expected
    assert all(letter["stage"] == "orderpath" and letter["source_offset"] is not None for letter in letters)
    oversized = [letter for letter in letters if letter["reason"] == "OVERSIZED"]
    assert all(letter["value"] is None and "sha256" in letter["detail"] for letter in oversized)
    assert report.ok, report.as_json()
    assert report.dead_lettered == len(bad) and report.vanished == 0
    assert report.commands == len(commands)

    # The same flow, no bad record, in the memory engine: the same outputs, in the same order per key.
    reference = MemoryEngine(stage_factories("orderpath")).run(command_event(c) for c in (*limits, *commands))
    for topic in (ORDERS_EVENTS, VENUE_EXECUTIONS, PORTFOLIO_POSITIONS):
        live = _by_key([d.record for d in read_events(settings, topic)])
        assert live == _by_key(reference.records(topic)), topic


def _by_key(records: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each account and symbol's records in their order (a topic orders records per partition only)."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault((record["account"], record["symbol"]), []).append(_comparable(record))
    return grouped
