"""The order path end to end through the real broker with the workers running, on each engine."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import pytest
from running_path import RunningPath, wait_for

from processors.runtime.pipeline import STAGES
from schemas.names import KILL_SWITCH
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE
from topics.catalogue import ORDERS_EVENTS, PORTFOLIO_POSITIONS, RISK_DECISIONS

pytestmark = pytest.mark.integration

PRICE = 60_000 * PRICE_SCALE
LOT = QUANTITY_SCALE // 100
STARTUP_S = 120  # the first test on an engine waits for its workers to join their groups


def events_of(path: RunningPath, order_id: str) -> list[dict]:  # type: ignore[type-arg]
    return path.records(ORDERS_EVENTS, lambda r: r["order_id"] == order_id)


def final_status(path: RunningPath, order_id: str, statuses: set[str]) -> str | None:
    events = events_of(path, order_id)
    return events[-1]["status"] if events and events[-1]["status"] in statuses else None


def test_two_crossing_orders_from_two_accounts_fill_each_other_and_both_positions_appear(
    path: RunningPath, account: str
) -> None:
    seller, buyer = f"{account}-S", f"{account}-B"
    symbol = f"X{account[-6:]}"  # a symbol of this test's own: an empty book
    sell = path.new_order(seller, symbol, "SELL", 3 * LOT, PRICE)
    # Accounts land on different partitions: wait until the sell rests, so it is the maker.
    wait_for(lambda: final_status(path, sell["order_id"], {"NEW"}), STARTUP_S, "the sell to rest")
    buy = path.new_order(buyer, symbol, "BUY", 3 * LOT, PRICE + PRICE_SCALE)

    def positions() -> dict[str, dict]:  # type: ignore[type-arg]
        found = path.records(PORTFOLIO_POSITIONS, lambda r: r["symbol"] == symbol)
        return {p["account"]: p for p in found} if len(found) >= 2 else {}

    by_account = wait_for(positions, STARTUP_S, "both positions")
    assert by_account[buyer]["quantity"] == 3 * LOT
    assert by_account[seller]["quantity"] == -3 * LOT
    assert by_account[buyer]["avg_price"] == PRICE  # the resting (maker) order's price
    for order in (sell, buy):
        filled = functools.partial(final_status, path, order["order_id"], {"FILLED"})
        assert wait_for(filled, 30, "FILLED")


def test_kill_switch_stops_the_next_order_and_clearing_it_lets_orders_through(path: RunningPath, account: str) -> None:
    path.control(
        KILL_SWITCH,
        f"ACCOUNT:{account}",
        scope="ACCOUNT",
        target=account,
        active=True,
        cancel_open_orders=False,
        actor="test",
        detail="stop this account",
    )
    blocked = path.new_order(account, "BTCUSDT", "BUY", LOT, PRICE)
    status = wait_for(lambda: final_status(path, blocked["order_id"], {"REJECTED"}), STARTUP_S, "a denial")
    assert status == "REJECTED"
    [denied] = events_of(path, blocked["order_id"])
    assert (denied["event_type"], denied["reject_reason"]) == ("DENIED", "KILL_SWITCH")
    path.control(
        KILL_SWITCH,
        f"ACCOUNT:{account}",
        scope="ACCOUNT",
        target=account,
        active=False,
        cancel_open_orders=False,
        actor="test",
        detail="resume",
    )
    allowed = path.new_order(account, "BTCUSDT", "BUY", LOT, PRICE // 2 + PRICE // 4)
    wait_for(lambda: events_of(path, allowed["order_id"]), 30, "the next order's first event")
    decisions = path.records(RISK_DECISIONS, lambda r: r["account"] == account)
    assert [(d["approved"], d["reason"]) for d in decisions] == [(False, "KILL_SWITCH"), (True, None)]


# The 5,000 orders on the kafka engine. faust processes about 80 commands/s here (docs/BENCHMARKS.md),
# so the suite gives it 600; SQ_FAUST_FLOW_ORDERS=5000 runs the full size (docs/ARCHITECTURE.md has that run).
FLOW_ORDERS = {
    "single": 5_000,
    "split": 5_000,
    "cores": 5_000,
    "faust": int(os.environ.get("SQ_FAUST_FLOW_ORDERS", "600")),
}
KILL_AT = (0.3, 0.8, 1.4, 2.0)  # order events per order when each kill comes (about 4 order events per order)


def _logged_at_least(path: RunningPath, events: int) -> bool:
    return path.log_size(ORDERS_EVENTS) >= events


def _another_active(path: RunningPath, stage: str, slot: int) -> bool:
    return path.active_slot(stage) not in (None, slot)


def _kill_plan(path: RunningPath) -> list[str]:
    """Which stage to kill at each point: every stage in turn (the exclusive single stage every time)."""
    stages = path.stages
    return [stages[n % len(stages)] for n in range(len(KILL_AT))]


@pytest.mark.timeout(900)
def test_flow_with_each_stage_killed_and_restarted(path: RunningPath) -> None:
    env = {**os.environ, **path.settings.as_env()}
    command = [sys.executable, "-m", "sq.cli"]
    orders = FLOW_ORDERS[path.deployment]
    flow = subprocess.Popen(
        [*command, "flow", "--orders", str(orders), "--seed", "11", "--accounts", "6", "--json"],
        env=env,
        stdout=subprocess.PIPE,
    )
    # Kill a stage at each point of the run, mid-stream.
    for stage, share in zip(_kill_plan(path), KILL_AT, strict=True):
        events = int(orders * share)
        wait_for(functools.partial(_logged_at_least, path, events), 600, f"{events} order events")
        if STAGES[stage].exclusive:  # the active worker dies: the standby takes over, the killed one stands by
            slot = path.kill(stage, path.active_slot(stage))
            wait_for(functools.partial(_another_active, path, stage, slot), 60, "the standby to take over")
            path.start((stage,), worker=slot)
        else:
            slot = path.kill(stage)
            path.start((stage,), worker=slot)
    out, _ = flow.communicate(timeout=300)
    assert flow.returncode == 0
    sent = json.loads(out)["commands"]
    settle = "600" if path.engine == "kafka" else "120"  # faust may never settle: it can lose records
    verify = subprocess.run(
        [*command, "verify", "--json", "--settle", settle],
        env=env,
        capture_output=True,
        text=True,
        timeout=700,
        check=False,
    )
    report = json.loads(verify.stdout)
    assert report["commands"] >= sent
    assert report["unapproved"] == 0 and report["duplicate_fills"] == 0, report["examples"]
    if path.engine == "kafka":  # exactly once: every invariant holds across the SIGKILLs
        assert report["ok"], report["examples"]
    else:
        # faust at-least-once, measured: after SIGKILLs it repeats outcomes and can skip records (a fresh-clone
        # run: 5 of 814 commands without outcome, 7 with two). That is the evidence for the kafka default
        # (docs/ARCHITECTURE.md); here the run must finish, with the checks above.
        print(f"faust after SIGKILLs: lost {report['lost']}, duplicated {report['duplicated']} of {report['commands']}")
