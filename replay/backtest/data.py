"""Recorded market data as the backtest reads it, in event-time order: tape files (CSV, Parquet), or the market
data topics in Kafka.

``sample`` names the shipped session (``connectors/marketdata/sample``). Each row becomes the md.depth or
md.trades event ``sq feed file`` would publish, ids included, stamped with its event time as its ingest time
(the simulated clock), so a rerun reads exactly the same events. ``md.depth,md.trades`` (or one of them, or
``kafka`` for both) reads those topics of the configured namespace from their start to their end as of the
call, merged by event time (ties in topic, partition and offset order): a live session read back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow.parquet as pq

from connectors.marketdata.sample import SAMPLE_DIR, SAMPLE_FILE
from connectors.marketdata.tape import TapePlayer
from connectors.marketdata.tape_io import merged_rows, tape_files
from processors.core import Event
from schemas.codec import default_codec
from settings import Settings
from topics.catalogue import DEAD_LETTERS, MD_DEPTH, MD_TRADES
from topics.client import read_topic

SAMPLE = "sample"
MARKET_TOPICS: Final = (MD_DEPTH, MD_TRADES)
KAFKA = "kafka"  # both market data topics


def data_topics(data: str) -> tuple[str, ...] | None:
    """The market data topics ``--data`` names (None when it names files)."""
    if data == KAFKA:
        return MARKET_TOPICS
    names = tuple(data.split(","))
    if all(name in MARKET_TOPICS for name in names) and not Path(data).exists():
        return names
    return None


def data_paths(data: str) -> list[Path]:
    """The tape files ``--data`` names: ``sample``, a file or a directory of them."""
    return tape_files([SAMPLE_DIR / SAMPLE_FILE if data == SAMPLE else Path(data)])


def topic_events(settings: Settings, topics: tuple[str, ...]) -> list[Event]:
    """Every record of ``topics`` up to their end now, decoded, in event-time order (stamped with it)."""
    codec = default_codec()
    keyed = []
    for rank, topic in enumerate(topics):
        for record in read_topic(settings, topic):
            if record.value is None:
                continue
            decoded = codec.decode(record.value)
            time_us = decoded.record["meta"]["event_time_us"]
            event = Event(topic, record.key, decoded.schema, decoded.record, time_us)
            keyed.append(((time_us, rank, record.partition, record.offset), event))
    keyed.sort(key=lambda pair: pair[0])
    return [event for _, event in keyed]


def count_rows(paths: list[Path]) -> int:
    """How many rows the files hold (Parquet from its footer; CSV by its lines), for a progress bar."""
    total = 0
    for path in paths:
        if path.suffix == ".parquet":
            total += pq.ParquetFile(path).metadata.num_rows
        else:
            with path.open("rb") as handle:
                total += max(0, sum(1 for _ in handle) - 1)
    return total


@dataclass
class TapeStats:
    rows: int = 0
    malformed: int = 0


def market_events(paths: list[Path], stats: TapeStats | None = None) -> Iterator[Event]:
    """Every usable row of ``paths``, merged by event time, as the event its topic carries; a malformed row is
    counted in ``stats`` and skipped (``sq feed file`` would dead-letter it)."""
    stats = stats if stats is not None else TapeStats()
    players: dict[str, TapePlayer] = {}
    for row in merged_rows(paths):
        stats.rows += 1
        player = players.get(row.source) or players.setdefault(row.source, TapePlayer(row.source))
        time_us = row.values.get("time_us")
        emit = player.play(row.values, row.number, time_us if isinstance(time_us, int) else 0)
        if emit.topic == DEAD_LETTERS:
            stats.malformed += 1
            continue
        yield Event(emit.topic, emit.key, emit.schema, emit.record, emit.record["meta"]["event_time_us"])
