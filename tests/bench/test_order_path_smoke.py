"""The order path benchmark runs end to end on tiny sizes (kafka engine) and reports every figure; values are
not judged (figures are measured, never asserted)."""

from __future__ import annotations

import pytest
from _bench_run import assert_no_topics_left, measured_figures, run_bench

from settings import Settings

pytestmark = pytest.mark.integration

PHASE = "kafka order path"
LATENCIES = ("command → risk decision", "command → PENDING_NEW", "command → ACCEPTED")
EXPECTED_FIGURES = {
    ("loop", "throughput (backlog)"),
    ("loop", "latency p50"),
    ("loop", "latency p99"),
    (PHASE, "throughput, commands"),
    (PHASE, "throughput, new orders"),
    (PHASE, "CPU per new order, 4 workers"),
    *((PHASE, f"{name} {p}") for name in LATENCIES for p in ("p50", "p99")),
    *((PHASE, f"{name} ÷ loop") for name in ("throughput, commands", "throughput, new orders")),
    *(
        (PHASE, f"{name} {p} ÷ loop")
        for name in ("command → ACCEPTED", "command → risk decision")
        for p in ("p50", "p99")
    ),
}
OPTIONAL_FIGURES = {(PHASE, "CPU per new order, broker")}  # only when the broker runs on this machine
TINY = [
    "--engine",
    "kafka",
    "--orders",
    "300",
    "--accounts",
    "4",
    "--rate",
    "200",
    "--warmup-seconds",
    "0.3",
    "--latency-seconds",
    "1",
    "--with-baseline",
    "--baseline-messages",
    "500",
]


@pytest.mark.timeout(60)
def test_order_path_reports_every_figure_positive_and_leaves_no_topics(infra_settings: Settings) -> None:
    document = run_bench("bench.order_path", TINY, infra_settings, timeout_s=55)

    figures = measured_figures(document)
    assert EXPECTED_FIGURES <= set(figures) <= EXPECTED_FIGURES | OPTIONAL_FIGURES
    assert document["baseline"]["source"].startswith("measured in this run")
    assert len(document["machine"]["load_average_at_start"]) == 3 and len(document["load_average_at_end"]) == 3

    assert_no_topics_left(document, infra_settings)
