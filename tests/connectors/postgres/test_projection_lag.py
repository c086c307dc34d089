"""A projection's lag through the real broker and database: > 0 while the sink is stopped with records pending,
0 once it has caught up (on the probe `GET /v1/health` and `sq status` use)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
import pytest
from postgres_sink_helpers import produce

from connectors.postgres.lag import LagProbe, ProjectionLag, lag_of
from connectors.postgres.sink import SinkOptions, run_sink
from settings import Settings
from tests.kit.order_stream import SampleStream

pytestmark = pytest.mark.integration

TIMEOUT_S = 30.0


def _lag(settings: Settings, probe: LagProbe) -> ProjectionLag:
    with psycopg.connect(settings.database_url) as conn:
        (lag,) = probe.measure(conn, int(time.time() * 1000), timeout_s=10)
    return lag


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {TIMEOUT_S} s: {what}")
        time.sleep(0.1)


def test_lag_is_positive_while_the_sink_is_stopped_and_zero_once_it_caught_up(sink_settings: Settings) -> None:
    probe = LagProbe(sink_settings)
    first = SampleStream(10, run="lag1").records()
    produce(sink_settings, first)
    # Never run: every record is pending, and nothing applied gives no time to measure from.
    before = _lag(sink_settings, probe)
    assert before.lag_records == len(first) and before.lag_ms is None

    assert run_sink(sink_settings, max_seconds=60, options=SinkOptions(until_end=True)).caught_up
    assert _lag(sink_settings, probe) == ProjectionLag("postgres", 0, 0)

    # Stopped with records pending: behind by those records, and by the time since the last applied one.
    time.sleep(0.05)
    second = SampleStream(5, run="lag2").records()
    produce(sink_settings, second)
    behind = _lag(sink_settings, probe)
    assert behind.lag_records == len(second)
    assert behind.lag_ms is not None and behind.lag_ms >= 50

    stop = threading.Event()
    sink = threading.Thread(target=run_sink, args=(sink_settings, 60, stop), daemon=True)
    sink.start()
    try:
        _wait_for(lambda: _lag(sink_settings, probe) == ProjectionLag("postgres", 0, 0), "the lag back to 0")
    finally:
        stop.set()
        sink.join(timeout=TIMEOUT_S)
    assert not sink.is_alive()


def test_lag_arithmetic() -> None:
    ends = {("t", 0): 10, ("t", 1): 4}
    assert lag_of("p", ends, {("t", 0): (10, 1_000), ("t", 1): (4, 2_000)}, 9_000) == ProjectionLag("p", 0, 0)
    assert lag_of("p", ends, {("t", 0): (7, 1_000), ("t", 1): (4, 2_000)}, 9_000) == ProjectionLag("p", 3, 7_000)
    assert lag_of("p", ends, {}, 9_000) == ProjectionLag("p", 14, None)
