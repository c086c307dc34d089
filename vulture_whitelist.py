"""Names vulture (`make lint`) cannot see used: read by a framework, by name, or kept for a reason.

Never run; every line names what uses the name. Anything else vulture reports is deleted, not listed here.
"""

from http.server import BaseHTTPRequestHandler

import uvicorn

from api import app, models, read_your_writes
from api.routes import analytics, audit, market, operations
from connectors.marketdata import binance_client
from connectors.postgres import read_models
from processors.runtime import metrics

app.app_factory  # the entry point of `uvicorn --factory api.app:app_factory` (the API under other servers)

# Response fields: FastAPI serialises them, no code reads them.
models.RiskLimitsPublic.updated_at
models.OrderPublic.created_time
models.OrderPublic.updated_time
models.PositionPublic.updated_time
market.AnalyticsView.window_end_us
market.AnalyticsView.windows
market.AnalyticsView.kyle_lambda_t
analytics.VarFigures.var_cash
analytics.VarFigures.es_cash
analytics.TcaPublic.end_time_us

# Row fields: `as_json` hands them on whole (dataclasses.asdict).
read_models.OrderEventRow.source_topic
read_models.OrderEventRow.source_partition
read_models.OrderEventRow.source_offset

# The close task's only strong reference: asyncio keeps weak ones, and a task it drops may never run.
binance_client.BinanceClient._closing

# Read by uvicorn's serve loop (the tests' API server sets it to stop the server).
uvicorn.Server.should_exit

# The stdlib's HTTP server calls these by name.
BaseHTTPRequestHandler.do_GET
BaseHTTPRequestHandler.log_message

# Response fields: FastAPI serializes them (POST /v1/orders?wait=).
models.OrderAccepted.pending_projection
# A query value FastAPI parses by its string (?wait=accepted).
read_your_writes.Until.ACCEPTED

# Strategies are loaded by name (replay.backtest.strategy.STRATEGIES) or as module:Class.
from bench import backtest as bench_backtest  # noqa: E402
from replay.backtest.strategies import market_maker, momentum  # noqa: E402
from tests.kit import backtest as kit_backtest  # noqa: E402

market_maker.MarketMaker
momentum.Momentum
kit_backtest.Scripted
bench_backtest.Idle

# Read by Selenium when it starts the browser (tests.kit.browser: the system's Chromium).
from selenium.webdriver.chrome.options import Options as ChromeOptions  # noqa: E402

ChromeOptions.binary_location

# Response fields of the console's routes: FastAPI serialises them, the console's JavaScript reads them.
operations.ControlEntry.trigger_count
operations.ControlEntry.cool_down_until
operations.ControlState.kill_switches

# socketserver reads it: a scrape in flight never holds a process up at exit.
metrics._Server.daemon_threads

# Response fields: FastAPI serializes them (GET /v1/orders/{id}/audit).
audit.AuditLine.timestamp_us
