"""bench.backtest runs on a tiny tape and reports every figure (values are not judged)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _bench_run import measured_figures

from bench.backtest import main
from tests.kit.backtest import write_scenario_tape


def test_the_bench_reports_every_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tape = write_scenario_tape(tmp_path)
    assert main(["--data", str(tape), "--repeat", "1", "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    phases = {phase for phase, _ in measured_figures(document)}
    assert {"tape", "orderbook core alone, analytics off", "orderbook core alone, analytics on"} <= phases
    assert {"backtest Idle", "backtest market_maker", "backtest momentum"} <= phases
