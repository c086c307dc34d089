"""Market data reads: a symbol's order book and its microstructure analytics, any role may read them.

They answer from ``connectors.marketdata.views.MarketViews``, which the app starts with itself and which keeps
every symbol's view current in memory from the orderbook processor's changelog and ``md.analytics``: no
request reads the log. `sq book` and `sq analytics` print the same documents, read once. Prices and quantities
are decimal strings, as everywhere in the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from api.deps import Reader
from api.errors import ApiProblem, responses
from api.models import Problem
from connectors.marketdata.views import MarketDataUnreadable, MarketViews, NoMarketData, ViewNotReady

router = APIRouter(prefix="/v1", tags=["market"])

MAX_DEPTH = 1000

Symbol = Annotated[
    str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$", description="Instrument symbol, e.g. BTCUSDT.")
]
NO_DATA: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "NO_MARKET_DATA: the orderbook processor holds nothing of this symbol."},
    503: {
        "model": Problem,
        "description": "VIEW_NOT_READY: the view of this symbol is not known yet (its source is being read); "
        "BROKER_UNAVAILABLE as everywhere. Retry-After says when to ask again.",
    },
}


class BookView(BaseModel):
    symbol: str
    venue: str
    sequence: int | None = Field(description="Venue update id the book is consistent with.")
    bids: list[list[str]] = Field(description="[price, quantity] per level, best first, as decimal strings.")
    asks: list[list[str]] = Field(description="[price, quantity] per level, best first, as decimal strings.")
    stale: bool = Field(description="True while the book is not known to be in sync (gap, resync pending).")


class AnalyticsPoint(BaseModel):
    """One md.analytics record's figures (GET /v1/analytics/{symbol}/history answers a series of them)."""

    symbol: str
    venue: str
    window_end_us: int = Field(description="Event-time end of the window the values describe (microseconds).")
    spread: float | None
    mid: float | None
    microprice: float | None
    depth_imbalance: float | None
    realized_volatility: float | None
    trade_flow_imbalance: float | None
    vpin: float | None
    kyle_lambda: float | None
    kyle_lambda_t: float | None
    pin: float | None


class AnalyticsView(AnalyticsPoint):
    windows: int = Field(
        description="How many analytics records of the symbol this view has read (it reads md.analytics from "
        "near its end, not from the beginning)."
    )


def _views(request: Request) -> MarketViews:
    views: MarketViews = request.app.state.market_views
    return views


def _problem(error: ViewNotReady | NoMarketData | MarketDataUnreadable) -> ApiProblem:
    if isinstance(error, MarketDataUnreadable):  # the view never could read its source: not a stale answer
        return ApiProblem(503, f"broker unavailable: {error}", "BROKER_UNAVAILABLE", headers={"Retry-After": "1"})
    if isinstance(error, ViewNotReady):
        return ApiProblem(503, str(error), "VIEW_NOT_READY", headers={"Retry-After": "1"})
    return ApiProblem(404, str(error), "NO_MARKET_DATA")


# async: the answer is in memory (no I/O), so a thread pool hop would only add latency.
@router.get(
    "/books/{symbol}",
    response_model=BookView,
    summary="A symbol's order book, best levels first",
    responses={**responses(401, 403, 429), **NO_DATA},
)
async def get_book(
    symbol: Symbol,
    _principal: Reader,
    request: Request,
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH, description="Levels per side.")] = 10,
) -> BookView:
    """The L2 book as the orderbook processor last committed it (its changelog), any depth."""
    try:
        return BookView(**_views(request).book(symbol, depth))
    except (ViewNotReady, NoMarketData, MarketDataUnreadable) as error:
        raise _problem(error) from None


@router.get(
    "/analytics/{symbol}",
    response_model=AnalyticsView,
    summary="A symbol's latest analytics",
    responses={**responses(401, 403, 429), **NO_DATA},
)
async def get_analytics(symbol: Symbol, _principal: Reader, request: Request) -> AnalyticsView:
    """Every microstructure measure of the last analytics interval the orderbook processor published, by name;
    null where its window had too little data."""
    try:
        return AnalyticsView(**_views(request).analytics(symbol))
    except (ViewNotReady, NoMarketData, MarketDataUnreadable) as error:
        raise _problem(error) from None
