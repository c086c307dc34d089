"""Execution algorithms through the running order path (the single topology's worker, the real broker) on the
shipped sample market: a TWAP and a POV parent fill completely, every child has a risk decision, and a kill
switch mid-run cancels the children still working and stops the algorithm; VWAP, IS, PEG and SNIPER parents
fill too (PEG and SNIPER on the order book stage's md.book.top)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from running_path import RunningPath, wait_for

from connectors.clock import run_ticker
from connectors.marketdata.sample import SAMPLE_DIR, SAMPLE_FILE
from connectors.marketdata.sink import KafkaSink
from connectors.marketdata.tape import TapePlayer
from connectors.marketdata.tape_io import merged_rows
from processors.core import order_id_for
from schemas.names import KILL_SWITCH, NEW_ORDER, TRADE
from schemas.scales import QUANTITY_SCALE
from settings import Settings
from topics.admin import create_topics, delete_prefixed_topics
from topics.catalogue import CATALOGUE, CLOCK_TICKS, ORDERS_CHILD_COMMANDS, ORDERS_EVENTS, RISK_DECISIONS
from topics.client import AvroProducer

pytestmark = pytest.mark.integration

SYMBOL = "BTCUSDT"
STARTUP_S = 90.0
SETTLE_S = 60.0


class Market:
    """The sample session, played a chunk at a time; what BTCUSDT traded so far."""

    def __init__(self, settings: Settings) -> None:
        self.rows = merged_rows([SAMPLE_DIR / SAMPLE_FILE])
        self.player = TapePlayer(SAMPLE_FILE)
        self.sink = KafkaSink(AvroProducer(settings))
        self.last_price = 0
        self.played = 0

    def play(self, count: int) -> int:
        """Publish the next ``count`` rows; the BTCUSDT volume they traded."""
        volume = 0
        for _ in range(count):
            row = next(self.rows)
            self.played += 1
            emit = self.player.play(row.values, row.number, 0)
            if emit.schema == TRADE and emit.record["symbol"] == SYMBOL:
                volume += emit.record["quantity"]
                self.last_price = emit.record["price"]
            self.sink.publish(emit)
        self.sink.flush()
        return volume


@pytest.fixture(scope="module")
def running(infra_settings: Settings) -> Iterator[tuple[RunningPath, Market]]:
    settings = infra_settings.with_topic_prefix(f"x{uuid.uuid4().hex[:10]}.")
    create_topics(settings, CATALOGUE)
    path = RunningPath(settings, "single")
    path.start((*path.stages, "orderbook"))  # the order book's md.book.top: PEG's and SNIPER's view
    stop = threading.Event()
    ticker = threading.Thread(target=run_ticker, args=(settings, 0.2, stop), daemon=True)
    ticker.start()
    market = Market(settings)
    market.play(2_000)  # books and a last trade (risk's reference price)
    probe = path.new_order("PROBE", SYMBOL, "BUY", QUANTITY_SCALE // 1_000, market.last_price // 2)
    wait_for(lambda: _latest(path, "PROBE").get(probe["order_id"]), STARTUP_S, "the worker to be up")
    try:
        yield path, market
    finally:
        stop.set()
        ticker.join(timeout=10)
        path.stop()
        delete_prefixed_topics(settings)


def _parent(path: RunningPath, account: str, quantity: int, execution: dict[str, Any], **terms: Any) -> str:
    instruction = {
        "start_time_us": None,
        "end_time_us": None,
        "participation_bps": None,
        "display_quantity": None,
        "peg_offset": None,
        "params": {},
        **execution,
    }
    client_order_id = f"algo-{uuid.uuid4().hex[:8]}"
    path.new_order(
        account,
        SYMBOL,
        "BUY",
        quantity,
        terms.pop("price", None),
        client_order_id=client_order_id,
        execution=instruction,
        time_in_force="GTC",
        **terms,
    )
    return order_id_for(account, client_order_id)


def _latest(path: RunningPath, account: str) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for record in path.records(ORDERS_EVENTS, lambda r: r["account"] == account):
        latest[record["order_id"]] = record
    return latest


def _status(path: RunningPath, account: str, order_id: str, status: str) -> dict[str, Any] | None:
    order = _latest(path, account).get(order_id)
    return order if order is not None and order["status"] == status else None


def _children(path: RunningPath, parent_id: str) -> list[dict[str, Any]]:
    return [
        record
        for record in path.records(ORDERS_CHILD_COMMANDS, lambda r: r.get("parent_order_id") == parent_id)
        if "client_order_id" in record
    ]


def test_a_twap_and_a_pov_parent_fill_completely_and_every_child_is_decided(
    running: tuple[RunningPath, Market],
) -> None:
    path, market = running
    account = f"ACC-{uuid.uuid4().hex[:8]}"
    twap = _parent(path, account, QUANTITY_SCALE // 50, {"algo": "TWAP", "params": {"duration_s": "4", "slices": "4"}})
    pov_quantity = QUANTITY_SCALE  # 1 BTC: about sixty trades of the sample at 20 %
    pov = _parent(path, account, pov_quantity, {"algo": "POV", "participation_bps": 2_000})
    wait_for(lambda: _status(path, account, pov, "NEW"), STARTUP_S, "the POV parent to be accepted")
    traded, deadline = 0, time.monotonic() + SETTLE_S
    while not _status(path, account, pov, "FILLED"):  # POV follows the volume traded from now on
        assert time.monotonic() < deadline, f"the POV parent did not fill within {SETTLE_S} s"
        if traded * 2_000 // 10_000 < 3 * pov_quantity:  # up to three times the volume the parent needs
            traded += market.play(300)
        time.sleep(0.5)

    twap_done = wait_for(lambda: _status(path, account, twap, "FILLED"), STARTUP_S, "the TWAP parent to fill")
    pov_done = wait_for(lambda: _status(path, account, pov, "FILLED"), SETTLE_S, "the POV parent to fill")
    assert twap_done["cum_quantity"] == QUANTITY_SCALE // 50 and pov_done["cum_quantity"] == pov_quantity
    twap_children, pov_children = _children(path, twap), _children(path, pov)
    # Worked over time, not sent at once (slices that fall due together on a busy machine make one child).
    assert 2 <= len(twap_children) <= 4 and sum(c["quantity"] for c in twap_children) == QUANTITY_SCALE // 50
    assert len(pov_children) > 1, "POV works in several children as volume trades"
    decisions = {
        r["order_id"]: r["approved"]
        for r in path.records(RISK_DECISIONS, lambda r: r["account"] == account)
        if r["command"][0] == NEW_ORDER
    }
    assert all(decisions.get(c["order_id"]) is True for c in twap_children + pov_children)
    latest = _latest(path, account)
    assert all(latest[c["order_id"]]["status"] == "FILLED" for c in twap_children + pov_children)


def test_a_vwap_an_is_a_peg_and_a_sniper_parent_fill_completely(running: tuple[RunningPath, Market]) -> None:
    path, market = running
    account = f"ACC-{uuid.uuid4().hex[:8]}"
    quantity = QUANTITY_SCALE // 100
    above = market.last_price * 1_002 // 1_000  # a buy limit a little above the market: liquidity shows within it
    horizon = {"duration_s": "3", "slices": "3"}
    parents = {
        "VWAP": _parent(path, account, quantity, {"algo": "VWAP", "params": horizon}),
        "IS": _parent(
            path,
            account,
            quantity,
            {"algo": "IMPLEMENTATION_SHORTFALL", "params": {**horizon, "volatility": "0.5", "urgency": "1e6"}},
        ),
        "PEG": _parent(
            path, account, quantity, {"algo": "PEG", "params": {"peg": "market"}}, order_type="LIMIT", price=above
        ),
        "SNIPER": _parent(path, account, quantity, {"algo": "SNIPER"}, order_type="LIMIT", price=above),
    }
    deadline = time.monotonic() + SETTLE_S
    while not all(_status(path, account, parent, "FILLED") for parent in parents.values()):
        assert time.monotonic() < deadline, f"not filled within {SETTLE_S} s: {_statuses(path, account, parents)}"
        market.play(100)  # the books move: PEG re-pegs, SNIPER sees liquidity within its limit
        time.sleep(0.5)
    latest = _latest(path, account)
    for algo, parent in parents.items():
        placed = _children(path, parent)
        assert placed, f"{algo} worked through children"
        assert sum(latest[c["order_id"]]["cum_quantity"] for c in placed) == quantity
    assert all(c["time_in_force"] == "IOC" for c in _children(path, parents["SNIPER"]))
    assert all(c["price"] <= above for c in _children(path, parents["PEG"])), "never beyond the cap"


def _statuses(path: RunningPath, account: str, parents: dict[str, str]) -> dict[str, str | None]:
    latest = _latest(path, account)
    return {algo: latest.get(parent, {}).get("status") for algo, parent in parents.items()}


def test_a_kill_switch_mid_run_cancels_the_remaining_children(running: tuple[RunningPath, Market]) -> None:
    path, market = running
    account = f"ACC-{uuid.uuid4().hex[:8]}"
    below = market.last_price * 95 // 100  # rests: the children work until cancelled
    execution = {"algo": "TWAP", "params": {"duration_s": "60", "slices": "60"}}
    parent = _parent(path, account, QUANTITY_SCALE // 10, execution, order_type="LIMIT", price=below)
    wait_for(lambda: len(_children(path, parent)) >= 3, STARTUP_S, "three slices to be placed")
    path.control(
        KILL_SWITCH,
        f"ACCOUNT:{account}",
        scope="ACCOUNT",
        target=account,
        active=True,
        cancel_open_orders=True,
        actor="test",
        detail="mid-run",
    )
    wait_for(lambda: _status(path, account, parent, "CANCELLED"), SETTLE_S, "the parent to be cancelled")
    placed = _children(path, parent)
    latest = _latest(path, account)
    assert all(latest[c["order_id"]]["status"] in {"CANCELLED", "REJECTED"} for c in placed)
    ticks_then = path.log_size(CLOCK_TICKS)
    market.play(200)  # time and market data go on (ten more ticks, two slices' worth): the algorithm has stopped
    wait_for(lambda: path.log_size(CLOCK_TICKS) >= ticks_then + 10, SETTLE_S, "ten more clock ticks")
    assert len(_children(path, parent)) == len(placed)
