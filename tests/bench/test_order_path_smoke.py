"""The order path benchmark runs end to end on tiny sizes (kafka engine, every topology) and reports every figure,
draws its latency curve and leaves no topics; values are not judged (figures are measured, never asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _bench_run import assert_no_topics_left, measured_figures, run_bench

from processors.runtime.pipeline import TOPOLOGIES
from settings import Settings

pytestmark = pytest.mark.integration

LATENCIES = ("command → risk decision", "command → PENDING_NEW", "command → ACCEPTED")
SWEEP = ("20 %", "60 %")
PER_TOPOLOGY = {
    "throughput, commands",
    "throughput, new orders",
    "CPU per new order, workers",
    *(f"{name} {p}" for name in LATENCIES for p in ("p50", "p99")),
    *(f"command → ACCEPTED {p} at {pct}" for pct in SWEEP for p in ("p50", "p99")),
    "throughput, new orders ÷ txloop",  # the names, exactly
    "throughput, commands ÷ txloop",
    "command → ACCEPTED p99 ÷ loop",
    "command → ACCEPTED p50 ÷ loop",
    "command → risk decision p50 ÷ loop",
    "command → risk decision p99 ÷ loop",
}
BROKER = {  # when the broker runs on this machine
    "CPU per new order, broker",
    "CPU per new order, workers + broker",
    "CPU per new order at half saturation, workers + broker",
}
LOOPS = {
    ("loop", "throughput (backlog)"),
    ("loop", "latency p50"),
    ("loop", "latency p99"),
    ("txloop", "throughput (backlog)"),
    ("txloop, engine batching", "latency p50"),
    ("txloop, engine batching", "latency p99"),
}
LOOPS_CPU = {(loop, f"CPU per record, {what}") for loop in ("loop", "txloop") for what in ("loop process", "broker")}
TINY = [
    "--topology",
    ",".join(TOPOLOGIES),
    "--orders",
    "300",
    "--accounts",
    "4",
    "--warmup-seconds",
    "0.3",
    "--latency-seconds",
    "1",
    "--sweep",
    "0.2,0.6",
    "--sweep-seconds",
    "0.5",
    "--with-baseline",
    "--baseline-messages",
    "500",
    "--baseline-rate",
    "200",
    "--engine-option",
    "batch_size=400",  # through the worker's command line, as sq run passes it
]


@pytest.mark.timeout(240)
def test_every_topology_reports_every_figure_draws_its_curve_and_leaves_no_topics(
    infra_settings: Settings, tmp_path: Path
) -> None:
    plot = tmp_path / "curve.png"
    document = run_bench("bench.order_path", [*TINY, "--plot", str(plot)], infra_settings, timeout_s=230)

    figures = measured_figures(document)
    expected = {(topology, name) for topology in TOPOLOGIES for name in PER_TOPOLOGY} | LOOPS
    optional = {(topology, name) for topology in TOPOLOGIES for name in BROKER} | LOOPS_CPU
    assert expected <= set(figures) <= expected | optional
    assert document["baseline"]["source"].startswith("measured in this run")
    assert set(document["curves"]) == set(TOPOLOGIES)
    assert all(len(points) == len(SWEEP) for points in document["curves"].values())
    assert document["parameters"]["engine_option"] == ["batch_size=400"]
    assert len(document["machine"]["load_average_at_start"]) == 3 and len(document["load_average_at_end"]) == 3
    assert plot.read_bytes().startswith(b"\x89PNG")

    assert_no_topics_left(document, infra_settings)
