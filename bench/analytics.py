"""Portfolio analytics and TCA: the pure computations' cost, and reading a symbol's recorded market data.

    .venv/bin/python -m bench.analytics [--symbols 20] [--bars 1440] [--fills 1000] [--market 100000]
                                        [--trades 200000] [--repeat 5] [--skip-broker] [--json]

- portfolio (no I/O): ``--symbols`` symbols with ``--bars`` one-minute bars of seeded random-walk trades (one
  trade per bar and symbol): sampling them into bars, the risk report, and each optimiser's target weights.
- tca (no I/O): a parent with ``--fills`` fills on 3 venues and ``--market`` book tops and as many trades.
- history (the broker): ``--trades`` trades of one symbol on md.trades under a throwaway prefix;
  ``connectors.marketdata.history.symbol_records`` over their whole range (what a risk or TCA request reads)
  against the baseline of the same records read and decoded whole by ``topics.client.read_topic``, in
  records/s.

Pure figures are the median of ``--repeat`` runs in process CPU time; the history figures are wall time.
Figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from bench.common import BenchTopics, Reporter, busy_warning, machine_info, median_of_runs, now_us, rate
from connectors.marketdata.history import symbol_records
from processors.analytics.portfolio import bar_closes, risk_report, simple_returns, target_weights
from processors.analytics.tca import Fill, MarketTrade, OrderUnderAnalysis, Quote, analyse
from schemas.codec import default_codec
from schemas.examples import example_event
from schemas.names import TRADE
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE
from settings import load_settings
from topics.catalogue import MD_TRADES
from topics.client import AvroProducer, read_topic

MINUTE_US = 60_000_000
T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


def _cpu(work: Callable[[], object]) -> Callable[[], float]:
    def measure() -> float:
        began = time.process_time()
        work()
        return time.process_time() - began

    return measure


def random_walk_trades(symbols: int, bars: int, seed: int = 7) -> dict[str, list[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    trades = {}
    for n in range(symbols):
        prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, bars)))
        trades[f"S{n:03d}"] = [(T0 + i * MINUTE_US + 30_000_000, round(p * PRICE_SCALE)) for i, p in enumerate(prices)]
    return trades


def portfolio_figures(args: argparse.Namespace, reporter: Reporter) -> None:
    trades = random_walk_trades(args.symbols, args.bars)
    window = {"start_us": T0, "end_us": T0 + args.bars * MINUTE_US, "bar_us": MINUTE_US}
    closes = bar_closes(trades, **window)
    returns: pd.DataFrame = simple_returns(closes)
    exposures = {symbol: 1000.0 for symbol in returns.columns}
    detail = f"{args.symbols} symbols x {len(returns)} returns"
    seconds, spread = median_of_runs(_cpu(lambda: bar_closes(trades, **window)), args.repeat)
    reporter.add("portfolio", "trades into bars", seconds * 1000, "ms", f"{detail}; {spread}")
    seconds, spread = median_of_runs(
        _cpu(lambda: risk_report(returns, exposures, confidence=0.95, bar_seconds=60.0)), args.repeat
    )
    reporter.add("portfolio", "risk report", seconds * 1000, "ms", f"{detail}; {spread}")
    for method in ("min_variance", "mean_variance", "risk_parity"):
        seconds, spread = median_of_runs(_cpu(lambda m=method: target_weights(m, returns)), args.repeat)  # type: ignore[misc]
        reporter.add("portfolio", method, seconds * 1000, "ms", f"{detail}; {spread}")
    for method in ("min_variance", "mean_variance"):
        seconds, spread = median_of_runs(
            _cpu(lambda m=method: target_weights(m, returns, long_only=True)),  # type: ignore[misc]
            args.repeat,
        )
        reporter.add("portfolio", f"{method} long-only", seconds * 1000, "ms", f"{detail}; {spread}")


def tca_figures(args: argparse.Namespace, reporter: Reporter) -> None:
    rng = np.random.default_rng(11)
    span = 600_000_000
    order = OrderUnderAnalysis("bench", "X", "BUY", args.fills * QUANTITY_SCALE, T0, T0 + span, "FILLED", 10)
    fills = [
        Fill(T0 + i * span // args.fills, f"V{i % 3}", QUANTITY_SCALE, 100 * PRICE_SCALE + i, 1000)
        for i in range(args.fills)
    ]
    times = np.sort(rng.integers(T0 - 60_000_000, T0 + span, args.market))
    quotes = [Quote(int(t), f"V{i % 3}", 99 * PRICE_SCALE, 101 * PRICE_SCALE, False) for i, t in enumerate(times)]
    market = [MarketTrade(int(t), f"V{i % 3}", 100 * PRICE_SCALE, QUANTITY_SCALE) for i, t in enumerate(times)]
    seconds, spread = median_of_runs(_cpu(lambda: analyse(order, fills, quotes, market)), args.repeat)
    detail = f"{args.fills} fills, {args.market} book tops and {args.market} trades; {spread}"
    reporter.add("tca", "analyse one parent", seconds * 1000, "ms", detail)


def history_figures(args: argparse.Namespace, reporter: Reporter, topics: BenchTopics) -> None:
    settings, _ = topics.create("history", MD_TRADES)
    producer = AvroProducer(settings)
    start = now_us() - args.trades  # one µs of event time apart, ending now
    for n in range(args.trades):
        record = example_event(TRADE, seq=n)
        record["meta"]["event_time_us"] = start + n
        record.update(symbol="BTCUSDT", trade_id=str(n), price=100 * PRICE_SCALE + n % 1000)
        producer.produce(MD_TRADES, "BTCUSDT", TRADE, record)
    producer.flush(120)
    reporter.progress(f"{args.trades} trades produced")

    began = time.perf_counter()
    found = symbol_records(settings, MD_TRADES, "BTCUSDT", from_us=start, to_us=start + args.trades, timeout_s=300)
    seconds = time.perf_counter() - began
    reporter.add(
        "history", "symbol_records", rate(len(found), seconds), "records/s", f"{len(found)} in {seconds:.2f} s"
    )

    codec = default_codec()
    began = time.perf_counter()
    decoded = sum(1 for r in read_topic(settings, MD_TRADES, timeout_s=300) if r.value and codec.decode(r.value))
    seconds = time.perf_counter() - began
    reporter.add(
        "history", "baseline: read_topic + decode", rate(decoded, seconds), "records/s", f"{decoded} in {seconds:.2f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.analytics", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--bars", type=int, default=1440, help="one-minute bars (1440: a day)")
    parser.add_argument("--fills", type=int, default=1000)
    parser.add_argument("--market", type=int, default=100_000, help="book tops, and as many trades, for the TCA")
    parser.add_argument("--trades", type=int, default=200_000, help="trades on md.trades for the history read")
    parser.add_argument("--repeat", type=int, default=5, help="runs per pure figure; the median is reported")
    parser.add_argument("--skip-broker", action="store_true", help="the pure figures only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    reporter = Reporter(args.json)
    info = machine_info()
    reporter.machine(info)
    if (warning := busy_warning(info)) is not None:
        reporter.line(warning)
    reporter.notes.update(vars(args))
    portfolio_figures(args, reporter)
    tca_figures(args, reporter)
    prefix = None
    if not args.skip_broker:
        topics = BenchTopics(load_settings())
        prefix = topics.prefix
        try:
            history_figures(args, reporter, topics)
        finally:
            topics.cleanup()
    reporter.finish(machine=info, topic_prefix=prefix)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
