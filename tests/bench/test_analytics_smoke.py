"""bench.analytics runs on tiny sizes, reports every figure (values are not judged) and deletes its topics."""

from __future__ import annotations

import pytest
from _bench_run import assert_no_topics_left, measured_figures, run_bench

from settings import Settings

pytestmark = pytest.mark.integration


@pytest.mark.timeout(90)
def test_analytics_bench_reports_every_figure_and_leaves_no_topics(infra_settings: Settings) -> None:
    args = ["--symbols", "3", "--bars", "30", "--fills", "10", "--market", "100", "--trades", "300", "--repeat", "1"]
    document = run_bench("bench.analytics", args, infra_settings, timeout_s=80)
    figures = measured_figures(document)
    assert set(figures) == {
        ("portfolio", "trades into bars"),
        ("portfolio", "risk report"),
        ("portfolio", "min_variance"),
        ("portfolio", "mean_variance"),
        ("portfolio", "risk_parity"),
        ("portfolio", "min_variance long-only"),
        ("portfolio", "mean_variance long-only"),
        ("tca", "analyse one parent"),
        ("history", "symbol_records"),
        ("history", "baseline: read_topic + decode"),
    }
    assert figures[("history", "symbol_records")]["detail"].startswith("300 in")  # every trade of the range found
    assert_no_topics_left(document, infra_settings)
