"""A backtest's results: orders, fills, positions and the equity curve as tables (Parquet), its metrics and
the ``--json`` summary. Amounts are converted from fixed point to decimal floats here, for analysis only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from replay.backtest.engine import BacktestRun
from replay.backtest.metrics import compute_metrics
from schemas.scales import CASH_SCALE, PRICE_SCALE, QUANTITY_SCALE

ORDER_COLUMNS: Final = (
    "order_id", "client_order_id", "symbol", "side", "order_type", "event_type", "status",
    "quantity", "price", "cum_quantity", "leaves_quantity", "last_quantity", "last_price", "fee",
    "fill_id", "liquidity", "reject_reason",
)  # fmt: skip
PRICES: Final = ("price", "last_price", "mark_price", "avg_price")
QUANTITIES: Final = ("quantity", "cum_quantity", "leaves_quantity", "last_quantity")
CASH: Final = ("fee", "value", "realized_pnl", "fees", "equity", "cash")
SCALE_OF: Final = (
    {c: PRICE_SCALE for c in PRICES} | {c: QUANTITY_SCALE for c in QUANTITIES} | dict.fromkeys(CASH, CASH_SCALE)
)


def _decimal(frame: pd.DataFrame) -> pd.DataFrame:
    for column in frame.columns:
        scale = SCALE_OF.get(column)
        if scale is not None:
            frame[column] = frame[column].astype("float64") / scale
    return frame


@dataclass
class BacktestResults:
    orders: pd.DataFrame
    fills: pd.DataFrame
    positions: pd.DataFrame
    equity: pd.DataFrame
    metrics: dict[str, Any]
    summary: dict[str, Any]

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"orders": self.orders, "fills": self.fills, "positions": self.positions, "equity": self.equity}


def build_results(run: BacktestRun) -> BacktestResults:
    config = run.config
    orders = pd.DataFrame(
        [{"time_us": e["meta"]["event_time_us"]} | {c: e[c] for c in ORDER_COLUMNS} for e in run.order_events],
        columns=["time_us", *ORDER_COLUMNS],
    )
    realized: dict[str, int] = {}
    realized_change: dict[str, int] = {}
    for update in run.position_updates:
        before = realized.get(update["symbol"], 0)
        realized[update["symbol"]] = update["realized_pnl"]
        if update["last_fill_id"] is not None:
            realized_change[update["last_fill_id"]] = update["realized_pnl"] - before
    fill_rows = orders[orders["last_quantity"] > 0]
    fills = pd.DataFrame(
        {
            "time_us": fill_rows["time_us"],
            "order_id": fill_rows["order_id"],
            "fill_id": fill_rows["fill_id"],
            "symbol": fill_rows["symbol"],
            "side": fill_rows["side"],
            "quantity": fill_rows["last_quantity"],
            "price": fill_rows["last_price"],
            "fee": fill_rows["fee"],
            "liquidity": fill_rows["liquidity"],
            "realized_pnl": [realized_change.get(f, 0) for f in fill_rows["fill_id"]],
        }
    ).reset_index(drop=True)
    positions = pd.DataFrame(
        run.position_samples, columns=["time_us", "symbol", "quantity", "mark_price", "value", "realized_pnl", "fees"]
    )
    equity = pd.DataFrame(run.samples, columns=["time_us", "equity"])
    orders, fills, positions, equity = (_decimal(f) for f in (orders, fills, positions, equity))
    initial = config.initial_cash / CASH_SCALE
    metrics = compute_metrics(
        equity, fills.rename(columns={"realized_pnl": "realized_pnl_change"}), initial, config.sample_interval_us
    )
    summary = {
        "strategy": config.strategy,
        "account": config.account,
        "market_events": run.market_events,
        "from_us": run.first_time_us,
        "to_us": run.last_time_us,
        "commands": len(run.commands),
        "orders": int(orders["order_id"].nunique()),
        **metrics,
    }
    return BacktestResults(orders, fills, positions, equity, metrics, summary)


def write_results(results: BacktestResults, out: Path) -> dict[str, Path]:
    """The tables as Parquet (written without a timestamp: the same run gives the same bytes) and summary.json."""
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in results.tables().items():
        path = out / f"{name}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, compression="zstd")
        written[name] = path
    summary = out / "summary.json"
    summary.write_text(json.dumps(results.summary, indent=2, sort_keys=True) + "\n")
    written["summary"] = summary
    return written
