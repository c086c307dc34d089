"""A few Prometheus metrics, rendered in the text exposition format (prometheus_client is not installed)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import Final

LATENCY_BUCKETS_S: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]


def _labels(names: Iterable[str], values: Iterable[str]) -> Labels:
    return tuple(zip(names, values, strict=True))


def _render_labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    pairs = [*labels, *([extra] if extra else [])]
    if not pairs:
        return ""
    escaped = (f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + ",".join(escaped) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Counter:
    def __init__(self, name: str, help_text: str, label_names: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, label_names
        self._values: dict[Labels, float] = {}
        self._lock = threading.Lock()

    def inc(self, *label_values: str, amount: float = 1.0) -> None:
        key = _labels(self.label_names, label_values)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *label_values: str) -> float:
        return self._values.get(_labels(self.label_names, label_values), 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            lines += [f"{self.name}{_render_labels(k)} {_number(v)}" for k, v in sorted(self._values.items())]
        return lines


class Histogram:
    def __init__(
        self,
        name: str,
        help_text: str,
        label_names: tuple[str, ...] = (),
        buckets: tuple[float, ...] = LATENCY_BUCKETS_S,
    ) -> None:
        self.name, self.help, self.label_names = name, help_text, label_names
        self.buckets = (*sorted(buckets), math.inf)
        self._series: dict[Labels, list[float]] = {}  # per bucket counts (not cumulative), then sum, then count
        self._lock = threading.Lock()

    def observe(self, value: float, *label_values: str) -> None:
        key = _labels(self.label_names, label_values)
        index = next(i for i, bound in enumerate(self.buckets) if value <= bound)
        with self._lock:
            series = self._series.setdefault(key, [0.0] * (len(self.buckets) + 2))
            series[index] += 1
            series[-2] += value
            series[-1] += 1

    def count(self, *label_values: str) -> float:
        series = self._series.get(_labels(self.label_names, label_values))
        return series[-1] if series else 0.0

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            for key, series in sorted(self._series.items()):
                cumulative = 0.0
                for bound, count in zip(self.buckets, series, strict=False):
                    cumulative += count
                    lines.append(
                        f"{self.name}_bucket{_render_labels(key, ('le', _number(bound)))} {_number(cumulative)}"
                    )
                lines.append(f"{self.name}_sum{_render_labels(key)} {_number(series[-2])}")
                lines.append(f"{self.name}_count{_render_labels(key)} {_number(series[-1])}")
        return lines


class ApiMetrics:
    """The API's metrics; one instance per app."""

    def __init__(self) -> None:
        self.requests = Counter(
            "sq_api_requests_total", "HTTP requests by method, route and status.", ("method", "route", "status")
        )
        self.latency = Histogram(
            "sq_api_request_duration_seconds", "HTTP request latency by method and route.", ("method", "route")
        )
        self.commands = Counter(
            "sq_api_commands_produced_total", "Commands and control events produced, by schema.", ("schema",)
        )
        self.produce_latency = Histogram(
            "sq_api_produce_duration_seconds", "Time from produce to the broker's acknowledgement."
        )
        self.auth_failures = Counter("sq_api_auth_failures_total", "Requests refused with 401, by cause.", ("cause",))
        self.rate_limited = Counter("sq_api_rate_limited_total", "Requests refused with 429.")
        self.stream_clients = Counter("sq_api_stream_connections_total", "Order event stream connections opened.")

    def render(self) -> str:
        metrics = (
            self.requests,
            self.latency,
            self.commands,
            self.produce_latency,
            self.auth_failures,
            self.rate_limited,
            self.stream_clients,
        )
        return "\n".join(line for metric in metrics for line in metric.render()) + "\n"
