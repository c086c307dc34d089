"""`sq backtest`: a strategy on recorded market data through the order path's cores (docs/BACKTEST.md).

sq backtest --data sample|PATH --strategy NAME|module:Class [--from T] [--to T] [--config FILE]
            [--param KEY=VALUE …] [--out DIR] [--open] [--via-kafka [--apply-timeout S]] [--json]
sq backtest sweep --grid FILE [--processes N] [--out FILE] [--json]
"""

from __future__ import annotations

import argparse
import os
import webbrowser
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from replay.backtest.config import backtest_config, read_config_file
from replay.backtest.data import SAMPLE, count_rows, data_paths, data_topics
from replay.backtest.session import ViaKafka, run_to_directory
from replay.backtest.strategy import STRATEGIES
from replay.backtest.sweep import SWEEP_METRICS, read_grid, run_sweep
from replay.backtest.via_kafka import refusal
from sq.errors import CommandError
from sq.output import Activity, emit_json, say, table

APPLY_TIMEOUT_S = 30.0
SUMMARY_LINES = ("total_return", "sharpe", "sortino", "max_drawdown", "fills", "turnover", "fees", "hit_rate")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("backtest", help="run a strategy on recorded market data through the cores")
    parser.add_argument(
        "--data",
        default=SAMPLE,
        help="'sample' (the shipped session), a tape file or a directory, or market data topics read from Kafka "
        "(md.depth,md.trades; 'kafka' for both)",
    )
    parser.add_argument("--strategy", help=f"{', '.join(STRATEGIES)} or module:Class")
    parser.add_argument("--from", dest="start", help="start time: ISO 8601 (UTC) or microseconds since the epoch")
    parser.add_argument("--to", dest="end", help="end time, as --from")
    parser.add_argument("--config", type=Path, help="a TOML file: account, cash, latency, fees, [params]")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a strategy parameter")
    parser.add_argument("--out", type=Path, help="results directory (default backtests/<strategy>)")
    parser.add_argument("--open", action="store_true", help="open the HTML report in a browser")
    parser.add_argument(
        "--via-kafka",
        action="store_true",
        help="run the cores in real workers on a fresh namespace of topics (small data: an event at a time)",
    )
    parser.add_argument(
        "--apply-timeout",
        type=float,
        default=APPLY_TIMEOUT_S,
        metavar="SECONDS",
        help="with --via-kafka: the longest wait for the workers to apply one event (default 30)",
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    sweep = actions.add_parser("sweep", help="a grid of strategy parameters, one backtest per point, over processes")
    sweep.add_argument("--grid", type=Path, required=True, help="a TOML grid file (docs/BACKTEST.md)")
    sweep.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    sweep.add_argument("--out", type=Path, default=Path("backtests/sweep.parquet"))
    sweep.add_argument("--json", action="store_true")
    sweep.set_defaults(handler=run_sweep_command)


def parse_time(text: str | None, option: str) -> int | None:
    """Microseconds since the epoch from digits or an ISO 8601 time (UTC unless it names its offset)."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{option} {text!r}: give an ISO 8601 time (2026-01-01T00:10:00Z) or microseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise CommandError(f"--param {pair!r}: write KEY=VALUE")
        params[key] = value
    return params


def run(args: argparse.Namespace) -> int:
    if args.strategy is None:
        raise CommandError(f"name a strategy: --strategy {'|'.join(STRATEGIES)} or module:Class")
    try:
        settings = read_config_file(args.config) if args.config is not None else {}
        config = backtest_config(
            args.strategy,
            settings,
            params=parse_params(args.param),
            start_us=parse_time(args.start, "--from"),
            end_us=parse_time(args.end, "--to"),
        )
        total = None if data_topics(args.data) is not None else count_rows(data_paths(args.data))
    except (OSError, ValueError) as error:
        raise CommandError(str(error)) from None
    if args.apply_timeout <= 0:
        raise CommandError("--apply-timeout must be positive (seconds)")
    if not args.via_kafka and args.apply_timeout != APPLY_TIMEOUT_S:
        raise CommandError("--apply-timeout is for --via-kafka; add --via-kafka or leave it out")
    if args.via_kafka and (refused := refusal(config)) is not None:
        raise CommandError(refused)
    out = args.out or Path("backtests") / args.strategy.replace(":", "-")
    of_total = "?" if total is None else f"{total:,}"
    namespace: list[str] = []
    try:
        with Activity("backtest" + (" via Kafka" if args.via_kafka else ""), total=total) as activity:
            via_kafka = ViaKafka(args.apply_timeout, namespace.append) if args.via_kafka else None
            results = run_to_directory(
                config,
                args.data,
                out,
                lambda done: activity.status(f"{done:,} of {of_total} events", done),
                via_kafka=via_kafka,
            )
    except ValueError as error:  # a strategy that cannot load or run its parameters, data without events
        raise CommandError(str(error)) from None
    except (KafkaException, RuntimeError, TimeoutError) as error:
        if namespace:  # the workers through Kafka
            raise CommandError(
                f"the backtest through Kafka on {namespace[0]}* failed ({error}); is the broker up (`sq infra "
                "status`)? on a busy machine, give the workers more time with --apply-timeout"
            ) from None
        raise CommandError(  # reading market data topics
            f"cannot read the market data topics ({error}); is the broker up? `sq infra status`"
        ) from None
    summary = results.summary | {"out": str(out), "report": str(out / "report.html")}
    if namespace:
        summary["namespace"] = namespace[0]
    if args.open:
        webbrowser.open((out / "report.html").resolve().as_uri())
    if args.json:
        emit_json(summary)
        return 0
    if namespace:
        say(f"through the workers on {namespace[0]}* (deleted since)")
    say(f"{summary['strategy']}: {summary['market_events']:,} market events, {summary['orders']:,} orders")
    table(["metric", "value"], [[name, _shown(summary[name])] for name in SUMMARY_LINES], right=(1,))
    say(f"results in {out} (orders, fills, positions, equity .parquet); report {out / 'report.html'}")
    return 0


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.6g}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


def run_sweep_command(args: argparse.Namespace) -> int:
    if args.processes < 1:
        raise CommandError("--processes must be at least 1")
    try:
        sweep = read_grid(args.grid)
        data_paths(sweep.data)
    except (OSError, ValueError) as error:
        raise CommandError(f"{args.grid}: {error}") from None
    total = len(sweep.points)
    try:
        with Activity("sweep", total=total) as activity:
            frame = run_sweep(sweep, args.processes, lambda done: activity.status(f"{done} of {total} runs", done))
    except ValueError as error:
        raise CommandError(str(error)) from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(args.out, index=False)
    if args.json:
        emit_json({"runs": frame.to_dict(orient="records"), "out": str(args.out)})
        return 0
    table(list(frame.columns), [[_shown(v) for v in row] for row in frame.itertuples(index=False)])
    say(f"{total} runs of {sweep.strategy}; saved {args.out} (columns: parameters, {', '.join(SWEEP_METRICS)})")
    return 0
