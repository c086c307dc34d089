"""The baseline benchmark runs end to end on tiny sizes and reports every figure (values are not judged)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sq.settings import PROJECT_ROOT, Settings
from topics.admin import admin_client

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
    ("faust default", "throughput (backlog)"),
    ("faust default", "latency p50"),
    ("faust default", "latency p99"),
    ("faust fetch wait 5 ms", "throughput (backlog)"),
    ("faust fetch wait 5 ms", "latency p50"),
    ("faust fetch wait 5 ms", "latency p99"),
}
TINY = ["--messages", "300", "--codec-messages", "300", "--faust-messages", "200",
        "--rate", "500", "--warmup-seconds", "0.2", "--latency-seconds", "0.5"]  # fmt: skip


@pytest.mark.timeout(90)
def test_baseline_reports_every_figure_and_leaves_no_topics(infra_settings: Settings) -> None:
    env = dict(os.environ)
    if infra_settings.external_kafka:
        env["KAFKA_BOOTSTRAP_SERVERS"] = infra_settings.external_kafka
    result = subprocess.run(
        [sys.executable, "-m", "bench.baseline", *TINY, "--json"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=80, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)  # stdout holds the JSON document only; progress went to stderr

    figures = {(f["phase"], f["name"]): f for f in document["figures"]}
    assert set(figures) == EXPECTED_FIGURES
    for key, figure in figures.items():
        assert figure["error"] is None, key
        assert figure["unit"], key
        assert isinstance(figure["value"], float | int) and figure["value"] > 0, (key, figure["value"])
    assert document["machine"]["nproc"] >= 1

    prefix = document["topic_prefix"]
    assert prefix.startswith("bench-")
    live = admin_client(infra_settings).list_topics(timeout=10).topics
    assert not [name for name in live if name.startswith(prefix)]
