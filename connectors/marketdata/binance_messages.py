"""Binance frames and REST snapshots → messages (pure: text in, dataclasses out).

Markets: ``spot``, ``futures`` (USD-M futures, fapi) and ``coinm`` (COIN-M futures, dapi). Documented payloads
(spot "Diff. Depth Stream" / "Trade Streams", futures "Diff. Book Depth Streams" / "Aggregate Trade
Streams"): ``depthUpdate`` with ``U`` (first update id), ``u`` (final update id), futures also ``pu`` (the
previous event's ``u``), ``b``/``a`` as ``[[price, quantity], …]`` decimal strings; ``trade`` (spot, id
``t``) and ``aggTrade`` (id ``a``) with ``p``, ``q``, ``T`` (trade time, ms) and ``m`` (the buyer is the
maker, so the taker sold). Combined streams wrap a payload as ``{"stream", "data"}``. The REST depth
snapshot is ``{"lastUpdateId", "bids", "asks"}`` (futures add ``E``/``T``). COIN-M quantities are contracts.
Decimal strings are parsed exactly (``json`` reads non-integers as ``Decimal``); nothing goes through float.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

from connectors.marketdata.amounts import parse_amount
from connectors.marketdata.messages import BookSnapshot, DepthDiff, Level, TradePrint
from schemas.scales import PRICE_DECIMALS, QUANTITY_DECIMALS, to_fixed

Market = Literal["spot", "futures", "coinm"]
MARKETS: Final[tuple[Market, ...]] = ("spot", "futures", "coinm")
MS: Final = 1000


def venue_of(market: Market) -> str:
    """The venue id of a market's records (``processors.orderbook.sequencing.RULES`` knows its rule by it)."""
    return f"binance-{market}"


class MalformedFrame(ValueError):
    """A frame or snapshot that cannot be used; the message says precisely why."""


@dataclass(frozen=True, slots=True)
class ServerShutdown:
    """Binance's notice that the server is about to close the connection: reconnect now."""


def _load(text: str | bytes) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedFrame(f"not JSON: {error}") from None


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedFrame(f"{key!r} must be an integer, got {value!r}")
    return value


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedFrame(f"{key!r} must be a non-empty string, got {value!r}")
    return value


def _amount(value: Any, decimals: int, what: str, allow_zero: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, str | Decimal | int):
        raise MalformedFrame(f"{what} must be a decimal string, got {value!r}")
    try:
        fixed = parse_amount(value, decimals) if isinstance(value, str) else to_fixed(value, decimals)
    except (ValueError, TypeError) as error:
        raise MalformedFrame(f"{what}: {error}") from None
    if fixed < 0 or (fixed == 0 and not allow_zero):
        raise MalformedFrame(f"{what} must be {'non-negative' if allow_zero else 'positive'}, got {value}")
    return fixed


def parse_levels(raw: Any, what: str) -> tuple[Level, ...]:
    """``[[price, quantity], …]`` → fixed-point levels; quantity 0 is allowed (it removes a level)."""
    if not isinstance(raw, list):
        raise MalformedFrame(f"{what} must be a list of [price, quantity], got {raw!r}")
    levels = []
    for entry in raw:
        if not isinstance(entry, list) or len(entry) < 2:
            raise MalformedFrame(f"{what} level must be [price, quantity], got {entry!r}")
        price = _amount(entry[0], PRICE_DECIMALS, f"{what} price", allow_zero=False)
        levels.append((price, _amount(entry[1], QUANTITY_DECIMALS, f"{what} quantity", allow_zero=True)))
    return tuple(levels)


def _payload(frame: Any) -> dict[str, Any]:
    if not isinstance(frame, dict):
        raise MalformedFrame(f"a frame must be a JSON object, got {type(frame).__name__}")
    data = frame.get("data", frame) if "stream" in frame else frame
    if not isinstance(data, dict):
        raise MalformedFrame(f"'data' must be a JSON object, got {type(data).__name__}")
    return data


def parse_frame(text: str | bytes, market: Market) -> DepthDiff | TradePrint | ServerShutdown | None:
    """One WebSocket frame → a message, ``ServerShutdown``, or None for a request's acknowledgement."""
    frame = _load(text)
    data = _payload(frame)
    if "e" not in data and "id" in data and ("result" in data or "error" in data):
        return None  # the answer to a (un)subscribe request, not market data
    kind = data.get("e")
    if kind == "depthUpdate":
        return _depth(data, market)
    if kind in ("trade", "aggTrade"):
        return _trade(data, "t" if kind == "trade" else "a")
    if kind == "serverShutdown":
        return ServerShutdown()
    raise MalformedFrame(f"unknown event type {kind!r}")


def _depth(data: dict[str, Any], market: Market) -> DepthDiff:
    first, last = _int(data, "U"), _int(data, "u")
    if first > last:
        raise MalformedFrame(f"first update id U={first} is after the final update id u={last}")
    previous = None if market == "spot" else _int(data, "pu")
    time_ms = _int(data, "T") if "T" in data else _int(data, "E")
    return DepthDiff(
        symbol=_str(data, "s"),
        first_id=first,
        last_id=last,
        previous_last_id=previous,
        time_us=time_ms * MS,
        bids=parse_levels(data.get("b"), "bid"),
        asks=parse_levels(data.get("a"), "ask"),
    )


def _trade(data: dict[str, Any], id_key: str) -> TradePrint:
    maker = data.get("m")
    if not isinstance(maker, bool):
        raise MalformedFrame(f"'m' (buyer is maker) must be true or false, got {maker!r}")
    return TradePrint(
        symbol=_str(data, "s"),
        trade_id=str(_int(data, id_key)),
        price=_amount(data.get("p"), PRICE_DECIMALS, "trade price", allow_zero=False),
        quantity=_amount(data.get("q"), QUANTITY_DECIMALS, "trade quantity", allow_zero=False),
        aggressor="SELL" if maker else "BUY",
        time_us=_int(data, "T") * MS,
    )


def parse_snapshot(body: str | bytes, symbol: str, received_us: int) -> BookSnapshot:
    """A REST depth snapshot; its time is the venue's ``T``/``E`` when given (futures), else ``received_us``."""
    data = _load(body)
    if not isinstance(data, dict):
        raise MalformedFrame(f"a depth snapshot must be a JSON object, got {type(data).__name__}")
    if "lastUpdateId" not in data and "code" in data:
        raise MalformedFrame(f"the venue answered an error: {data.get('code')} {data.get('msg')}")
    time_us = received_us
    for key in ("T", "E"):
        if key in data:
            time_us = _int(data, key) * MS
            break
    return BookSnapshot(
        symbol=symbol,
        last_update_id=_int(data, "lastUpdateId"),
        time_us=time_us,
        bids=parse_levels(data.get("bids"), "bid"),
        asks=parse_levels(data.get("asks"), "ask"),
    )


def stream_names(market: Market, symbols: tuple[str, ...]) -> list[str]:
    """The combined-stream names: diff depth at 100 ms and trades (futures: aggregate trades) per symbol."""
    trades = "trade" if market == "spot" else "aggTrade"
    return [f"{s.lower()}@{stream}" for s in symbols for stream in ("depth@100ms", trades)]
