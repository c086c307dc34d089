"""The commands as a user runs them: `sq db migrate`, `sq sink`, `sq replay rebuild-projections`, with --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest
from postgres_sink_helpers import produce
from settings_env import sink_environment

from settings import Settings
from tests.kit.order_stream import SampleStream

pytestmark = pytest.mark.integration


def _sq(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sq.cli", *args],
        env=sink_environment(settings, os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_db_migrate_applies_then_finds_nothing_to_do(settings: Settings, database: str) -> None:
    fresh = replace(settings, external_database_url=database)
    first, second = _json(_sq(fresh, "db", "migrate", "--json")), _json(_sq(fresh, "db", "migrate", "--json"))
    assert first["applied"][0] == 1 and second["applied"] == [] and second["already_applied"] == first["applied"]
    assert "nothing to apply" in _sq(fresh, "db", "migrate").stdout


def test_sink_then_rebuild_report_the_same_tables(sink_settings: Settings) -> None:
    records = SampleStream(21, run="cli").records()
    produce(sink_settings, records)
    sunk = _json(_sq(sink_settings, "sink", "--until-end", "--json"))
    assert sunk["consumed"] == len(records) and sunk["caught_up"] and sunk["rows_per_second"] > 0
    rebuilt = _json(_sq(sink_settings, "replay", "rebuild-projections", "--json"))
    assert rebuilt["sink"]["consumed"] == len(records)
    assert rebuilt["tables"]["order_events"] == sunk["order_events"]
    human = _sq(sink_settings, "replay", "rebuild-projections")
    assert human.returncode == 0 and f"rebuilt from {len(records)} records" in human.stdout


def test_sink_without_topics_says_what_to_do(sink_settings: Settings) -> None:
    missing = sink_settings.with_topic_prefix("never-created.")
    done = _sq(missing, "sink", "--until-end")
    assert done.returncode == 2 and "sq topics create" in done.stderr and "Traceback" not in done.stderr


def test_status_shows_the_projection_behind_then_caught_up(sink_settings: Settings) -> None:
    records = SampleStream(4, run="status").records()
    produce(sink_settings, records)
    behind = _json(_sq(sink_settings, "status", "--json"))
    assert behind == {
        "stages": [],  # no stage ever ran under this prefix
        "projections": [{"name": "postgres", "lag_records": len(records), "lag_ms": None}],
    }
    _json(_sq(sink_settings, "sink", "--until-end", "--json"))
    assert _json(_sq(sink_settings, "status", "--json"))["projections"][0]["lag_records"] == 0
    table = _sq(sink_settings, "status")
    assert table.returncode == 0 and "postgres" in table.stdout and "lag (records)" in table.stdout


def test_status_without_the_topics_says_to_create_them(sink_settings: Settings) -> None:
    missing = _sq(replace(sink_settings, topic_prefix="no-such-prefix."), "status")
    assert missing.returncode != 0 and "sq topics create" in missing.stderr
