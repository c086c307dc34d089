"""bench.venues runs in process on tiny sizes and reports every figure (values are not judged)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _bench_run import measured_figures

from bench.venues import main


def test_the_venues_bench_reports_each_case_and_the_smart_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--orders", "300", "--repeat", "1", "--levels", "4", "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert set(measured_figures(document)) == {
        ("venue core", "one venue (sim, the default: baseline)"),
        ("venue core", "three named venues, own fees, no latency"),
        ("venue core", "three named venues, latencies 0 / 300 / 1000 µs"),
        ("venue core", "SMART sweep, 3 venues sharing 4 ask levels"),
    }
