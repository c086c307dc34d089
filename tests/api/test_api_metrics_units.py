"""The API's metrics through prometheus-client: the names, labels and buckets the docs and dashboards use, a
registry per app, and the exposition formats (no server)."""

from __future__ import annotations

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import LATENCY_BUCKETS_S, ApiMetrics
from schemas.names import NEW_ORDER

# The metric families and their labels, as api/README.md and the dashboards know them.
FAMILIES = {
    "sq_api_requests": ("counter", {"method", "route", "status"}),
    "sq_api_request_duration_seconds": ("histogram", {"method", "route"}),
    "sq_api_commands_produced": ("counter", {"schema"}),
    "sq_api_produce_duration_seconds": ("histogram", set()),
    "sq_api_auth_failures": ("counter", {"cause"}),
    "sq_api_rate_limited": ("counter", set()),
    "sq_api_stream_connections": ("counter", set()),
}


def _exercised() -> ApiMetrics:
    metrics = ApiMetrics()
    metrics.requests.labels("GET", "/v1/orders", "200").inc()
    for seconds in (0.0005, 0.3, 0.3, 30.0):
        metrics.latency.labels("GET", "/v1/orders").observe(seconds)
    metrics.commands.labels(NEW_ORDER).inc(2)
    metrics.produce_latency.observe(0.004)
    metrics.auth_failures.labels("invalid").inc()
    metrics.rate_limited.inc()
    metrics.stream_clients.inc()
    return metrics


def test_every_metric_keeps_its_name_type_and_labels() -> None:
    body, content_type = _exercised().exposition()
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    families = {family.name: family for family in text_string_to_metric_families(body.decode())}
    for name, (kind, labels) in FAMILIES.items():
        family = families[name]
        assert family.type == kind, name
        sample_labels = {key for sample in family.samples for key in sample.labels if key != "le"}
        assert sample_labels == labels, name
    assert "process_cpu_seconds" in families  # the process's own, for the ops dashboards


def test_histograms_use_the_latency_buckets_cumulatively() -> None:
    body, _ = _exercised().exposition()
    buckets = {
        sample.labels["le"]: sample.value
        for family in text_string_to_metric_families(body.decode())
        if family.name == "sq_api_request_duration_seconds"
        for sample in family.samples
        if sample.name.endswith("_bucket")
    }
    assert list(buckets) == [*(repr(b) for b in LATENCY_BUCKETS_S), "+Inf"]
    assert (buckets["0.001"], buckets["0.25"], buckets["0.5"], buckets["10.0"], buckets["+Inf"]) == (1, 1, 3, 3, 4)


def test_text_lines_are_those_the_http_tests_and_docs_quote() -> None:
    text = _exercised().exposition()[0].decode()
    assert "# TYPE sq_api_requests_total counter" in text
    assert 'sq_api_requests_total{method="GET",route="/v1/orders",status="200"} 1.0' in text
    assert f'sq_api_commands_produced_total{{schema="{NEW_ORDER}"}} 2.0' in text
    assert "sq_api_rate_limited_total 1.0" in text


def test_each_app_counts_in_its_own_registry() -> None:
    first, second = ApiMetrics(), ApiMetrics()  # a global registry would refuse the second's names
    first.rate_limited.inc()
    assert "sq_api_rate_limited_total 1.0" in first.exposition()[0].decode()
    assert "sq_api_rate_limited_total 0.0" in second.exposition()[0].decode()


def test_label_values_are_escaped() -> None:
    metrics = ApiMetrics()
    metrics.auth_failures.labels('a"b\\c\nd').inc()
    text = metrics.exposition()[0].decode()
    assert 'sq_api_auth_failures_total{cause="a\\"b\\\\c\\nd"} 1.0' in text


def test_a_scraper_asking_for_openmetrics_gets_it() -> None:
    body, content_type = _exercised().exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    families = openmetrics_families(body.decode())  # type: ignore[no-untyped-call]  # the OpenMetrics parser is untyped
    names = {family.name for family in families}
    assert set(FAMILIES) <= names
