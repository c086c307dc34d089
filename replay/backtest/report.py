"""The backtest's HTML report: metrics and four plots (equity, drawdown, positions, fills on the price), one
self-contained file (inline SVG) that any browser opens. The SVG carries no date and fixed ids, so the same
run writes the same bytes."""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from replay.backtest.results import BacktestResults

mpl.rcParams["svg.hashsalt"] = "shrivenquant-backtest"


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _minutes(time_us: pd.Series, start: int) -> pd.Series:
    return (time_us - start) / 60e6


def _plots(results: BacktestResults) -> list[tuple[str, str]]:
    equity, positions, fills = results.equity, results.positions, results.fills
    start = int(equity["time_us"].iloc[0]) if len(equity) else 0
    plots = []
    figure = Figure(figsize=(10, 3))
    axes = figure.subplots()
    axes.plot(_minutes(equity["time_us"], start), equity["equity"], linewidth=1)
    axes.ticklabel_format(axis="y", useOffset=False, style="plain")
    axes.set_xlabel("minutes")
    axes.set_ylabel("equity")
    plots.append(("Equity", _svg(figure)))
    figure = Figure(figsize=(10, 2.5))
    axes = figure.subplots()
    drawdown = equity["equity"] / equity["equity"].cummax() - 1
    axes.fill_between(_minutes(equity["time_us"], start), drawdown * 100, 0, color="tab:red", alpha=0.5)
    axes.set_ylabel("drawdown %")
    axes.set_xlabel("minutes")
    plots.append(("Drawdown", _svg(figure)))
    symbols = sorted(set(fills["symbol"])) or sorted(set(positions["symbol"]))[:1]
    for symbol in symbols:
        mine = positions[positions["symbol"] == symbol]
        figure = Figure(figsize=(10, 2.5))
        axes = figure.subplots()
        axes.step(_minutes(mine["time_us"], start), mine["quantity"], where="post", linewidth=1)
        axes.set_ylabel("position")
        axes.set_xlabel("minutes")
        plots.append((f"Position {symbol}", _svg(figure)))
        figure = Figure(figsize=(10, 3.5))
        axes = figure.subplots()
        axes.plot(_minutes(mine["time_us"], start), mine["mark_price"], color="grey", linewidth=0.8, label="mid")
        traded = fills[fills["symbol"] == symbol]
        for side, marker, color in (("BUY", "^", "tab:green"), ("SELL", "v", "tab:red")):
            part = traded[traded["side"] == side]
            axes.scatter(_minutes(part["time_us"], start), part["price"], marker=marker, color=color, s=14, label=side)
        axes.legend(loc="upper left")
        axes.set_ylabel("price")
        axes.set_xlabel("minutes")
        plots.append((f"Fills on the price {symbol}", _svg(figure)))
    return plots


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.6g}"
    return html.escape(str(value))


def write_report(results: BacktestResults, path: Path) -> Path:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in results.summary.items())
    sections = "".join(f"<h2>{html.escape(title)}</h2>{svg}" for title, svg in _plots(results))
    title = f"Backtest: {html.escape(str(results.summary['strategy']))}"
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font-family:sans-serif;margin:2em}th{text-align:left;padding-right:2em}"
        "td{text-align:right}</style></head>"
        f"<body><h1>{title}</h1><table>{rows}</table>{sections}</body></html>\n"
    )
    return path
