"""Unit tests of the Prometheus text rendering (no server)."""

from __future__ import annotations

from api.metrics import Counter, Histogram


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    histogram = Histogram("latency_seconds", "Latency.", ("route",), buckets=(0.1, 1.0))
    for value in (0.05, 0.5, 0.5, 3.0):
        histogram.observe(value, "/x")
    assert histogram.render() == [
        "# HELP latency_seconds Latency.",
        "# TYPE latency_seconds histogram",
        'latency_seconds_bucket{route="/x",le="0.1"} 1',
        'latency_seconds_bucket{route="/x",le="1"} 3',
        'latency_seconds_bucket{route="/x",le="+Inf"} 4',
        'latency_seconds_sum{route="/x"} 4.05',
        'latency_seconds_count{route="/x"} 4',
    ]


def test_counter_label_values_are_escaped() -> None:
    counter = Counter("hits_total", "Hits.", ("path",))
    counter.inc('a"b\\c\nd')
    counter.inc('a"b\\c\nd', amount=2)
    assert counter.render()[-1] == 'hits_total{path="a\\"b\\\\c\\nd"} 3'
