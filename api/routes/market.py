"""Market data reads: a symbol's order book and its microstructure analytics, any role may read them.

They answer what `sq book` and `sq analytics` print, computed the same way: the symbol's ``md.depth`` and
``md.trades`` events from the beginning, merged in event time, replayed through the ``OrderBookCore`` the
orderbook processor runs (``sq.commands.book.replay``); analytics are the last ``MarketAnalytics`` it computes
once the topics are read to their end (``OrderBookCore.end_of_input``), every measure by name
(``sq.commands.analytics.MEASURES``). Prices and quantities are decimal strings, as everywhere in the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.deps import Reader, Res
from api.errors import ApiProblem, responses
from api.models import Problem
from processors.core import Event
from processors.orderbook.book import Level
from processors.orderbook.core import MARKET_ANALYTICS, OrderBookCore
from schemas.scales import PRICE_DECIMALS, QUANTITY_DECIMALS, format_fixed
from sq.commands.analytics import MEASURES
from sq.commands.book import MarketDataUnreadable, replay, symbol_events
from sq.settings import Settings
from topics.catalogue import MD_DEPTH

router = APIRouter(prefix="/v1", tags=["market"])

READ_TIMEOUT_S = 15.0
MAX_DEPTH = 1000

Symbol = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$",
                             description="Instrument symbol, e.g. BTCUSDT.")]  # fmt: skip
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


def market_events(settings: Settings, symbol: str) -> list[Event]:
    """The symbol's market data (``sq.commands.book.symbol_events``); a 503 while the broker cannot be read."""
    try:
        return symbol_events(settings, symbol, READ_TIMEOUT_S)
    except MarketDataUnreadable as error:
        raise ApiProblem(503, str(error), "BROKER_UNAVAILABLE", headers={"Retry-After": "1"}) from None


def _decimal_levels(levels: list[Level]) -> list[list[str]]:
    return [[format_fixed(price, PRICE_DECIMALS), format_fixed(quantity, QUANTITY_DECIMALS)]
            for price, quantity in levels]  # fmt: skip


@router.get("/books/{symbol}", response_model=BookView, summary="A symbol's order book, best levels first",
            responses={**responses(401, 403, 429, 503), **NO_DATA})  # fmt: skip
def get_book(
    symbol: Symbol, _principal: Reader, res: Res,
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH, description="Levels per side.")] = 10,
) -> BookView:  # fmt: skip
    """The L2 book the orderbook processor holds for ``symbol`` (rebuilt from ``md.depth``)."""
    events = market_events(res.config.settings, symbol)
    if not any(event.topic == MD_DEPTH for event in events):
        raise ApiProblem(404, f"no depth for {symbol} in {MD_DEPTH}", "NO_MARKET_DATA")
    core = OrderBookCore()
    replay(core, events)
    view = core.book_view(symbol, depth)
    assert view is not None  # the symbol had depth events
    return BookView(symbol=symbol, venue=view["venue"], sequence=view["sequence"],
                    bids=_decimal_levels(view["bids"]), asks=_decimal_levels(view["asks"]),
                    stale=view["stale"])  # fmt: skip


@router.get("/analytics/{symbol}", response_model=AnalyticsView, summary="A symbol's latest analytics",
            responses={**responses(401, 403, 429, 503), **NO_DATA})  # fmt: skip
def get_analytics(symbol: Symbol, _principal: Reader, res: Res) -> AnalyticsView:
    """Every microstructure measure of the last whole analytics interval, by name; null where its window had
    too little data."""
    events = market_events(res.config.settings, symbol)
    if not events:
        raise ApiProblem(404, f"no market data for {symbol}", "NO_MARKET_DATA")
    core = OrderBookCore()
    emits = replay(core, events) + core.end_of_input(symbol)  # the topics were read to their end
    published = [emit.record for emit in emits if emit.schema == MARKET_ANALYTICS]
    if not published:
        raise ApiProblem(404, f"the market data of {symbol} spans less than one analytics interval "
                         f"({core.config.interval_us} us of event time)", "NO_MARKET_DATA")  # fmt: skip
    latest = published[-1]
    return AnalyticsView(symbol=symbol, venue=latest["venue"], window_end_us=latest["window_end_us"],
                         windows=len(published), **{name: latest[name] for name in MEASURES})  # fmt: skip
