"""A local stand-in for Binance: a venue book per symbol served as diff-depth/trade WebSocket frames (a
websockets server) and REST depth snapshots (a stdlib http.server thread), each connection following a script.

Update ids follow Binance's documents. Every level change gets an id; a depth event carries the changes made
since the previous event (``U`` = the first one's id, ``u`` = the last one's; one entry per price, the latest
change). Spot ids are contiguous, so ``U == previous u + 1``. On USD-M and COIN-M futures the ids are not
contiguous per symbol: every event's ``U`` jumps past the previous ``u + 1``, and ``pu`` names the previous
event's ``u``. A REST snapshot is the book with every change applied so far (``lastUpdateId`` = the last
change's id): at an event boundary it equals the ``u`` of the last event sent; after ``advance`` it falls
inside the next event's ``[U, u]``.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from schemas.scales import to_fixed

TICK = Decimal("0.01")
BASES = {
    "BTCUSDT": Decimal("100.00"),
    "ETHUSDT": Decimal("50.00"),
    "BTCUSD_PERP": Decimal("90.00"),
    "ETHUSD_PERP": Decimal("40.00"),
}
SYMBOLS = {"spot": ("BTCUSDT", "ETHUSDT"), "futures": ("BTCUSDT", "ETHUSDT"), "coinm": ("BTCUSD_PERP", "ETHUSD_PERP")}
T0_MS = 1_767_225_600_000

Script = Callable[["FakeBinance", ServerConnection], Awaitable[None]]


async def until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s} s for {what}")
        await asyncio.sleep(0.005)


class FakeBinance:
    def __init__(self, market: str, symbols: tuple[str, ...], scripts: list[Script], seed: int = 5) -> None:
        self.market = market
        self.symbols = symbols
        self.scripts = scripts
        self.rng = random.Random(seed)
        self.lock = threading.Lock()  # the HTTP thread reads books the WebSocket side changes
        self.books: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
        self.applied = {s: 1000 * (i + 1) for i, s in enumerate(symbols)}  # id of the last change applied
        self.last_id = dict(self.applied)  # u of the last event (sent or lost)
        self.pending: dict[str, list[tuple[int, str, Decimal, Decimal]]] = {s: [] for s in symbols}
        self.trades_sent: list[tuple[str, str, int, int, str]] = []  # symbol, id, price, quantity, aggressor
        self.raw_sent: list[str] = []
        self.snapshot_ids: list[tuple[str, int]] = []  # (symbol, lastUpdateId) of every snapshot served
        self.connections = 0
        self.paths: list[str] = []
        self.script_done = False
        self.refuse_connections = 0  # answer this many handshakes 503, as an overloaded venue does
        self.fail_snapshots = 0  # answer this many snapshot requests 500
        self.refused = 0
        self.clock_ms = T0_MS
        self.trade_id = 0
        for symbol in symbols:
            base = BASES[symbol]
            bids = {base - k * TICK: self._quantity(1, 50) for k in range(5)}
            asks = {base + (k + 1) * TICK: self._quantity(1, 50) for k in range(5)}
            self.books[symbol] = (bids, asks)

    @property
    def snapshots_served(self) -> int:
        return len(self.snapshot_ids)

    def _quantity(self, low: int, high: int) -> Decimal:
        """Base-asset lots on spot and USD-M; whole contracts on COIN-M."""
        units = self.rng.randint(low, high)
        return Decimal(units) if self.market == "coinm" else Decimal(units) / 10

    # -- the venue ---------------------------------------------------------------------------------------------
    def advance(self, symbol: str, changes: int = 1) -> None:
        """Change levels of the book; the changes go out with the symbol's next depth event."""
        with self.lock:
            bids, asks = self.books[symbol]
            pending = self.pending[symbol]
            for _ in range(changes):
                jump = self.market != "spot" and not pending  # futures: U jumps past the previous u + 1
                self.applied[symbol] += self.rng.randint(2, 5) if jump else 1
                side = self.rng.choice("ba")
                k = self.rng.randint(0, 7)
                book = bids if side == "b" else asks
                price = BASES[symbol] - k * TICK if side == "b" else BASES[symbol] + (k + 1) * TICK
                quantity = Decimal(0) if self.rng.random() < 0.3 else self._quantity(1, 900)
                if quantity:
                    book[price] = quantity
                else:
                    book.pop(price, None)  # removing an absent level happens on Binance and is normal
                pending.append((self.applied[symbol], side, price, quantity))

    def next_diff(self, symbol: str) -> dict[str, Any]:
        """1-3 more level changes, and everything changed since the last event, as Binance's depthUpdate."""
        self.advance(symbol, self.rng.randint(1, 3))
        with self.lock:
            pending, self.pending[symbol] = self.pending[symbol], []
            levels: dict[str, dict[Decimal, Decimal]] = {"b": {}, "a": {}}
            for _, side, price, quantity in pending:
                levels[side][price] = quantity  # one entry per price: its latest quantity
            previous = self.last_id[symbol]
            self.last_id[symbol] = pending[-1][0]
            self.clock_ms += 100
            payload: dict[str, Any] = {
                "e": "depthUpdate",
                "E": self.clock_ms,
                "s": symbol,
                "U": pending[0][0],
                "u": pending[-1][0],
                "b": [[str(p), str(q)] for p, q in levels["b"].items()],
                "a": [[str(p), str(q)] for p, q in levels["a"].items()],
            }
            if self.market != "spot":
                payload |= {"T": self.clock_ms - 1, "pu": previous}
            if self.market == "coinm":
                payload["ps"] = symbol.split("_", maxsplit=1)[0]
            return payload

    def next_trade(self, symbol: str) -> dict[str, Any]:
        self.trade_id += 1
        self.clock_ms += 1
        price = BASES[symbol] + self.rng.choice([0, 1]) * TICK
        quantity = Decimal(self.rng.randint(1, 5000)) / 1000
        buyer_is_maker = self.rng.random() < 0.5
        self.trades_sent.append(
            (symbol, str(self.trade_id), to_fixed(price, 8), to_fixed(quantity, 8), "SELL" if buyer_is_maker else "BUY")
        )
        kind, key = ("trade", "t") if self.market == "spot" else ("aggTrade", "a")
        return {
            "e": kind,
            "E": self.clock_ms,
            "s": symbol,
            key: self.trade_id,
            "p": str(price),
            "q": str(quantity),
            "T": self.clock_ms,
            "m": buyer_is_maker,
        }

    def snapshot_body(self, symbol: str) -> bytes:
        with self.lock:
            bids, asks = self.books[symbol]
            body: dict[str, Any] = {
                "lastUpdateId": self.applied[symbol],
                "bids": [[str(p), str(bids[p])] for p in sorted(bids, reverse=True)],
                "asks": [[str(p), str(asks[p])] for p in sorted(asks)],
            }
            if self.market != "spot":
                body |= {"E": self.clock_ms, "T": self.clock_ms}
            self.snapshot_ids.append((symbol, self.applied[symbol]))
            return json.dumps(body).encode()

    def book_fixed(self, symbol: str) -> tuple[dict[int, int], dict[int, int]]:
        bids, asks = self.books[symbol]
        return (
            {to_fixed(p, 8): to_fixed(q, 8) for p, q in bids.items()},
            {to_fixed(p, 8): to_fixed(q, 8) for p, q in asks.items()},
        )

    # -- the WebSocket side ------------------------------------------------------------------------------------
    async def send(self, ws: ServerConnection, payload: dict[str, Any] | str) -> None:
        if isinstance(payload, str):
            frame = payload
        else:
            stream = f"{payload['s'].lower()}@{'depth@100ms' if payload['e'] == 'depthUpdate' else payload['e']}"
            frame = json.dumps({"stream": stream, "data": payload})
        self.raw_sent.append(frame)
        await ws.send(frame)

    async def send_rounds(self, ws: ServerConnection, rounds: int) -> None:
        for _ in range(rounds):
            for symbol in self.symbols:
                await self.send(ws, self.next_diff(symbol))
                await self.send(ws, self.next_trade(symbol))

    async def start_books(self, ws: ServerConnection, snapshots_before: int, *, mid_event: bool = False) -> None:
        """One event per symbol (the client asks for snapshots), then wait until both were served: at the last
        event's ``u``, or (``mid_event``) with changes the next event will carry."""
        for symbol in self.symbols:
            await self.send(ws, self.next_diff(symbol))
            if mid_event:
                self.advance(symbol, 2)
        await until(lambda: self.snapshots_served >= snapshots_before + len(self.symbols), 10, "snapshot requests")

    async def flow_until(
        self, ws: ServerConnection, condition: Callable[[], bool], timeout_s: float, what: str
    ) -> None:
        """Keep the streams flowing, a round every 20 ms, until ``condition`` holds."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout_s} s for {what}")
            await self.send_rounds(ws, 1)
            await asyncio.sleep(0.02)

    def process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        if self.refused < self.refuse_connections:
            self.refused += 1
            return ws.respond(HTTPStatus.SERVICE_UNAVAILABLE, "busy\n")
        return None

    async def handler(self, ws: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        assert ws.request is not None
        self.paths.append(ws.request.path)
        if index < len(self.scripts):
            await self.scripts[index](self, ws)
        else:
            await ws.wait_closed()


def serve_snapshots(venue: FakeBinance, path: str) -> ThreadingHTTPServer:
    """The REST snapshot endpoint on a free port, served from a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            symbol = parse_qs(url.query).get("symbol", [""])[0]
            if venue.fail_snapshots > 0:
                venue.fail_snapshots -= 1
                self.send_response(500)
                self.end_headers()
                return
            if url.path != path or symbol not in venue.books:
                self.send_response(400)
                self.end_headers()
                self.wfile.write(b'{"code": -1121, "msg": "Invalid symbol."}')
                return
            body = venue.snapshot_body(symbol)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the stdlib's signature
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
