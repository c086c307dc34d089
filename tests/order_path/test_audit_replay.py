"""`sq audit order` and `sq replay diff` on a live session through the real broker and database.

One single-topology path of its own, with a standby (the module fixture ``path`` runs every deployment; the
audit reads the log, which every deployment writes alike, so one is enough here). The replay test comes last:
it replays the whole session, the audit tests' orders included.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from running_path import RunningPath, wait_for

from connectors.audit.index import catch_up
from connectors.audit.read import UnknownOrder, audit_order
from connectors.postgres.databases import scratch_database
from processors.runtime.pipeline import STAGES
from schemas.codec import default_codec
from schemas.names import KILL_SWITCH
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE
from settings import Settings
from topics.admin import create_topics, delete_prefixed_topics
from topics.catalogue import CATALOGUE, ORDERS_COMMANDS, ORDERS_EVENTS
from topics.client import read_topic

pytestmark = pytest.mark.integration

PRICE = 60_000 * PRICE_SCALE
LOT = QUANTITY_SCALE // 100
STARTUP_S = 120


@pytest.fixture(scope="module")
def single(infra_settings: Settings) -> Iterator[RunningPath]:
    with scratch_database(infra_settings.database_url, "sqaudit", migrated=True) as database:
        settings = infra_settings.with_topic_prefix(f"a{uuid.uuid4().hex[:10]}.").with_database_url(database)
        create_topics(settings, CATALOGUE)
        running = RunningPath(settings, "single")
        running.start()
        running.start(worker=1)  # a standby: it takes over when the active worker is killed
        try:
            yield running
        finally:
            running.stop()
            delete_prefixed_topics(settings)


def _status(path: RunningPath, order_id: str) -> str | None:
    events = path.records(ORDERS_EVENTS, lambda r: r["order_id"] == order_id)
    return events[-1]["status"] if events else None


def _status_in(path: RunningPath, order_id: str, statuses: set[str]) -> bool:
    return _status(path, order_id) in statuses


def _kinds(lines: list[dict[str, Any]]) -> list[str]:
    return [f"{line['kind']}:{_what(line['record'])}" for line in lines]


def _what(record: dict[str, Any]) -> str:
    for field in ("event_type", "exec_type", "action", "command_type"):
        if field in record:
            return str(record[field])
    return "record"


@pytest.mark.timeout(300)
def test_a_filled_order_tells_its_whole_story_in_causal_order_with_each_record_where_the_log_has_it(
    single: RunningPath,
) -> None:
    account = f"ACC-{uuid.uuid4().hex[:8]}"
    seller, buyer = f"{account}-S", f"{account}-B"
    symbol = f"X{account[-6:]}"
    sell = single.new_order(seller, symbol, "SELL", 3 * LOT, PRICE)
    wait_for(lambda: _status(single, sell["order_id"]) == "NEW", STARTUP_S, "the sell to rest")
    single.amend(seller, sell["order_id"], 2 * LOT)
    wait_for(lambda: _status(single, sell["order_id"]) == "NEW" and _replaced(single, sell["order_id"]), 30, "amend")
    buy = single.new_order(buyer, symbol, "BUY", 2 * LOT, PRICE)
    wait_for(lambda: _status(single, sell["order_id"]) == "FILLED", 30, "the sell to fill")
    wait_for(lambda: _status(single, buy["order_id"]) == "FILLED", 30, "the buy to fill")

    audit = audit_order(single.settings, sell["order_id"]).as_json()
    assert audit["order_id"] == sell["order_id"] and audit["account"] == seller
    kinds = _kinds(audit["lines"])
    assert kinds[:3] == ["command:record", "risk_decision:NEW", "order_event:PENDING_NEW"]
    for expected in (
        "venue_order:NEW",
        "execution:ACK",
        "order_event:ACCEPTED",
        "command:record",  # the amend
        "risk_decision:AMEND",
        "order_event:PENDING_REPLACE",
        "venue_order:AMEND",
        "execution:AMENDED",
        "order_event:REPLACED",
        "execution:FILL",
        "order_event:FILLED",
        "position:record",
    ):
        assert expected in kinds, (expected, kinds)
    assert kinds.index("order_event:REPLACED") < kinds.index("order_event:FILLED") < kinds.index("position:record")
    decision = audit["lines"][1]
    assert decision["record"]["checks"] and all("observed" in c and "limit" in c for c in decision["record"]["checks"])
    assert "ORDER_QUANTITY ok" in decision["summary"]
    # Every order event line names the place the log holds that event at.
    in_log = {
        default_codec().decode(r.value).record["meta"]["event_id"]: (r.topic, r.partition, r.offset)
        for r in read_topic(single.settings, ORDERS_EVENTS)
        if r.value is not None
    }
    events = [line for line in audit["lines"] if line["kind"] == "order_event"]
    assert len(events) == len(single.records(ORDERS_EVENTS, lambda r: r["order_id"] == sell["order_id"]))
    for line in events:
        assert in_log[line["record"]["meta"]["event_id"]] == (line["topic"], line["partition"], line["offset"])
    commands = [line for line in audit["lines"] if line["kind"] == "command"]
    assert [c["record"]["meta"]["event_id"] for c in commands] == [sell["meta"]["event_id"], _amend_id(single, sell)]


def _replaced(path: RunningPath, order_id: str) -> bool:
    return any(e["event_type"] == "REPLACED" for e in path.records(ORDERS_EVENTS, lambda r: r["order_id"] == order_id))


def _amend_id(path: RunningPath, sell: dict[str, Any]) -> str:
    replaced = path.records(
        ORDERS_EVENTS, lambda r: r["event_type"] == "REPLACED" and r["order_id"] == sell["order_id"]
    )
    return str(replaced[0]["command_id"])


@pytest.mark.timeout(300)
def test_a_parent_shows_its_children_and_the_cli_answers_json_and_a_precise_error(single: RunningPath) -> None:
    account = f"ACC-{uuid.uuid4().hex[:8]}"
    symbol = f"X{account[-6:]}"
    parent = single.new_order(account, symbol, "BUY", 2 * LOT, PRICE)
    child = single.new_order(account, symbol, "BUY", LOT, PRICE, parent_order_id=parent["order_id"])
    denied = single.new_order(account, symbol, "BUY", 0, PRICE)  # invalid quantity: a reject with its reason
    for order in (parent, child, denied):
        outcome = functools.partial(_status_in, single, order["order_id"], {"NEW", "REJECTED"})
        wait_for(outcome, STARTUP_S, "an outcome")
    single.cancel(account, child["order_id"], symbol)
    wait_for(lambda: _status(single, child["order_id"]) == "CANCELLED", 30, "the child's cancel")

    env = {**os.environ, **single.settings.as_env()}
    run = subprocess.run(
        [sys.executable, "-m", "sq.cli", "audit", "order", parent["order_id"], "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    audit = json.loads(run.stdout)
    assert [c["order_id"] for c in audit["children"]] == [child["order_id"]]
    child_kinds = _kinds(audit["children"][0]["lines"])
    assert "order_event:CANCELLED" in child_kinds and child_kinds[0] == "command:record"
    assert all(line["record"]["order_id"] == parent["order_id"] for line in audit["lines"])

    rejected = audit_order(single.settings, denied["order_id"], refresh=False)
    assert any(line["record"].get("reject_reason") for line in rejected.lines)

    unknown = subprocess.run(
        [sys.executable, "-m", "sq.cli", "audit", "order", "no-such-order"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert unknown.returncode != 0 and "no record of the log names order no-such-order" in unknown.stderr
    with pytest.raises(UnknownOrder):
        audit_order(single.settings, "no-such-order", refresh=False)
    assert catch_up(single.settings, single.settings.database_url).records == 0  # the CLI left it at the end


def _logged_at_least(path: RunningPath, events: int) -> bool:
    return path.log_size(ORDERS_EVENTS) >= events


@pytest.mark.timeout(600)
def test_a_session_with_fills_cancels_amends_rejects_a_kill_switch_and_a_killed_worker_replays_with_no_difference(
    single: RunningPath,
) -> None:
    env = {**os.environ, **single.settings.as_env()}
    cli = [sys.executable, "-m", "sq.cli"]
    # Without limits updates: one that lands in the same batch as a command of its account causes no output, so
    # the log cannot tell which of the two the live stage applied first (docs/AUDIT.md, "what the log cannot tell").
    flow = subprocess.Popen(
        [*cli, "flow", "--orders", "400", "--seed", "5", "--accounts", "4", "--rate", "80", "--no-limits", "--json"],
        env=env,
        stdout=subprocess.PIPE,
    )
    wait_for(functools.partial(_logged_at_least, single, 300), 120, "the flow under way")
    slot = single.active_slot("orderpath")
    single.kill("orderpath", slot)  # SIGKILL mid-flow: the standby takes over, a transaction may be left open
    account = f"ACC-{uuid.uuid4().hex[:8]}"
    symbol = f"X{account[-6:]}"  # a book of its own
    resting = single.new_order(account, symbol, "BUY", LOT, PRICE)
    wait_for(lambda: _status(single, resting["order_id"]) == "NEW", 90, "the order to rest (after the takeover)")
    single.control(
        KILL_SWITCH,
        f"ACCOUNT:{account}",
        scope="ACCOUNT",
        target=account,
        active=True,
        cancel_open_orders=True,
        actor="test",
        detail="stop this account",
    )
    denied = single.new_order(account, symbol, "BUY", LOT, PRICE)
    assert flow.wait(300) == 0
    single.start(worker=slot if slot is not None else 0)
    wait_for(lambda: _status(single, resting["order_id"]) == "CANCELLED", 60, "the kill switch's cancel")
    wait_for(lambda: _status(single, denied["order_id"]) == "REJECTED", 60, "the denial")
    verified = subprocess.run(
        [*cli, "verify", "--settle", "60", "--json"], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    report = json.loads(verified.stdout)
    assert report["ok"], report
    outcomes = report["outcomes_by_type"]
    assert outcomes.get("CANCELLED") and outcomes.get("REPLACED") and outcomes.get("DENIED"), outcomes

    hour_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    in_range = subprocess.run(
        [*cli, "audit", "verify", "--from", hour_ago, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    windowed = json.loads(in_range.stdout)
    assert windowed["ok"] and windowed["commands"] == report["commands"] and windowed["violations"] == []
    before = subprocess.run(
        [*cli, "audit", "verify", "--to", hour_ago, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert json.loads(before.stdout)["commands"] == 0

    run = subprocess.run(
        [*cli, "replay", "diff", "--json"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    diff = json.loads(run.stdout)
    assert diff["differences"] == 0 and diff["first_divergence"] is None, json.dumps(diff["first_divergence"])
    assert run.returncode == 0 and diff["ok"], diff["stages"]
    stage = diff["stages"]["orderpath"]
    assert diff["compared"] > 1000 and stage["forced_orderings"] == 0
    assert set(stage["state_hashes"]) == set(STAGES["orderpath"].cores)  # every core of the stage, the router too
    assert stage["state_hashes"] == stage["live_state_hashes"]


def _replay_diff(env: dict[str, str], *window: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sq.cli", "replay", "diff", *window, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}Z"


@pytest.mark.timeout(600)
def test_a_window_of_the_session_replays_with_no_difference_and_a_window_past_the_end_or_inverted_is_refused(
    single: RunningPath,
) -> None:
    """After the session above: a window from mid-log (a time) to an offset, and one to the end of the log."""
    env = {**os.environ, **single.settings.as_env()}
    account = f"ACC-{uuid.uuid4().hex[:8]}"
    seller, buyer = f"{account}-S", f"{account}-B"
    symbol = f"X{account[-6:]}"
    sell = single.new_order(seller, symbol, "SELL", LOT, PRICE)
    wait_for(lambda: _status(single, sell["order_id"]) == "NEW", STARTUP_S, "the sell to rest")
    mark = time.time()  # the window starts after the sell rested: its fill is the replay's state before --from
    buy = single.new_order(buyer, symbol, "BUY", LOT, PRICE)
    wait_for(lambda: _status(single, sell["order_id"]) == "FILLED", 30, "the sell to fill")
    later = single.new_order(buyer, symbol, "BUY", LOT, PRICE)
    wait_for(lambda: _status(single, later["order_id"]) == "NEW", 30, "the later buy to rest")
    command_at = {
        default_codec().decode(r.value).record["meta"]["event_id"]: f"orders.commands:{r.partition}:{r.offset}"
        for r in read_topic(single.settings, ORDERS_COMMANDS)
        if r.value is not None
    }

    to_end = _replay_diff(env, "--from", _iso(mark))
    diff = json.loads(to_end.stdout)
    assert diff["differences"] == 0 and diff["first_divergence"] is None, json.dumps(diff["first_divergence"])
    assert to_end.returncode == 0 and diff["ok"] and diff["window"]["replayed_from"] == "BEGIN"
    stage = diff["stages"]["orderpath"]
    assert 2 <= stage["window_inputs"] < stage["inputs"] == stage["replayed_inputs"]  # the buys, and mid-log
    assert stage["state_compared"] and stage["state_hashes"] == stage["live_state_hashes"]
    assert diff["compared"] >= 6  # at least the buys' decisions, order events and executions

    # From the buy's command up to the later one (exclusive): the fill, compared; the state is not (it is later).
    bounded = _replay_diff(
        env, "--from", command_at[buy["meta"]["event_id"]], "--to", command_at[later["meta"]["event_id"]]
    )
    window = json.loads(bounded.stdout)
    assert bounded.returncode == 0 and window["ok"] and window["differences"] == 0, window["first_divergence"]
    stage = window["stages"]["orderpath"]
    assert 1 <= stage["window_inputs"] < stage["inputs"] and not stage["state_compared"]
    assert 3 <= window["compared"] < diff["compared"]

    past = _replay_diff(env, "--from", _iso(time.time() + 3600))
    assert past.returncode != 0 and "is past the end of stage orderpath's inputs" in past.stderr, past.stderr
    assert "give an earlier --from" in past.stderr
    inverted = _replay_diff(env, "--from", _iso(mark), "--to", _iso(mark - 60))
    assert inverted.returncode != 0 and "the window is inverted or empty" in inverted.stderr, inverted.stderr
