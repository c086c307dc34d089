"""`sq backtest --data md.depth,md.trades`: market data read back from Kafka gives the results the tape gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.marketdata.tape import TapePlayer
from connectors.marketdata.tape_io import merged_rows
from settings import Settings
from tests.kit.backtest import SCRIPTED, write_scenario_tape
from topics.admin import create_topics
from topics.catalogue import CATALOGUE
from topics.client import AvroProducer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def sq_backtest(settings: Settings, data: str, out: Path) -> dict[str, object]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sq.cli",
            "backtest",
            "--data",
            data,
            "--strategy",
            SCRIPTED,
            "--out",
            str(out),
            "--json",
        ],
        cwd=ROOT,
        env={**os.environ, **settings.as_env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary: dict[str, object] = json.loads(done.stdout)
    return summary


def test_the_topics_give_the_same_fills_and_summary_as_the_tape(settings: Settings, tmp_path: Path) -> None:
    create_topics(settings, CATALOGUE)
    tape = write_scenario_tape(tmp_path)
    producer = AvroProducer(settings)
    player = TapePlayer(str(tape))
    for row in merged_rows([tape]):
        emit = player.play(row.values, row.number, int(row.values["time_us"]))
        producer.produce(emit.topic, emit.key, emit.schema, emit.record)
    producer.flush()

    from_topics = sq_backtest(settings, "md.depth,md.trades", tmp_path / "topics")
    from_tape = sq_backtest(settings, str(tape), tmp_path / "tape")
    assert from_topics["fills"] == 2
    ignore = {"out", "report"}
    assert {k: v for k, v in from_topics.items() if k not in ignore} == {
        k: v for k, v in from_tape.items() if k not in ignore
    }
    for table in ("fills", "orders", "positions", "equity"):
        assert (tmp_path / "topics" / f"{table}.parquet").read_bytes() == (
            tmp_path / "tape" / f"{table}.parquet"
        ).read_bytes()


def test_unreadable_topics_say_so(settings: Settings, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sq.cli",
            "backtest",
            "--data",
            "kafka",
            "--strategy",
            "momentum",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        env={**os.environ, **settings.as_env()},  # a fresh prefix: its topics do not exist
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0 and "market data topics" in done.stderr, done.stderr
