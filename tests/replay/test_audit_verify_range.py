"""`sq audit verify --from --to` over an offset range (replay/audit_range.py): through the real broker, on a
log of commands no order path answered, so every command checked is a violation listed with its offset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from replay.audit_range import RangeError, parse_range
from schemas.names import NEW_ORDER, VENUE_ORDER
from settings import Settings
from tests.kit.events import SYMBOL, P, Q, meta, new_order_record, next_id
from topics.admin import create_topics
from topics.catalogue import CATALOGUE, ORDERS_COMMANDS, VENUE_ORDERS, spec_for
from topics.client import AvroProducer
from topics.partitioning import partition_for

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "RANGE-1"


def _audit_verify(settings: Settings, *bounds: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sq.cli", "audit", "verify", *bounds, "--json"],
        cwd=ROOT,
        env={**os.environ, **settings.as_env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_an_offset_range_checks_that_partitions_commands_and_lists_each_violation_at_its_offset(
    settings: Settings,
) -> None:
    create_topics(settings, CATALOGUE)
    producer = AvroProducer(settings)
    orders: list[dict[str, Any]] = [new_order_record(next_id("ord"), next_id("cl"), account=ACCOUNT) for _ in range(4)]
    for order in orders:
        producer.produce(ORDERS_COMMANDS, ACCOUNT, NEW_ORDER, order)
    producer.flush()
    partition = partition_for(ACCOUNT, spec_for(ORDERS_COMMANDS).partitions)

    run = _audit_verify(settings, "--from", f"orders.commands:{partition}:1", "--to", f"orders.commands:{partition}:3")
    report = json.loads(run.stdout)
    assert run.returncode == 1 and not report["ok"]  # nothing answered these commands: lost
    assert report["commands"] == 2 and report["lost"] == 2 and report["undecided"] == 2
    physical = f"{settings.topic_prefix}{ORDERS_COMMANDS}"
    lost = [v for v in report["violations"] if v["violation"].startswith("lost")]
    assert [v["where"] for v in lost] == [f"{physical} [{partition}] @{offset}" for offset in (1, 2)]
    assert [v["event_id"] for v in lost] == [o["meta"]["event_id"] for o in orders[1:3]]
    assert report["range"]["partition"] == partition and report["range"]["from_offset"] == 1

    to_end = json.loads(_audit_verify(settings, "--from", f"orders.commands:{partition}:2").stdout)
    assert to_end["commands"] == 2 and to_end["range"]["to_offset"] is None
    other = (partition + 1) % spec_for(ORDERS_COMMANDS).partitions
    assert json.loads(_audit_verify(settings, "--to", f"orders.commands:{other}:5").stdout)["commands"] == 0

    past = _audit_verify(settings, "--from", f"orders.commands:{partition}:9")
    assert past.returncode != 0 and "is past the end of the partition (it holds offsets 0 to 3)" in past.stderr


def _venue_order(order_id: str) -> dict[str, Any]:
    """A NEW venue order naming a risk decision the log does not hold: unapproved."""
    return {
        "meta": meta(producer="oms"),
        "venue": "sim",
        "symbol": SYMBOL,
        "account": ACCOUNT,
        "order_id": order_id,
        "parent_order_id": None,
        "action": "NEW",
        "side": "BUY",
        "order_type": "LIMIT",
        "time_in_force": "GTC",
        "quantity": Q,
        "price": 100 * P,
        "stop_price": None,
        "post_only": False,
        "expire_time_us": None,
        "risk_decision_id": next_id("rd"),
    }


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_a_range_of_venue_order_offsets_checks_their_approvals_and_no_command(settings: Settings) -> None:
    create_topics(settings, CATALOGUE)
    producer = AvroProducer(settings)
    orders = [_venue_order(next_id("ord")) for _ in range(3)]
    for order in orders:
        producer.produce(VENUE_ORDERS, SYMBOL, VENUE_ORDER, order)
    producer.flush()
    partition = partition_for(SYMBOL, spec_for(VENUE_ORDERS).partitions)

    run = _audit_verify(settings, "--from", f"venue.orders:{partition}:1", "--to", f"venue.orders:{partition}:2")
    report = json.loads(run.stdout)
    assert run.returncode == 1 and report["commands"] == 0 and report["unapproved"] == 1
    physical = f"{settings.topic_prefix}{VENUE_ORDERS}"
    assert [(v["where"], v["event_id"]) for v in report["violations"]] == [
        (f"{physical} [{partition}] @1", orders[1]["meta"]["event_id"])
    ]


@pytest.mark.parametrize(
    ("begin", "end", "message"),
    [
        ("orders.commands:0:5", "orders.commands:1:9", "name different partitions: offsets are per partition"),
        ("orders.commands:0:5", "orders.commands:0:5", "the range is inverted or empty"),
        ("orders.events:0:1", "END", "an offset range is one of orders.commands, venue.orders"),
        ("orders.commands:99:1", "END", "orders.commands has partitions 0 to"),
        ("2026-12-04T12:00:00Z", "2026-12-04T11:00:00Z", "the range is inverted or empty"),
        ("12", "END", "an offset names its topic and partition"),
    ],
)
def test_a_bad_range_is_refused_with_what_to_give(begin: str, end: str, message: str) -> None:
    with pytest.raises(RangeError, match=message):
        parse_range(begin, end)


def test_an_offset_bound_narrows_to_its_partition_and_a_time_on_the_other_side_narrows_further() -> None:
    checked = parse_range("orders.commands:2:10", "2026-12-04T12:00:00Z")
    noon = 1_796_385_600_000
    assert checked.holds(ORDERS_COMMANDS, 2, 10, noon - 1) and not checked.holds(ORDERS_COMMANDS, 2, 10, noon)
    assert not checked.holds(ORDERS_COMMANDS, 2, 9, 0) and not checked.holds(ORDERS_COMMANDS, 1, 10, 0)
    assert checked.caused_by_commands and not parse_range("venue.orders:0:1", "END").caused_by_commands
    assert parse_range("BEGIN", "END").holds(ORDERS_COMMANDS, 5, 0, 0)
