"""Backtest builders shared by the tests and bench/: a small hand-made tape and a scripted strategy whose
every fill, fee and PnL can be worked out by hand (tests/replay/test_backtest_scenario.py does it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.marketdata.tape_io import write_csv
from replay.backtest.strategy import Fill, Strategy, Trade, price_of, quantity_of

T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
S = 1_000_000
SCRIPTED = "tests.kit.backtest:Scripted"


def _row(kind: str, seconds: int, **values: Any) -> dict[str, Any]:
    return {"kind": kind, "time_us": T0 + seconds * S, "venue": "sim", "symbol": "BTCUSDT", **values}


# The book opens 100 / 101; a trade prints at 100.5; later one prints at 103.5 (through a sell resting at 103);
# the book ends 104 / 106 (mid 105).
SCENARIO_ROWS = [
    _row("snapshot", 0, last_update_id=10, bids="100:5", asks="101:5 102:5"),
    _row("trade", 1, trade_id="1", price="100.5", quantity="0.1", aggressor="SELL"),
    _row("trade", 3, trade_id="2", price="103.5", quantity="2", aggressor="BUY"),
    _row("update", 4, first_update_id=11, last_update_id=11, bids="100:0 104:5", asks="101:0 102:0 106:5"),
]


def write_scenario_tape(directory: Path) -> Path:
    path = directory / "scenario.csv"
    write_csv(path, SCENARIO_ROWS)
    return path


class Scripted(Strategy):
    """On the first trade: buy ``size`` (2) at market. Once filled: offer half of it at ``exit_price`` (103)."""

    def on_start(self) -> None:
        self.size = quantity_of(self.ctx.params.get("size", "2"))
        self.exit_price = price_of(self.ctx.params.get("exit_price", "103"))
        self.bought = False
        self.fills: list[Fill] = []

    def on_trade(self, trade: Trade) -> None:
        if not self.bought:
            self.bought = True
            self.ctx.buy(trade.symbol, self.size)

    def on_fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        if fill.side == "BUY" and self.ctx.position(fill.symbol) == self.size:
            self.ctx.sell(fill.symbol, self.size // 2, self.exit_price)
