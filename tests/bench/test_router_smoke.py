"""bench.router runs in process on tiny sizes and reports every figure (values are not judged)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _bench_run import measured_figures

from bench.router import main


def test_the_router_bench_reports_scheduling_and_stage_figures(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--parents", "1,4", "--events", "200", "--stage-parents", "3", "--seconds", "10", "--repeat", "1"]
    args += ["--algo-parents", "2"]
    assert main([*args, "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    figures = measured_figures(document)
    assert set(figures) == {
        ("scheduling", "per market event, 1 parents"),
        ("scheduling", "per event per parent, 1 parents"),
        ("scheduling", "per market event, 4 parents"),
        ("scheduling", "per event per parent, 4 parents"),
        ("stage at the sample's rate", "CPU per recorded second, 3 POV parents"),
        *(
            ("scheduling per algorithm", f"per event per parent, {algo}")
            for algo in ("TWAP", "VWAP", "IMPLEMENTATION_SHORTFALL", "POV", "PEG", "SNIPER")
        ),
    }
