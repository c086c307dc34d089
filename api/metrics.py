"""The API's Prometheus metrics, kept and rendered by prometheus-client in a registry of each app's own.

A registry per ``ApiMetrics`` (not the library's global one): two apps in one process (the tests run several)
count apart, and a second app does not fail on names the first registered. ``GET /metrics`` serves it in the
text format, or OpenMetrics when the scraper asks for it.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.exposition import choose_encoder

LATENCY_BUCKETS_S: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """The API's metrics; one instance per app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, memory, open fds (Linux)
        self.requests = Counter(
            "sq_api_requests_total",
            "HTTP requests by method, route and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "sq_api_request_duration_seconds",
            "HTTP request latency by method and route.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.commands = Counter(
            "sq_api_commands_produced_total",
            "Commands and control events produced, by schema.",
            ("schema",),
            registry=self.registry,
        )
        self.produce_latency = Histogram(
            "sq_api_produce_duration_seconds",
            "Time from produce to the broker's acknowledgement.",
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "sq_api_auth_failures_total", "Requests refused with 401, by cause.", ("cause",), registry=self.registry
        )
        self.rate_limited = Counter("sq_api_rate_limited_total", "Requests refused with 429.", registry=self.registry)
        self.stream_clients = Counter(
            "sq_api_stream_connections_total", "Order event stream connections opened.", registry=self.registry
        )

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The registry rendered for a scraper's ``Accept`` header, and the content type to answer with."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
