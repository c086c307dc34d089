"""A sink SIGKILLed mid-stream and restarted leaves no duplicate and no gap: rows and offsets commit together."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest
from postgres_sink_helpers import produce, table_rows
from settings_env import sink_environment

from replay.projections import rebuild_projections
from schemas.names import ORDER_EVENT
from settings import Settings
from tests.kit.order_stream import SampleStream

pytestmark = pytest.mark.integration


def _start_sink(settings: Settings, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sq.cli", "sink", "--batch-size", "50", *extra],
        env=sink_environment(settings, os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _scalar(conninfo: str, query: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def test_a_sink_killed_mid_stream_resumes_without_duplicates_or_gaps(sink_settings: Settings) -> None:
    records = SampleStream(300, run="kill").records()
    produce(sink_settings, records)
    database = sink_settings.database_url
    for kill_after_events in (1, 600):  # early, then again once it got going
        sink = _start_sink(sink_settings)
        deadline = time.monotonic() + 60
        while _scalar(database, "SELECT count(*) FROM order_events") < kill_after_events:
            assert sink.poll() is None, sink.stderr.read() if sink.stderr else ""
            assert time.monotonic() < deadline, "the sink made no progress"
            time.sleep(0.005)
        sink.send_signal(signal.SIGKILL)
        sink.wait(10)
    consumed_before = _scalar(database, "SELECT sum(next_offset) FROM projection_offsets")
    assert 0 < consumed_before < len(records), "the kill should land mid-stream"

    restarted = _start_sink(sink_settings, "--until-end", "--json")
    out, err = restarted.communicate(timeout=120)
    assert restarted.returncode == 0, err
    stats = json.loads(out)
    assert stats["duplicates"] == 0  # nothing projected was consumed again
    assert stats["consumed"] == len(records) - consumed_before  # nothing was skipped
    events = [p.record for p in records if p.schema == ORDER_EVENT]
    assert _scalar(database, "SELECT count(*) FROM order_events") == len(events)
    assert _scalar(database, "SELECT count(DISTINCT event_id) FROM order_events") == len(events)
    # Each order's history is numbered 1..n without a hole, and its count agrees.
    holes = _scalar(
        database,
        "SELECT count(*) FROM orders o WHERE o.event_count <> (SELECT count(*) FROM order_events "
        "e WHERE e.order_id = o.order_id AND e.sequence <= o.event_count)",
    )
    assert holes == 0
    after_crashes = table_rows(database)
    rebuild_projections(sink_settings)
    assert table_rows(database) == after_crashes
