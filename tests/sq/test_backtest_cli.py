"""`sq backtest` and `sq backtest sweep` as a user runs them (a subprocess of this worktree's code)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sq.cli import main
from tests.kit.backtest import SCRIPTED, write_scenario_tape

ROOT = Path(__file__).resolve().parents[2]


def sq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sq.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_backtest_json_summary_and_the_files_it_writes(tmp_path: Path) -> None:
    tape = write_scenario_tape(tmp_path)
    config = tmp_path / "bt.toml"
    config.write_text('initial_cash = "1000"\n[fees]\nmaker_bps = 0\ntaker_bps = 10\n[params]\nexit_price = "103"\n')
    out = tmp_path / "out"
    done = sq(
        "backtest", "--data", str(tape), "--strategy", SCRIPTED, "--config", str(config), "--out", str(out), "--json"
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert {"sharpe", "sortino", "max_drawdown", "fills", "fees", "turnover", "hit_rate", "var_95", "es_95"} <= set(
        summary
    )
    assert summary["fills"] == 2 and summary["initial_equity"] == 1000.0
    assert summary["fees"] == 2 * 101 * 10 / 10_000  # taker 10 bps from the config file; maker 0
    assert {p.name for p in out.iterdir()} == {
        "orders.parquet", "fills.parquet", "positions.parquet", "equity.parquet", "summary.json", "report.html"
    }  # fmt: skip
    assert "<svg" in (out / "report.html").read_text()
    assert len(pd.read_parquet(out / "fills.parquet")) == 2


def test_backtest_human_output_and_a_time_window(tmp_path: Path) -> None:
    tape = write_scenario_tape(tmp_path)
    done = sq(
        "backtest", "--data", str(tape), "--strategy", SCRIPTED, "--from", "2026-01-01T00:00:02Z",
        "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "sharpe" in done.stdout and "report" in done.stdout


def test_expected_failures_say_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tape = str(write_scenario_tape(tmp_path))
    cases = {
        ("--data", tape): "name a strategy",
        ("--data", tape, "--strategy", "nope"): "market_maker",
        ("--data", str(tmp_path / "missing.csv"), "--strategy", "momentum"): "does not exist",
        ("--data", tape, "--strategy", "momentum", "--param", "size"): "KEY=VALUE",
        ("--data", tape, "--strategy", "momentum", "--from", "yesterday"): "ISO 8601",
    }
    bad = tmp_path / "bad.toml"
    bad.write_text("[latency]\norder_ms = 3\n")
    cases[("--data", tape, "--strategy", "momentum", "--config", str(bad))] = "order_ms"
    for args, message in cases.items():
        assert main(["backtest", *args, "--out", str(tmp_path / "o")]) == 2
        assert message in capsys.readouterr().err, args


def test_sweep_runs_every_point_of_the_grid_and_saves_a_table(tmp_path: Path) -> None:
    tape = write_scenario_tape(tmp_path)
    grid = tmp_path / "grid.toml"
    grid.write_text(
        f'strategy = "{SCRIPTED}"\ndata = "{tape}"\n[grid]\nexit_price = ["103", "104"]\nsize = ["1", "2"]\n'
    )
    out = tmp_path / "sweep.parquet"
    done = sq("backtest", "sweep", "--grid", str(grid), "--processes", "2", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    frame = pd.read_parquet(out)
    assert list(frame[["exit_price", "size"]].itertuples(index=False, name=None)) == [
        ("103", "1"), ("103", "2"), ("104", "1"), ("104", "2")
    ]  # fmt: skip
    # 103 is below the print at 103.5 (filled), 104 above it (not): two fills or one.
    assert list(frame["fills"]) == [2, 2, 1, 1]
    assert len(json.loads(done.stdout)["runs"]) == 4
