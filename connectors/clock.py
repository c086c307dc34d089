"""The ticker: how wall-clock time reaches the execution algorithms live (docs/EXECUTION.md).

The router has no clock: it moves on the event time of what it reads. Live, when no market data or order event
arrives, a TWAP slice must still fall due, so the ticker writes a ``ClockTick`` to ``clock.ticks`` every interval,
stamped with the wall clock. In replay the recorded ticks come back from the log; a backtest writes its own
ticks on the recorded data's time (``ticks_between``), so the same slices fall due at the same event times.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Final

from schemas.names import CLOCK_TICK
from schemas.types import ClockTick
from settings import Settings
from topics.catalogue import CLOCK_TICKS
from topics.client import AvroProducer

TICKER: Final = "ticker"


def clock_tick(time_us: int, interval_us: int, source: str = TICKER, event_id: str | None = None) -> ClockTick:
    """A tick marking ``time_us``; ``event_id`` defaults to one derived from the source and the time."""
    event_id = event_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"sq-clock|{source}|{time_us}"))
    return {
        "meta": {
            "event_id": event_id,
            "producer": source,
            "event_time_us": time_us,
            "ingest_time_us": time_us,
            "causation_id": None,
            "correlation_id": event_id,
        },
        "source": source,
        "interval_us": interval_us,
    }


def ticks_between(start_us: int, end_us: int, interval_us: int, source: str) -> Iterator[ClockTick]:
    """The ticks of a backtest or a test: one every ``interval_us`` from ``start_us`` through ``end_us``."""
    if interval_us <= 0:
        raise ValueError(f"the tick interval must be positive, not {interval_us} us")
    for time_us in range(start_us, end_us + 1, interval_us):
        yield clock_tick(time_us, interval_us, source)


def run_ticker(
    settings: Settings,
    interval_s: float,
    stop: threading.Event,
    *,
    max_ticks: int | None = None,
    now_us: Callable[[], int] = lambda: time.time_ns() // 1000,
) -> int:
    """Write a tick every ``interval_s`` of wall-clock time until ``stop`` is set (or ``max_ticks``); the count."""
    if interval_s <= 0:
        raise ValueError(f"the tick interval must be positive, not {interval_s} s")
    interval_us = round(interval_s * 1_000_000)
    producer = AvroProducer(settings)
    sent = 0
    try:
        while not stop.is_set() and (max_ticks is None or sent < max_ticks):
            producer.produce(CLOCK_TICKS, TICKER, CLOCK_TICK, clock_tick(now_us(), interval_us))
            producer.flush()
            sent += 1
            stop.wait(interval_s)
    finally:
        producer.flush()
    return sent
