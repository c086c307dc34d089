"""bench.audit_replay on a tiny log, as a user runs it: every figure is reported, and its replay of the produced
session shows no difference (values are not judged)."""

from __future__ import annotations

import pytest
from _bench_run import measured_figures, run_bench

from settings import Settings

pytestmark = pytest.mark.integration


def test_the_bench_reports_audit_storage_and_replay_figures_and_its_replay_agrees(infra_settings: Settings) -> None:
    document = run_bench(
        "bench.audit_replay", ["--orders", "300", "--lookups", "5", "--replay-orders", "200"], infra_settings, 300
    )
    figures = measured_figures(document)
    assert {name for _, name in figures} >= {
        "log bytes per million orders",
        "audit index per million orders",
        "one order, p50",
        "one order, p99",
        "replay ÷ raw",
    }
    replay = figures[("replay", "replay through the cores")]["extra"]
    assert replay["differences"] == 0 and replay["compared"] > 0 and replay["forced"] == 0
