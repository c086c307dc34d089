"""Recorded files play in event-time order, at N times recorded speed or as fast as possible; bad rows are
dead-lettered and the feed goes on; `sq feed file` puts CSV and Parquet tapes on the real broker."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.marketdata import sample
from connectors.marketdata.file_feed import play_files
from connectors.marketdata.messages import TradePrint
from connectors.marketdata.sink import KafkaSink
from connectors.marketdata.synthetic import SessionConfig, generate_session
from connectors.marketdata.tape import row_from_message
from connectors.marketdata.tape_io import write_csv, write_parquet
from processors.core import Emit
from processors.runtime.metrics import ProcessMetrics, serving_probes
from schemas.names import DEPTH_SNAPSHOT, DEPTH_UPDATE
from settings import Settings
from sq.cli import main
from topics.catalogue import DEAD_LETTERS, MD_DEPTH, MD_TRADES
from topics.client import AvroProducer, read_events

BAD_ROW = {
    "kind": "trade",
    "time_us": "1767225600500000",
    "venue": "sim",
    "symbol": "BTCUSDT",
    "trade_id": "x1",
    "price": "60000.1.2",
    "quantity": "1",
}


class CollectingSink:
    def __init__(self) -> None:
        self.emits: list[Emit] = []
        self.flushed = False

    def publish(self, emit: Emit) -> None:
        self.emits.append(emit)

    def flush(self) -> None:
        self.flushed = True


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def write_tapes(directory: Path, seconds: int = 20) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A synthetic session split as users often have it: trades in CSV (with a bad row), depth in Parquet."""
    rows = [row_from_message("sim", m) for m in generate_session(SessionConfig(seconds=seconds))]
    trades = [r for r in rows if r["kind"] == "trade"]
    depth = [r for r in rows if r["kind"] != "trade"]
    directory.mkdir(parents=True, exist_ok=True)
    write_csv(directory / "trades.csv", [*trades[:3], BAD_ROW, *trades[3:]])
    write_parquet(directory / "depth.parquet", depth)
    return trades, depth


def test_files_merge_in_event_time_and_a_bad_row_is_dead_lettered(tmp_path: Path) -> None:
    trades, depth = write_tapes(tmp_path)
    sink = CollectingSink()
    stats = play_files([tmp_path], sink)  # type: ignore[arg-type]  # any object with publish/flush
    good = [e for e in sink.emits if e.topic != DEAD_LETTERS]
    times = [e.record["meta"]["event_time_us"] for e in good]
    assert times == sorted(times) and sink.flushed
    assert (stats.trades, stats.updates + stats.snapshots, stats.dead_letters) == (len(trades), len(depth), 1)
    (letter,) = [e.record for e in sink.emits if e.topic == DEAD_LETTERS]
    assert letter["reason"] == "MALFORMED_ROW" and letter["source_offset"] == 4
    assert letter["detail"] == "row 4: price: '60000.1.2' is not a decimal number"
    assert letter["source_topic"].endswith("trades.csv")


def test_speed_n_waits_for_recorded_time_divided_by_n(tmp_path: Path) -> None:
    base = 1_767_225_600_000_000
    rows = [
        row_from_message("sim", TradePrint("BTCUSDT", str(i), 1, 1, None, base + t))
        for i, t in enumerate((0, 1_000_000, 3_000_000))
    ]
    write_csv(tmp_path / "t.csv", rows)
    clock = FakeClock()
    play_files([tmp_path / "t.csv"], CollectingSink(), speed=2.0, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    assert clock.sleeps == [0.5, 1.0]
    fast = FakeClock()
    play_files([tmp_path / "t.csv"], CollectingSink(), clock=fast, sleep=fast.sleep)  # type: ignore[arg-type]
    assert fast.sleeps == []


def test_unknown_file_kinds_and_missing_paths_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"neither a \.csv nor a \.parquet"):
        play_files([tmp_path / "notes.txt"], CollectingSink())  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        play_files([tmp_path / "absent.csv"], CollectingSink())  # type: ignore[arg-type]


@pytest.mark.integration
def test_sq_feed_file_plays_csv_and_parquet_to_the_broker(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    trades, depth = write_tapes(tmp_path / "tapes", seconds=10)
    monkeypatch.setenv("SQ_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", settings.bootstrap_servers)
    assert (
        main(
            [
                "feed",
                "file",
                str(tmp_path / "tapes" / "trades.csv"),
                str(tmp_path / "tapes" / "depth.parquet"),
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["messages"] == len(trades) + len(depth) + 1 and summary["dead_letters"] == 1
    assert summary["trades"] == len(trades) and summary["updates"] + summary["snapshots"] == len(depth)

    published_trades = [e.record for e in read_events(settings, MD_TRADES)]
    assert sorted((t["trade_id"], t["price"]) for t in published_trades) == sorted(
        (r["trade_id"], _fixed(r["price"])) for r in trades
    )
    published_depth = read_events(settings, MD_DEPTH)
    assert len(published_depth) == len(depth)
    assert {e.schema for e in published_depth} == {DEPTH_SNAPSHOT, DEPTH_UPDATE}
    (letter,) = [e.record for e in read_events(settings, DEAD_LETTERS)]
    assert letter["reason"] == "MALFORMED_ROW" and "60000.1.2" in letter["detail"]


def _fixed(text: str) -> int:
    whole, _, fraction = text.partition(".")
    return int(whole) * 10**8 + int(fraction.ljust(8, "0") or 0)


@pytest.mark.integration
def test_a_feed_counts_what_it_publishes_and_serves_it(catalogue_topics: Settings) -> None:
    metrics = ProcessMetrics("feed-file")
    sink = KafkaSink(AvroProducer(catalogue_topics), metrics=metrics)
    stats = play_files([sample.SAMPLE_DIR / sample.SAMPLE_FILE], sink)
    sink.flush()
    assert metrics.events_out[MD_DEPTH] == stats.snapshots + stats.updates
    assert metrics.events_out[MD_TRADES] == stats.trades
    assert sum(metrics.dead_letters.values()) == stats.dead_letters
    with serving_probes(replace(catalogue_topics, metrics_port=0), metrics) as server:
        assert server is not None
        scraped = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
        assert (
            f'sq_events_out_total{{stage="feed-file",topic="{MD_DEPTH}"}} {float(metrics.events_out[MD_DEPTH])}'
            in scraped
        )
        assert httpx.get(f"http://127.0.0.1:{server.port}/readyz", timeout=5).status_code == 200
