"""A running worker serves its metrics and probes, every Grafana panel queries a metric that exists, and
`sq status` reports the stage.

One orderpath worker process (kafka engine) with ``SQ_METRICS_PORT`` set, scraped over HTTP while a kill switch
denies an order: the counters move (events in and out, rejects by reason), the kill switch shows, the probes
answer. Then every query of infra/grafana/shrivenquant.json names a metric that a process of ours exposes.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from running_path import RunningPath, wait_for

from api.metrics import ApiMetrics
from connectors.postgres.databases import scratch_database
from processors.risk.limits import DEFAULT_LIMITS
from processors.runtime.metrics import ProcessMetrics
from schemas.names import KILL_SWITCH
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE
from settings import PROJECT_ROOT, Settings
from topics.admin import create_topics, delete_prefixed_topics
from topics.catalogue import CATALOGUE, ORDERS_COMMANDS, RISK_LIMITS
from topics.client import AvroProducer

pytestmark = pytest.mark.integration

TIMEOUT_S = 60
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",), "summary": ("",)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def running(infra_settings: Settings) -> Iterator[RunningPath]:
    # `sq status` reads the sink's stored offsets: a migrated database of its own, never the shared one's state
    with scratch_database(infra_settings.database_url, "sqmetrics", migrated=True) as database:
        prefixed = infra_settings.with_topic_prefix(f"m{uuid.uuid4().hex[:10]}.").with_database_url(database)
        settings = replace(prefixed, metrics_port=_free_port())
        create_topics(settings, CATALOGUE)
        path = RunningPath(settings, "single")
        path.start(("orderpath",))
        try:
            yield path
        finally:
            path.stop()
            delete_prefixed_topics(settings)


def _scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """sample name → labels → value; family names of families without samples too (value-less)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return _samples(text)


def _samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for suffix in SUFFIXES.get(family.type, ("",)):
            found.setdefault(family.name + suffix, {})
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _value(samples: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, **labels: str) -> float:
    return sum(v for key, v in samples.get(name, {}).items() if set(labels.items()) <= set(key))


def test_a_running_worker_counts_what_it_does_and_answers_its_probes(running: RunningPath) -> None:
    port = running.settings.metrics_port
    assert port is not None
    wait_for(lambda: _probe(port, "/readyz") == 200, TIMEOUT_S, "the worker's readiness")
    assert _probe(port, "/healthz") == 200
    account, symbol = f"M-{uuid.uuid4().hex[:8]}", f"S{uuid.uuid4().hex[:6].upper()}"
    running.limits(account, **{**DEFAULT_LIMITS.as_record(), "reference_prices": {symbol: 100 * PRICE_SCALE}})
    wait_for(lambda: running.consumed("risk", RISK_LIMITS), TIMEOUT_S, "risk to apply the limits")
    running.control(
        KILL_SWITCH,
        f"ACCOUNT:{account}",
        scope="ACCOUNT",
        target=account,
        active=True,
        cancel_open_orders=False,
        actor="test",
        detail="metrics",
    )
    running.new_order(account, symbol, "BUY", QUANTITY_SCALE, 100 * PRICE_SCALE)

    def counted() -> dict[str, dict[tuple[tuple[str, str], ...], float]] | None:
        samples = _scrape(port)
        return samples if _value(samples, "sq_rejects_total", reason="KILL_SWITCH") >= 1 else None

    samples = wait_for(counted, TIMEOUT_S, "the KILL_SWITCH reject in the metrics")
    assert _value(samples, "sq_events_in_total", stage="orderpath", topic="orders.commands") >= 1
    assert _value(samples, "sq_events_out_total", stage="orderpath", topic="orders.events") >= 1
    assert _value(samples, "sq_stage_batch_seconds_count", stage="orderpath") >= 1
    assert _value(samples, "sq_transactions_total", stage="orderpath") >= 1
    assert _value(samples, "sq_worker_active", stage="orderpath", worker="0") == 1
    assert _value(samples, "process_cpu_seconds_total") > 0
    wait_for(
        lambda: _value(_scrape(port), "sq_kill_switch_engaged", switch=f"ACCOUNT:{account}") == 1,
        TIMEOUT_S,
        "the kill switch in the metrics (sampled every few seconds)",
    )
    samples = _scrape(port)
    assert _value(samples, "sq_state_keys", stage="orderpath") >= 1
    assert "sq_consumer_lag_records" in samples
    assert _probe(port, "/nothing") == 404


def _probe(port: int, path: str) -> int:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code
    except httpx.TransportError:
        return 0


def test_every_dashboard_query_names_a_metric_that_exists(running: RunningPath) -> None:
    port = running.settings.metrics_port
    assert port is not None
    wait_for(lambda: _probe(port, "/readyz") == 200, TIMEOUT_S, "the worker's readiness")
    exposed = set(_scrape(port))  # a running worker (the sink's are the same families)
    exposed |= set(_samples(ApiMetrics().exposition()[0].decode()))
    exposed |= set(_samples(ProcessMetrics("sink").exposition()[0].decode()))
    dashboard = json.loads((PROJECT_ROOT / "infra" / "grafana" / "shrivenquant.json").read_text())
    queried: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = set(re.findall(r"\b((?:sq|process)_[a-z_]+)\b", target["expr"]))
            assert names, f"{panel['title']}: {target['expr']} names no metric"
            assert names <= exposed, f"{panel['title']}: {sorted(names - exposed)} exist nowhere"
            queried |= names
    for required in ("sq_consumer_lag_records", "sq_rejects_total", "sq_kill_switch_engaged", "sq_dead_letters_total"):
        assert required in queried


def test_a_dead_letter_is_counted_and_sq_status_reports_the_stage(running: RunningPath) -> None:
    port = running.settings.metrics_port
    assert port is not None
    producer = AvroProducer(running.settings)
    producer.produce_raw(ORDERS_COMMANDS, "garbage", b"\x00not an avro record")
    producer.flush()
    wait_for(
        lambda: _value(_scrape(port), "sq_dead_letters_total", stage="orderpath", reason="UNDECODABLE") >= 1,
        TIMEOUT_S,
        "the dead letter in the metrics",
    )
    env = {**os.environ, **running.settings.as_env(), "DATABASE_URL": running.settings.database_url}
    env.pop("PYTHONSAFEPATH", None)  # `-m sq.cli` must find this checkout's packages from its working directory
    done = subprocess.run(
        [sys.executable, "-m", "sq.cli", "status", "--json"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    stages = {stage["name"]: stage for stage in json.loads(done.stdout)["stages"]}
    orderpath = stages["orderpath"]
    assert orderpath["workers"] == 1 and orderpath["dead_letters"] >= 1
    assert orderpath["state_records"] >= 1 and orderpath["last_event_ms"] is not None
    assert orderpath["lag_records"] >= 0 and "orderbook" not in stages  # never run under this prefix
