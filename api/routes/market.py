"""Market data reads: a symbol's order book and its microstructure analytics, any role may read them.

They answer what `sq book` and `sq analytics` print, computed by the same functions
(``connectors.marketdata.views``): the symbol's ``md.depth`` and ``md.trades`` replayed through the orderbook
core. Prices and quantities are decimal strings, as everywhere in the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.deps import Reader, Res
from api.errors import ApiProblem, responses
from api.models import Problem
from connectors.marketdata.views import MarketDataUnreadable, NoMarketData, book_view, latest_analytics

router = APIRouter(prefix="/v1", tags=["market"])

READ_TIMEOUT_S = 15.0
MAX_DEPTH = 1000

Symbol = Annotated[
    str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$", description="Instrument symbol, e.g. BTCUSDT.")
]
NO_DATA: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No market data for this symbol in md.depth / md.trades."}
}


class BookView(BaseModel):
    symbol: str
    venue: str
    sequence: int | None = Field(description="Venue update id the book is consistent with.")
    bids: list[list[str]] = Field(description="[price, quantity] per level, best first, as decimal strings.")
    asks: list[list[str]] = Field(description="[price, quantity] per level, best first, as decimal strings.")
    stale: bool = Field(description="True while the book is not known to be in sync (gap, resync pending).")


class AnalyticsView(BaseModel):
    symbol: str
    venue: str
    window_end_us: int = Field(description="Event-time end of the window the values describe (microseconds).")
    windows: int = Field(description="How many analytics windows the replay computed.")
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


def _unavailable(error: MarketDataUnreadable) -> ApiProblem:
    return ApiProblem(503, f"broker unavailable: {error}", "BROKER_UNAVAILABLE", headers={"Retry-After": "1"})


@router.get(
    "/books/{symbol}",
    response_model=BookView,
    summary="A symbol's order book, best levels first",
    responses={**responses(401, 403, 429, 503), **NO_DATA},
)
def get_book(
    symbol: Symbol,
    _principal: Reader,
    res: Res,
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH, description="Levels per side.")] = 10,
) -> BookView:
    """The L2 book the orderbook processor holds for ``symbol`` (rebuilt from ``md.depth``)."""
    try:
        view = book_view(res.config.settings, symbol, depth, READ_TIMEOUT_S)
    except MarketDataUnreadable as error:
        raise _unavailable(error) from None
    except NoMarketData as error:
        raise ApiProblem(404, str(error), "NO_MARKET_DATA") from None
    return BookView(**view)


@router.get(
    "/analytics/{symbol}",
    response_model=AnalyticsView,
    summary="A symbol's latest analytics",
    responses={**responses(401, 403, 429, 503), **NO_DATA},
)
def get_analytics(symbol: Symbol, _principal: Reader, res: Res) -> AnalyticsView:
    """Every microstructure measure of the last whole analytics interval, by name; null where its window had
    too little data."""
    try:
        latest = latest_analytics(res.config.settings, symbol, READ_TIMEOUT_S)
    except MarketDataUnreadable as error:
        raise _unavailable(error) from None
    except NoMarketData as error:
        raise ApiProblem(404, str(error), "NO_MARKET_DATA") from None
    return AnalyticsView(**latest)
