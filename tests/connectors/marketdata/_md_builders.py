"""Builders shared by the market data connector tests: Binance frames as the venue sends them."""

from __future__ import annotations

import json
from typing import Any

from connectors.marketdata.messages import DepthDiff

P = 100_000_000  # one unit of price, fixed-point
Q = 100_000_000  # one unit of quantity, fixed-point
T0_MS = 1_767_225_600_000


def depth_frame(
    symbol: str,
    first: int,
    last: int,
    *,
    pu: int | None = None,
    bids: Any = (),
    asks: Any = (),
    time_ms: int = T0_MS,
    combined: bool = True,
) -> str:
    payload: dict[str, Any] = {
        "e": "depthUpdate",
        "E": time_ms,
        "s": symbol,
        "U": first,
        "u": last,
        "b": [list(level) for level in bids],
        "a": [list(level) for level in asks],
    }
    if pu is not None:
        payload["T"] = time_ms - 1
        payload["pu"] = pu
    return json.dumps({"stream": f"{symbol.lower()}@depth@100ms", "data": payload} if combined else payload)


def trade_frame(
    symbol: str,
    trade_id: int,
    price: str,
    quantity: str,
    *,
    buyer_is_maker: bool = False,
    time_ms: int = T0_MS,
    aggregate: bool = False,
) -> str:
    payload: dict[str, Any] = {
        "e": "aggTrade" if aggregate else "trade",
        "E": time_ms + 1,
        "s": symbol,
        "a" if aggregate else "t": trade_id,
        "p": price,
        "q": quantity,
        "T": time_ms,
        "m": buyer_is_maker,
    }
    return json.dumps({"stream": f"{symbol.lower()}@trade", "data": payload})


def snapshot_body(last_update_id: int, bids: Any = (("100.00", "1"),), asks: Any = (("100.01", "2"),)) -> str:
    return json.dumps(
        {"lastUpdateId": last_update_id, "bids": [list(b) for b in bids], "asks": [list(a) for a in asks]}
    )


def diff(first: int, last: int, previous: int | None = None, symbol: str = "BTCUSDT") -> DepthDiff:
    return DepthDiff(symbol, first, last, previous, T0_MS * 1000, ((100 * P, Q),), ())
