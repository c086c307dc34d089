"""Plays recorded files (CSV, Parquet) to Kafka as fast as possible or at N times recorded speed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from connectors.marketdata.sink import KafkaSink
from connectors.marketdata.stats import FeedStats
from connectors.marketdata.tape import TapePlayer, pacing_delay_s
from connectors.marketdata.tape_io import merged_rows
from schemas.names import DEPTH_SNAPSHOT, DEPTH_UPDATE, TRADE
from topics.catalogue import DEAD_LETTERS


def play_files(
    paths: list[Path],
    sink: KafkaSink,
    *,
    speed: float | None = None,
    on_progress: Callable[[FeedStats], None] | None = None,
    progress_every_s: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    stats: FeedStats | None = None,
) -> FeedStats:
    """Publish every row of ``paths`` (merged by event time); a malformed row becomes a dead letter.
    ``stats`` is filled as rows go (pass one to keep the counts of a run that is interrupted)."""
    stats = stats if stats is not None else FeedStats()
    players: dict[str, TapePlayer] = {}
    began = last_report = clock()
    first_time_us: int | None = None
    counters = {DEPTH_SNAPSHOT: "snapshots", DEPTH_UPDATE: "updates", TRADE: "trades"}
    for row in merged_rows(paths):
        stats.messages += 1
        player = players.get(row.source) or players.setdefault(row.source, TapePlayer(row.source))
        emit = player.play(row.values, row.number, time.time_ns() // 1000)
        if emit.topic == DEAD_LETTERS:
            stats.dead_letters += 1
        else:
            if speed is not None:
                event_time = emit.record["meta"]["event_time_us"]
                first_time_us = event_time if first_time_us is None else first_time_us
                delay = pacing_delay_s(first_time_us, event_time, speed, clock() - began)
                if delay > 0:
                    sleep(delay)
            name = counters[emit.schema]
            setattr(stats, name, getattr(stats, name) + 1)
        sink.publish(emit)
        if on_progress is not None and clock() - last_report >= progress_every_s:
            last_report = clock()
            on_progress(stats)
    sink.flush()
    return stats
