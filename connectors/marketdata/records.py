"""Messages → the Avro records of md.depth, md.trades and md.feed.status, as ``processors.core.Emit``s.

Ids are chosen by the caller (a feed session or a tape row) so the same venue event always gets the same
event id; ``event_id_for`` derives one from a stable description of the event.
"""

from __future__ import annotations

from typing import Final

from connectors.marketdata.messages import DepthDiff, Level, MarketMessage, TradePrint
from processors.core import Emit, Record, derived_event_id
from schemas.names import DEPTH_SNAPSHOT, DEPTH_UPDATE, FEED_STATUS, TRADE
from topics.catalogue import MD_DEPTH, MD_FEED_STATUS, MD_TRADES

FEED_STATES: Final = ("CONNECTED", "DISCONNECTED", "STALLED", "GAP_DETECTED", "RESYNCED")
_ID_STAGE: Final = "md"  # the namespace of market data ids: the same event has one id whichever connector sent it


def event_id_for(description: str) -> str:
    """A stable event id for a described market data event, e.g. ``"binance-spot|BTCUSDT|trade|42"``."""
    return derived_event_id(description, _ID_STAGE, 0)


def meta(event_id: str, producer: str, event_time_us: int, ingest_time_us: int, correlation_id: str) -> Record:
    return {
        "event_id": event_id,
        "producer": producer,
        "event_time_us": event_time_us,
        "ingest_time_us": ingest_time_us,
        "causation_id": None,
        "correlation_id": correlation_id,
    }


def _levels(levels: tuple[Level, ...]) -> list[Record]:
    return [{"price": price, "quantity": quantity} for price, quantity in levels]


def to_emit(message: MarketMessage, venue: str, envelope: Record) -> Emit:
    """The record of one message, keyed by symbol, with ``envelope`` as its meta."""
    if isinstance(message, TradePrint):
        record: Record = {
            "meta": envelope,
            "venue": venue,
            "symbol": message.symbol,
            "trade_id": message.trade_id,
            "price": message.price,
            "quantity": message.quantity,
            "aggressor": message.aggressor,
        }
        return Emit(MD_TRADES, message.symbol, TRADE, record)
    if isinstance(message, DepthDiff):
        record = {
            "meta": envelope,
            "venue": venue,
            "symbol": message.symbol,
            "first_update_id": message.first_id,
            "last_update_id": message.last_id,
            "previous_last_update_id": message.previous_last_id,
            "bids": _levels(message.bids),
            "asks": _levels(message.asks),
        }
        return Emit(MD_DEPTH, message.symbol, DEPTH_UPDATE, record)
    record = {
        "meta": envelope,
        "venue": venue,
        "symbol": message.symbol,
        "last_update_id": message.last_update_id,
        "bids": _levels(message.bids),
        "asks": _levels(message.asks),
    }
    return Emit(MD_DEPTH, message.symbol, DEPTH_SNAPSHOT, record)


def feed_status(venue: str, symbol: str, status: str, detail: str, envelope: Record) -> Emit:
    if status not in FEED_STATES:
        raise ValueError(f"unknown feed state {status!r}; known: {', '.join(FEED_STATES)}")
    record: Record = {"meta": envelope, "venue": venue, "symbol": symbol, "status": status, "detail": detail}
    return Emit(MD_FEED_STATUS, symbol, FEED_STATUS, record)
