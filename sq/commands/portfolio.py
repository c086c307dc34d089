"""`sq portfolio risk ACCOUNT` and `sq portfolio optimize ACCOUNT --method …`: an account's portfolio risk, and
target weights with the rebalancing orders that reach them (docs/PORTFOLIO_ANALYTICS.md).

Both read the account's positions from the projection and its symbols' trades over the lookback from
md.trades (``connectors.analytics.portfolio``, which the API's routes use too). `optimize` prints the orders
and produces them to orders.commands only with ``--submit``, as POST /v1/orders would (``api.rebalance``).
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import datetime
from decimal import InvalidOperation
from typing import Any

import psycopg

from api.commands import Origin, micros
from api.rebalance import new_order_records
from connectors.analytics.portfolio import (
    DEFAULT_BENCHMARK,
    Optimization,
    Window,
    optimize,
    risk_document,
)
from connectors.marketdata.views import MarketDataUnreadable
from processors.analytics.portfolio import DEFAULT_RISK_AVERSION, METHODS, AnalyticsError
from schemas.names import NEW_ORDER
from schemas.scales import CASH_DECIMALS, QUANTITY_DECIMALS, to_fixed
from settings import load_settings
from sq.errors import CommandError
from sq.output import emit_json, progress, say, table
from topics.catalogue import ORDERS_COMMANDS
from topics.client import AvroProducer, DeliveryError

TIMEOUT_S = 5


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("portfolio", help="an account's portfolio risk, or target weights and rebalancing")
    commands = parser.add_subparsers(dest="portfolio_command", required=True, metavar="SUBCOMMAND")

    risk = commands.add_parser("risk", help="volatility, beta, correlation, historical and parametric VaR / ES")
    _window_arguments(risk)
    risk.add_argument("--confidence", type=float, default=0.95, help="VaR and ES confidence (default 0.95)")
    risk.add_argument(
        "--benchmark",
        default=DEFAULT_BENCHMARK,
        help=f"symbol betas are measured against (default {DEFAULT_BENCHMARK}; 'none' for no beta)",
    )
    risk.set_defaults(handler=run_risk)

    opt = commands.add_parser("optimize", help="target weights and the orders that reach them (--submit sends them)")
    _window_arguments(opt)
    opt.add_argument("--method", choices=METHODS, required=True)
    opt.add_argument("--risk-aversion", type=float, help=f"λ of mean_variance only (default {DEFAULT_RISK_AVERSION:g})")
    opt.add_argument("--long-only", action="store_true", help="no negative weight (risk_parity never has one)")
    opt.add_argument("--symbol", action="append", default=[], help="a symbol to include at 0 held (repeatable)")
    opt.add_argument("--capital", help="cash to allocate, a decimal (default: the account's net exposure)")
    opt.add_argument("--lot", default="0.00000001", help="round target quantities toward zero to this step")
    opt.add_argument("--submit", action="store_true", help="produce the orders to orders.commands")
    opt.set_defaults(handler=run_optimize)


def _window_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("account")
    parser.add_argument("--lookback", type=int, default=3600, help="seconds of recorded trades (default 3600)")
    parser.add_argument("--bar", type=int, default=60, help="bar length in seconds (default 60)")
    parser.add_argument("--to", type=_aware_time, help="end of the window, ISO 8601 with zone (default now)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def _aware_time(text: str) -> int:
    """An ISO 8601 time with its zone, as microseconds since the epoch."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a zone, e.g. {text}Z")
    return micros(moment)


def _window(args: argparse.Namespace) -> Window:
    try:
        return Window(time.time_ns() // 1000 if args.to is None else args.to, args.lookback, args.bar)
    except AnalyticsError as error:
        raise CommandError(f"{error}: change --lookback or --bar") from None


def _fixed(text: str, decimals: int, option: str) -> int:
    try:
        value = to_fixed(text, decimals)
    except (ValueError, InvalidOperation) as error:
        raise CommandError(f"{option} {text!r}: {error}") from None
    if value <= 0:
        raise CommandError(f"{option} must be positive, not {text}")
    return value


def _connect() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(load_settings().database_url, connect_timeout=TIMEOUT_S)
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach PostgreSQL ({error}); is it running? try `sq infra status`") from None


def _failed(error: Exception) -> CommandError:
    if isinstance(error, MarketDataUnreadable):
        return CommandError(f"{error}; is the broker up (`sq infra status`)?")
    return CommandError(f"{error}")


def _number(value: float | None, digits: int = 6) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def run_risk(args: argparse.Namespace) -> int:
    window = _window(args)
    benchmark = None if args.benchmark.lower() == "none" else args.benchmark
    progress(f"reading {args.account}'s positions and {args.lookback} s of md.trades")
    try:
        with _connect() as conn:
            document = risk_document(
                conn, load_settings(), args.account, window, confidence=args.confidence, benchmark=benchmark
            )
    except (AnalyticsError, MarketDataUnreadable) as error:
        raise _failed(error) from None
    if args.json:
        emit_json(document)
        return 0
    say(
        f"{args.account}: gross exposure {document['gross_exposure']:.2f}, net {document['net_exposure']:.2f}, "
        f"{document['observations']} bars of {args.bar} s"
    )
    symbols = document["symbols"]
    table(
        ("symbol", "exposure", "weight", "volatility/bar", "annualized", f"beta ({benchmark or 'none'})"),
        [
            (
                s,
                f"{document['exposures'][s]:.2f}",
                f"{document['weights'][s]:.4f}",
                _number(document["volatility"][s]),
                _number(document["annualized_volatility"][s]),
                _number(document["beta"][s], 4),
            )
            for s in symbols
        ],
        right={1, 2, 3, 4, 5},
    )
    say(
        f"portfolio: volatility/bar {_number(document['portfolio_volatility'])}, annualized "
        f"{_number(document['portfolio_annualized_volatility'])}, beta {_number(document['portfolio_beta'], 4)}"
    )
    var = document["var"]
    table(
        (f"one bar at {document['confidence']:g}", "VaR", "ES", "VaR (cash)", "ES (cash)"),
        [
            (kind, _number(f["var"]), _number(f["es"]), f"{f['var_cash']:.2f}", f"{f['es_cash']:.2f}")
            for kind, f in var.items()
        ],
        right={1, 2, 3, 4},
    )
    if len(symbols) > 1:
        table(
            ("correlation", *symbols),
            [(a, *(_number(document["correlation"][a][b], 4) for b in symbols)) for a in symbols],
            right=set(range(1, len(symbols) + 1)),
        )
    return 0


def run_optimize(args: argparse.Namespace) -> int:
    if args.risk_aversion is not None and args.method != "mean_variance":
        raise CommandError(f"--risk-aversion applies to --method mean_variance only, not {args.method}")
    window = _window(args)
    capital = None if args.capital is None else _fixed(args.capital, CASH_DECIMALS, "--capital")
    lot = _fixed(args.lot, QUANTITY_DECIMALS, "--lot")
    settings = load_settings()
    progress(f"reading {args.account}'s positions and {args.lookback} s of md.trades")
    try:
        with _connect() as conn:
            plan = optimize(
                conn,
                settings,
                args.account,
                window,
                method=args.method,
                symbols=args.symbol,
                risk_aversion=DEFAULT_RISK_AVERSION if args.risk_aversion is None else args.risk_aversion,
                long_only=args.long_only,
                capital=capital,
                lot=lot,
            )
    except (AnalyticsError, MarketDataUnreadable) as error:
        raise _failed(error) from None
    submitted = _submit(plan) if args.submit else None
    if args.json:
        emit_json({**plan.as_json(), "submitted": submitted})
        return 0
    _print_plan(plan, submitted)
    return 0


def _submit(plan: Optimization) -> list[dict[str, str]]:
    def origin() -> Origin:
        return Origin(str(uuid.uuid4()), time.time_ns() // 1000)

    records = new_order_records(plan, origin)
    producer = AvroProducer(load_settings())
    for record in records:
        producer.produce(ORDERS_COMMANDS, plan.account, NEW_ORDER, record)
    try:
        producer.flush()
    except DeliveryError as error:
        raise CommandError(f"{error}; resubmitting the same plan names the same orders (never twice)") from None
    return [{"order_id": r["order_id"], "client_order_id": r["client_order_id"]} for r in records]


def _print_plan(plan: Optimization, submitted: list[dict[str, str]] | None) -> None:
    document = plan.as_json()
    say(
        f"{plan.account}: {plan.method} over {plan.window.lookback_s} s of {plan.window.bar_s} s bars, "
        f"capital {document['capital']}"
    )
    table(
        ("symbol", "current weight", "target weight"),
        [(s, f"{plan.current_weights.get(s, 0.0):.4f}", f"{w:.4f}") for s, w in sorted(plan.target_weights.items())],
        right={1, 2},
    )
    if not plan.orders:
        say("no order: every position is at its target")
        return
    table(
        ("side", "symbol", "quantity", "limit", "held", "target"),
        [
            (o["side"], o["symbol"], o["quantity"], o["price"], o["current_quantity"], o["target_quantity"])
            for o in document["orders"]
        ],
        right={2, 3, 4, 5},
    )
    if submitted is None:
        say(f"{len(plan.orders)} order(s) not submitted: run again with --submit to send them")
        return
    say(f"submitted {len(submitted)} order(s) to {ORDERS_COMMANDS}:")
    for order in submitted:
        say(f"  {order['order_id']}  ({order['client_order_id']})")
