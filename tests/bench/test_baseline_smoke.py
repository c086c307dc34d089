"""The baseline benchmark runs end to end on tiny sizes and reports every figure (values are not judged)."""

from __future__ import annotations

import pytest
from _bench_run import assert_no_topics_left, measured_figures, run_bench

from settings import Settings

pytestmark = pytest.mark.integration

EXPECTED_FIGURES = {
    ("produce", "throughput"),
    ("consume", "throughput"),
    ("codec", "NewOrder encode"),
    ("codec", "NewOrder decode"),
    ("codec", "OrderEvent encode"),
    ("codec", "OrderEvent decode"),
    ("loop", "throughput (backlog)"),
    ("loop", "latency p50"),
    ("loop", "latency p99"),
    ("txloop", "throughput (backlog)"),
    ("txloop, engine batching", "latency p50"),
    ("txloop, engine batching", "latency p99"),
    ("faust default", "throughput (backlog)"),
    ("faust default", "latency p50"),
    ("faust default", "latency p99"),
    ("faust fetch wait 5 ms", "throughput (backlog)"),
    ("faust fetch wait 5 ms", "latency p50"),
    ("faust fetch wait 5 ms", "latency p99"),
}
OPTIONAL_FIGURES = {  # CPU: only when the broker runs on this machine, and when enough to resolve (not tiny runs)
    ("loop", "CPU per record, loop process"),
    ("txloop", "CPU per record, loop process"),
    ("loop", "CPU per record, broker"),
    ("txloop", "CPU per record, broker"),
}
TINY = [
    "--messages",
    "300",
    "--codec-messages",
    "300",
    "--faust-messages",
    "200",
    "--rate",
    "500",
    "--warmup-seconds",
    "0.2",
    "--latency-seconds",
    "0.5",
]


@pytest.mark.timeout(90)
def test_baseline_reports_every_figure_and_leaves_no_topics(infra_settings: Settings) -> None:
    document = run_bench("bench.baseline", TINY, infra_settings, timeout_s=80)

    figures = measured_figures(document)
    assert EXPECTED_FIGURES <= set(figures) <= EXPECTED_FIGURES | OPTIONAL_FIGURES
    assert document["machine"]["nproc"] >= 1

    assert_no_topics_left(document, infra_settings)
