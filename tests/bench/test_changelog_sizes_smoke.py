"""bench.changelog_sizes runs in process on tiny sizes and reports every figure per batch (values are not
judged)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _bench_run import measured_figures

from bench.changelog_sizes import main


def test_every_batch_reports_its_changelog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--orders", "80", "--accounts", "3", "--batches", "3,10", "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    figures = measured_figures(document)
    names = ("changelog bytes per command", "changelog records", "state_changes + encoding per command")
    assert set(figures) == {(f"batch of {n} commands", name) for n in (3, 10) for name in names}
    per_core = figures[("batch of 3 commands", "changelog bytes per command")]["extra"]["per_core"]
    assert set(per_core) == {"risk", "oms", "router", "venue", "portfolio"}
    assert per_core["router"]["bytes"] == 0, "direct orders leave the router without state"
