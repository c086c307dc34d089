"""`sq replay run --into-kafka NAMESPACE` then `sq replay diff --namespace NAMESPACE`: a short live `single`
session through the real broker, re-run by a real kafka worker on a namespace of new topics, compares with 0
differences and equal state hashes (replay/kafka_namespace.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from running_path import RunningPath, wait_for

from replay.kafka_namespace import NamespaceError, namespace_settings, replay_into_kafka
from schemas.names import KILL_SWITCH
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE
from settings import Settings
from topics.admin import create_topics, physical_name
from topics.catalogue import CATALOGUE, DEAD_LETTERS, ORDERS_COMMANDS, ORDERS_EVENTS
from topics.client import AvroProducer, read_events

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PRICE = 60_000 * PRICE_SCALE
LOT = QUANTITY_SCALE // 100


@pytest.fixture
def session(settings: Settings) -> Iterator[RunningPath]:
    create_topics(settings, CATALOGUE)
    running = RunningPath(settings, "single")
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _status(path: RunningPath, order_id: str) -> str | None:
    events = path.records(ORDERS_EVENTS, lambda r: r["order_id"] == order_id)
    return events[-1]["status"] if events else None


def _sq(settings: Settings, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sq.cli", *argv],
        cwd=ROOT,
        env={**os.environ, **settings.as_env()},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.timeout(420)
def test_a_live_session_replayed_into_a_namespace_of_new_topics_through_kafka_has_no_difference(
    session: RunningPath,
) -> None:
    tag = uuid.uuid4().hex[:6]
    seller, buyer, other = f"S-{tag}", f"B-{tag}", f"K-{tag}"
    symbol = f"X{tag}"
    sell = session.new_order(seller, symbol, "SELL", 3 * LOT, PRICE)
    wait_for(lambda: _status(session, sell["order_id"]) == "NEW", 120, "the sell to rest")
    session.amend(seller, sell["order_id"], 2 * LOT)
    buy = session.new_order(buyer, symbol, "BUY", LOT, PRICE)  # another account: who was maker matters
    resting = session.new_order(buyer, symbol, "BUY", LOT, PRICE - 100 * PRICE_SCALE)
    session.cancel(buyer, resting["order_id"], symbol)
    denied = session.new_order(buyer, symbol, "BUY", 0, PRICE)  # an invalid quantity: rejected with its reason
    bad = AvroProducer(session.settings)
    bad.produce_raw(ORDERS_COMMANDS, buyer, b"not an avro record")  # dead-lettered, at its position
    bad.flush()
    killed = session.new_order(other, symbol, "BUY", LOT, PRICE - 200 * PRICE_SCALE)
    wait_for(lambda: _status(session, killed["order_id"]) == "NEW", 30, "the order to rest")
    session.control(
        KILL_SWITCH,
        f"ACCOUNT:{other}",
        scope="ACCOUNT",
        target=other,
        active=True,
        cancel_open_orders=True,
        actor="test",
        detail="stop this account",
    )
    after = session.new_order(other, symbol, "BUY", LOT, PRICE)
    wait_for(lambda: _status(session, buy["order_id"]) == "FILLED", 30, "the buy to fill")
    wait_for(lambda: _status(session, resting["order_id"]) == "CANCELLED", 30, "the cancel")
    wait_for(lambda: _status(session, denied["order_id"]) == "REJECTED", 30, "the reject")
    wait_for(lambda: _status(session, killed["order_id"]) == "CANCELLED", 30, "the kill switch's cancel")
    wait_for(lambda: _status(session, after["order_id"]) == "REJECTED", 30, "the kill switch's denial")
    wait_for(lambda: session.records(DEAD_LETTERS), 30, "the bad record's dead letter")

    run = _sq(session.settings, "replay", "run", "--into-kafka", "r1", "--json")
    assert run.returncode == 0, run.stderr
    replayed = json.loads(run.stdout)["orderpath"]
    assert replayed["topic_prefix"] == f"{session.settings.topic_prefix}r1."
    assert replayed["copied"] == 10 and replayed["outputs"] > 20  # 8 commands, the bad record, the kill switch
    assert replayed["state_hashes"] == replayed["live_state_hashes"] and replayed["state_compared"]

    diff_run = _sq(session.settings, "replay", "diff", "--namespace", "r1", "--json")
    diff = json.loads(diff_run.stdout)
    assert diff["differences"] == 0 and diff["first_divergence"] is None, json.dumps(diff["first_divergence"])
    assert diff_run.returncode == 0 and diff["ok"] and diff["compared"] == replayed["outputs"]
    # The bad record was dead-lettered in the namespace too, at its position there (compared at the live one).
    namespace = namespace_settings(session.settings, "r1")
    letters = [e.record for e in read_events(namespace, DEAD_LETTERS)]
    assert [letter["source_topic"] for letter in letters] == [physical_name(namespace, ORDERS_COMMANDS)]

    with pytest.raises(NamespaceError, match=r"namespace r1 is in use .* give a new name"):
        replay_into_kafka(session.settings, "r1", "single")
    with pytest.raises(NamespaceError, match="replay the split topology in the memory engine"):
        replay_into_kafka(session.settings, "r2", "split")
    missing = _sq(session.settings, "replay", "diff", "--namespace", "r9")
    assert missing.returncode != 0 and "run `sq replay run --into-kafka r9` first" in missing.stderr
