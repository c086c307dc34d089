"""Parity: the live pipeline (the `single` order path and the order book stage on the kafka engine, through the
real broker, and `sq strategy run`) and the backtest, fed the same recorded data and the same strategy at zero
latency, produce the same fills: the same orders, fill ids, quantities, prices, fees and liquidity.

Kafka orders nothing across topics, so the test plays the tape a row at a time and waits until the row's
consequence has played out (a book, the strategy's orders and their fills) before the next, as the backtest's
simulated clock does by construction. A market row reaches the order path before the command the strategy
derives from it, because the command is only produced after the row was on the broker and the engine takes
every broadcast record at hand before each batch of commands.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.marketdata.tape import TapePlayer
from connectors.marketdata.tape_io import merged_rows
from processors.runtime.supervisor import WorkerProcess, start_worker, stop_workers
from replay.backtest.data import data_paths, market_events
from replay.backtest.engine import BacktestConfig, run_backtest
from settings import Settings
from tests.kit.backtest import SCRIPTED, write_scenario_tape
from tests.kit.running import wait_for
from topics.admin import create_topics
from topics.catalogue import CATALOGUE, MD_BOOK_TOP, ORDERS_EVENTS
from topics.client import AvroProducer, read_events

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "PARITY-1"
FILL_FIELDS = ("order_id", "client_order_id", "side", "last_quantity", "last_price", "fee", "liquidity", "fill_id")


@pytest.fixture
def live(settings: Settings) -> Iterator[Settings]:
    create_topics(settings, CATALOGUE)
    workers: list[WorkerProcess] = [start_worker(stage, env=settings.as_env()) for stage in ("orderpath", "orderbook")]
    strategy = subprocess.Popen(
        [sys.executable, "-m", "sq.cli", "strategy", "run", SCRIPTED, "--account", ACCOUNT, "--from-beginning"],
        cwd=ROOT,
        env={**os.environ, **settings.as_env()},
        stdout=subprocess.DEVNULL,
    )
    try:
        yield settings
    finally:
        strategy.terminate()
        strategy.wait(20)
        stop_workers(workers)


def fills(settings: Settings) -> list[dict[str, Any]]:
    return [
        e.record
        for e in read_events(settings, ORDERS_EVENTS)
        if e.record["account"] == ACCOUNT and e.record["last_quantity"]
    ]


def statuses(settings: Settings) -> list[tuple[str, str]]:
    return [
        (e.record["side"], e.record["status"])
        for e in read_events(settings, ORDERS_EVENTS)
        if e.record["account"] == ACCOUNT
    ]


@pytest.mark.timeout(180)
def test_live_and_backtest_make_the_same_fills(live: Settings, tmp_path: Path) -> None:
    settings = live
    tape = write_scenario_tape(tmp_path)
    expected = run_backtest(BacktestConfig(SCRIPTED, account=ACCOUNT), market_events(data_paths(str(tape))))
    expected_fills = [{f: e[f] for f in FILL_FIELDS} for e in expected.order_events if e["last_quantity"]]
    assert len(expected_fills) == 2

    producer = AvroProducer(settings)
    player = TapePlayer(str(tape))
    # What each row's reaction has played out as, before the next row goes.
    settled = [
        lambda: read_events(settings, MD_BOOK_TOP),
        lambda: ("BUY", "FILLED") in statuses(settings) and ("SELL", "NEW") in statuses(settings),
        lambda: ("SELL", "FILLED") in statuses(settings),
        lambda: True,
    ]
    for row, done in zip(merged_rows([tape]), settled, strict=True):
        emit = player.play(row.values, row.number, int(row.values["time_us"]))
        producer.produce(emit.topic, emit.key, emit.schema, emit.record)
        producer.flush()
        wait_for(done, 60, f"the reaction to row {row.number}")

    live_fills = [{f: e[f] for f in FILL_FIELDS} for e in fills(settings)]
    assert live_fills == expected_fills
