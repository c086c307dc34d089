"""VWAP's shipped volume curve is what its documented command makes from the shipped sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.marketdata.volume_profile import PROFILE_PATH, main, volume_curve
from processors.algos import profile


def test_the_shipped_curve_is_remade_from_the_sample(tmp_path: Path) -> None:
    out = tmp_path / "curve.json"
    assert main(["--out", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads(PROFILE_PATH.read_text())
    assert list(profile.DEFAULT_PROFILE) == json.loads(out.read_text())["weights"]


def test_each_symbol_weighs_the_same_whatever_its_volume() -> None:
    rows = [
        {"kind": "trade", "time_us": 0, "symbol": "A", "quantity": "1"},
        {"kind": "trade", "time_us": 99, "symbol": "A", "quantity": "3"},
        {"kind": "trade", "time_us": 0, "symbol": "B", "quantity": "300"},
        {"kind": "trade", "time_us": 99, "symbol": "B", "quantity": "100"},
        {"kind": "snapshot", "time_us": 50, "symbol": "A", "quantity": None},
    ]
    assert volume_curve(rows, 2) == [0.5, 0.5]  # A: 1/4, 3/4; B: 3/4, 1/4
    with pytest.raises(ValueError, match="no trades"):
        volume_curve(rows[-1:], 2)
