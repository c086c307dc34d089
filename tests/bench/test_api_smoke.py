"""bench.api runs the whole stack on tiny sizes and reports every figure, the plain endpoint and the ratio among
them, and deletes its topics; values are not judged (figures are measured, never asserted)."""

from __future__ import annotations

import pytest
from _bench_run import assert_no_topics_left, measured_figures, run_bench

from settings import Settings

pytestmark = pytest.mark.integration

BURST = ("throughput (202 answers)", "latency p50", "latency p99", "server CPU per request")
EXPECTED_FIGURES = {
    *(("plain endpoint, 2 clients", name) for name in BURST),
    *(("POST /v1/orders, 2 clients", name) for name in BURST),
    ("POST /v1/orders, 2 clients", "POST ÷ plain endpoint"),
    ("POST /v1/orders, 2 clients", "produce → acknowledgement, mean"),
    ("submit → visible, burst", "end to end"),
    *((f"submit → visible, {rate}/s", p) for rate in (20, 40) for p in ("latency p50", "latency p99")),
}


@pytest.mark.timeout(240)
def test_api_bench_reports_every_figure_and_leaves_no_topics(infra_settings: Settings) -> None:
    args = ["--clients", "2", "--orders", "40", "--rates", "20,40", "--seconds", "1"]
    document = run_bench("bench.api", args, infra_settings, timeout_s=230)

    figures = measured_figures(document)
    assert set(figures) == EXPECTED_FIGURES
    assert document["notes"]["rates_per_s"] == [20.0, 40.0]
    ratio = figures[("POST /v1/orders, 2 clients", "POST ÷ plain endpoint")]
    assert ratio["unit"] == "ratio"
    assert "load_average" in figures[("plain endpoint, 2 clients", "throughput (202 answers)")]["extra"]
    assert_no_topics_left(document["notes"], infra_settings)  # the notes hold the run's topic prefix
