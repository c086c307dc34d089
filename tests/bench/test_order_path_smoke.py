"""The order path benchmark runs end to end on tiny sizes (kafka engine) and reports every figure; values are
not judged (figures are measured, never asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sq.settings import PROJECT_ROOT, Settings
from topics.admin import admin_client

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
TINY = ["--engine", "kafka", "--orders", "300", "--accounts", "4", "--rate", "200", "--warmup-seconds", "0.3",
        "--latency-seconds", "1", "--with-baseline", "--baseline-messages", "500"]  # fmt: skip


@pytest.mark.timeout(60)
def test_order_path_reports_every_figure_positive_and_leaves_no_topics(infra_settings: Settings) -> None:
    env = dict(os.environ)
    if infra_settings.external_kafka:
        env["KAFKA_BOOTSTRAP_SERVERS"] = infra_settings.external_kafka
    result = subprocess.run(
        [sys.executable, "-m", "bench.order_path", *TINY, "--json"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=55, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)  # stdout holds the JSON document only; progress went to stderr

    figures = {(f["phase"], f["name"]): f for f in document["figures"]}
    assert EXPECTED_FIGURES <= set(figures) <= EXPECTED_FIGURES | OPTIONAL_FIGURES
    for key, figure in figures.items():
        assert figure["error"] is None, key
        assert figure["unit"], key
        assert isinstance(figure["value"], float | int) and figure["value"] > 0, (key, figure["value"])
    assert document["baseline"]["source"].startswith("measured in this run")
    assert len(document["machine"]["load_average_at_start"]) == 3 and len(document["load_average_at_end"]) == 3

    prefix = document["topic_prefix"]
    assert prefix.startswith("bench-")
    live = admin_client(infra_settings).list_topics(timeout=10).topics
    assert not [name for name in live if name.startswith(prefix)]
