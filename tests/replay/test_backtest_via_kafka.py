"""`sq backtest --via-kafka` (replay/backtest/via_kafka.py): the same small backtest run in the memory engine and
through real workers on a fresh namespace of topics gives the same orders, fills, positions and equity curve at
zero latency; and what the workers cannot run is refused with what to change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from settings import Settings
from tests.kit.backtest import SCRIPTED, write_scenario_tape
from topics.admin import admin_client

ROOT = Path(__file__).resolve().parents[2]


def _backtest(settings: Settings, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sq.cli", "backtest", "--strategy", SCRIPTED, *argv],
        cwd=ROOT,
        env={**os.environ, **settings.as_env()},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_the_memory_engine_and_the_workers_through_kafka_make_the_same_fills(
    settings: Settings, tmp_path: Path
) -> None:
    tape = write_scenario_tape(tmp_path)
    memory = _backtest(settings, "--data", str(tape), "--out", str(tmp_path / "memory"), "--json")
    assert memory.returncode == 0, memory.stderr
    kafka = _backtest(
        settings,
        "--data",
        str(tape),
        "--out",
        str(tmp_path / "kafka"),
        "--via-kafka",
        "--apply-timeout",
        "60",
        "--json",
    )
    assert kafka.returncode == 0, kafka.stderr
    expected, found = json.loads(memory.stdout), json.loads(kafka.stdout)
    assert found["via_kafka"] and found["namespace"].startswith(f"{settings.topic_prefix}backtest-")
    assert found["fills"] == expected["fills"] == 2
    for key in ("orders", "fills", "fees", "total_return", "max_drawdown", "turnover", "market_events"):
        assert found[key] == expected[key], key
    for table in ("orders", "fills", "positions", "equity"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "kafka" / f"{table}.parquet"),
            pd.read_parquet(tmp_path / "memory" / f"{table}.parquet"),
        )
    topics = admin_client(settings).list_topics(timeout=30).topics
    assert not [name for name in topics if name.startswith(found["namespace"])]  # the namespace is gone


@pytest.mark.integration
def test_what_the_workers_do_not_run_is_refused_with_what_to_change(settings: Settings, tmp_path: Path) -> None:
    config = tmp_path / "latency.toml"
    config.write_text("[latency]\norder_us = 1000\n")
    latency = _backtest(settings, "--config", str(config), "--via-kafka")
    assert latency.returncode != 0 and "set latency.order_us to 0" in latency.stderr
    alone = _backtest(settings, "--apply-timeout", "5")
    assert alone.returncode != 0 and "--apply-timeout is for --via-kafka" in alone.stderr
