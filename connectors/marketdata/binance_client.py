"""The Binance edge: one combined WebSocket stream (diff depth + trades for every symbol) and REST snapshots.

Everything that decides is in ``binance_feed`` (pure); this module moves bytes and keeps time:

- connects to ``{ws_url}/stream?streams=…``, hands every frame to the feed with its receive time and
  publishes what the feed returns; fetches the REST depth snapshot whenever the feed asks for one
  (``{rest_url}/api/v3/depth`` on spot, ``/fapi/v1/depth`` on USD-M futures, ``/dapi/v1/depth`` on COIN-M
  futures), retrying failures with backoff;
- a stream silent for ``stall_s`` counts as lost (STALLED); a closed connection as DISCONNECTED; both
  reconnect with exponential backoff and jitter, and every book resynchronises from a new snapshot;
- replaces the connection after ``max_connection_s`` (default 23 h 30 min), before Binance's 24-hour cut,
  and at once when the server announces a shutdown;
- with a ``FeedStatusWatch``, listens to md.feed.status while connected and hands every record to the feed:
  a resync request of the order book processor (``GAP_DETECTED`` about the current epoch) fetches a new
  snapshot, at most one per symbol every ``resync_interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import httpx
from confluent_kafka import KafkaException
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from connectors.marketdata.backoff import Backoff
from connectors.marketdata.binance_feed import BinanceFeed, FeedOutput
from connectors.marketdata.binance_messages import Market, stream_names
from connectors.marketdata.sink import KafkaSink
from connectors.marketdata.stats import FeedStats
from connectors.marketdata.status_watch import FeedStatusWatch

DEFAULT_WS_URLS: Final[dict[str, str]] = {
    "spot": "wss://stream.binance.com:9443",
    "futures": "wss://fstream.binance.com",
    "coinm": "wss://dstream.binance.com",
}
DEFAULT_REST_URLS: Final[dict[str, str]] = {
    "spot": "https://api.binance.com",
    "futures": "https://fapi.binance.com",
    "coinm": "https://dapi.binance.com",
}
SNAPSHOT_PATHS: Final[dict[str, str]] = {
    "spot": "/api/v3/depth",
    "futures": "/fapi/v1/depth",
    "coinm": "/dapi/v1/depth",
}
DAY_CUT_MARGIN_S: Final = 30 * 60
MAX_FRAME_BYTES: Final = 16 * 1024 * 1024  # a full-depth update of a busy symbol fits; a runaway frame does not
WATCH_POLL_S: Final = 0.2  # longest wait of one md.feed.status poll (and of the watch's end after a stop)
_STOPPED: Final = ("STOPPED", "the feed was stopped")  # why a connection ended, when the feed was asked to stop


@dataclass
class BinanceConfig:
    market: Market
    symbols: tuple[str, ...]
    ws_url: str | None = None  # default: Binance's public stream host for the market
    rest_url: str | None = None  # default: Binance's public REST host for the market
    stall_s: float = 30.0
    max_connection_s: float = 24 * 3600 - DAY_CUT_MARGIN_S
    snapshot_limit: int = 1000
    resync_interval_s: float = 5.0  # requested resyncs of one symbol at most this often (REST weight)
    open_timeout_s: float = 10.0
    http_timeout_s: float = 10.0
    max_seconds: float | None = None
    progress_s: float = 5.0
    backoff: Backoff = field(default_factory=Backoff)
    snapshot_backoff: Backoff = field(default_factory=lambda: Backoff(base_s=0.2, cap_s=5.0))

    def __post_init__(self) -> None:
        self.ws_url = (self.ws_url or DEFAULT_WS_URLS[self.market]).rstrip("/")
        self.rest_url = (self.rest_url or DEFAULT_REST_URLS[self.market]).rstrip("/")
        if not self.ws_url.startswith(("ws://", "wss://")):
            raise ValueError(f"--ws-url must start with ws:// or wss://, got {self.ws_url}")
        if not self.rest_url.startswith(("http://", "https://")):
            raise ValueError(f"--rest-url must start with http:// or https://, got {self.rest_url}")
        if self.stall_s <= 0 or self.max_connection_s <= 0:
            raise ValueError("the stall timeout and the connection lifetime must be positive")
        if self.resync_interval_s < 0:
            raise ValueError("the resync request interval must not be negative")

    @property
    def stream_url(self) -> str:
        return f"{self.ws_url}/stream?streams={'/'.join(stream_names(self.market, self.symbols))}"


def now_us() -> int:
    return time.time_ns() // 1000


class BinanceClient:
    def __init__(
        self,
        config: BinanceConfig,
        sink: KafkaSink,
        session_id: str,
        *,
        on_progress: Callable[[str], None] | None = None,
        clock_us: Callable[[], int] = now_us,
        watch: FeedStatusWatch | None = None,
    ) -> None:
        self.config = config
        self.sink = sink
        self.feed = BinanceFeed(
            config.market, config.symbols, session_id, request_interval_us=round(config.resync_interval_s * 1e6)
        )
        self.on_progress = on_progress
        self.clock_us = clock_us
        self.watch = watch  # md.feed.status, for resync requests; None: the feed answers none
        self._stopping = False
        self._watching = False
        self._ws: ClientConnection | None = None
        self._snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._closing: asyncio.Future[None] | None = None

    @property
    def stats(self) -> FeedStats:
        return self.feed.stats

    def stop(self) -> None:
        """Ask the feed to end (from the event loop's thread): the current connection closes, the run returns."""
        self._stopping = True
        self._wake.set()
        if self._ws is not None:
            self._closing = asyncio.ensure_future(self._ws.close())

    async def run(self) -> FeedStats:
        loop = asyncio.get_running_loop()
        timers = [loop.call_later(self.config.max_seconds, self.stop)] if self.config.max_seconds else []
        reporter = asyncio.ensure_future(self._report())
        try:
            async with httpx.AsyncClient(timeout=self.config.http_timeout_s) as http:
                self._watching = self.watch is not None
                watching = asyncio.ensure_future(self._watch(http))
                try:
                    await self._sessions(http)
                finally:
                    self._watching = False
                    await watching  # within one poll: a poll in flight finishes in its thread
        finally:
            for timer in timers:
                timer.cancel()
            reporter.cancel()
            self._cancel_snapshots()
            self.sink.flush()
        return self.stats

    async def _sessions(self, http: httpx.AsyncClient) -> None:
        """Connections, one after another, until the feed is stopped."""
        while not self._stopping:
            ended, detail = await self._session(http)
            if ended == "CONNECT_FAILED":
                # The loss was already published when the last connection ended: only say it here.
                self._say(f"connection failed: {detail}")
            else:
                status = ended if ended in ("STALLED", "DISCONNECTED") else "DISCONNECTED"
                self._publish(self.feed.on_lost(self.clock_us(), status, detail))
                if ended != "STOPPED":
                    self._say(f"{status.lower()}: {detail}")
            if self._stopping:
                break
            if ended != "RECONNECT_NOW":
                await self._pause(self.config.backoff.next_delay())

    async def _watch(self, http: httpx.AsyncClient) -> None:
        """Hand md.feed.status to the feed while connected; resync requests fetch snapshots."""
        watch = self.watch
        while self._watching and watch is not None:
            try:
                records = await asyncio.to_thread(watch.poll, WATCH_POLL_S)
            except KafkaException as error:
                self._say(f"md.feed.status: {error}")
                await asyncio.sleep(1.0)
                continue
            if self._ws is None:
                continue  # between connections every book resynchronises anyway
            for record in records:
                out = self.feed.on_feed_status(record, self.clock_us())
                self._handle(out, http)
                if out.snapshot_requests:
                    self._say(f"{record['symbol']}: resync requested by {record['meta']['producer']}")

    async def _session(self, http: httpx.AsyncClient) -> tuple[str, str]:
        """One connection, from opening to its end: (how it ended, why)."""
        try:
            ws = await connect(
                self.config.stream_url, open_timeout=self.config.open_timeout_s, max_size=MAX_FRAME_BYTES
            )
        except (OSError, TimeoutError, WebSocketException) as error:
            return "CONNECT_FAILED", f"{type(error).__name__}: {error}"
        self._ws = ws
        try:
            self._publish(self.feed.on_connected(self.clock_us(), f"connected to {self.config.stream_url}"))
            return await self._consume(ws, http)
        finally:
            self._ws = None
            self._cancel_snapshots()
            with contextlib.suppress(Exception):
                await ws.close()

    async def _consume(self, ws: ClientConnection, http: httpx.AsyncClient) -> tuple[str, str]:
        loop = asyncio.get_running_loop()
        retire_at = loop.time() + self.config.max_connection_s
        while not self._stopping:
            remaining = retire_at - loop.time()
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=min(self.config.stall_s, max(remaining, 0.0)))
            except TimeoutError:
                return self._silence_ended(retire=loop.time() >= retire_at)
            except ConnectionClosed as error:
                return _STOPPED if self._stopping else ("DISCONNECTED", f"connection closed ({error})")
            self.config.backoff.reset()
            out = self.feed.on_frame(raw, self.clock_us())
            self._handle(out, http)
            if out.reconnect is not None:
                return "RECONNECT_NOW", out.reconnect
        return _STOPPED

    def _silence_ended(self, *, retire: bool) -> tuple[str, str]:
        """Why no frame came in time: the feed stopped, the connection's planned end, or a stall."""
        if self._stopping:
            return _STOPPED
        if retire:
            return "RECONNECT_NOW", "planned reconnection before the venue's 24-hour cut"
        return "STALLED", f"no message for {self.config.stall_s:g} s"

    def _handle(self, out: FeedOutput, http: httpx.AsyncClient) -> None:
        self._publish(out)
        for symbol in out.snapshot_requests:
            task = self._snapshot_tasks.get(symbol)
            if task is None or task.done():
                self._snapshot_tasks[symbol] = asyncio.ensure_future(
                    self._fetch_snapshot(symbol, http, out.snapshot_delay_s)
                )

    async def _fetch_snapshot(self, symbol: str, http: httpx.AsyncClient, delay_s: float = 0.0) -> None:
        try:
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            while True:
                body = await self._get_snapshot(symbol, http)
                out = self.feed.on_snapshot(symbol, body, self.clock_us())
                self._publish(out)
                if symbol not in out.snapshot_requests:
                    return
                # Too old for the buffered events, or unusable: the feed keeps buffering; ask again shortly.
                await asyncio.sleep(self.config.snapshot_backoff.next_delay())
        finally:
            if self._snapshot_tasks.get(symbol) is asyncio.current_task():
                del self._snapshot_tasks[symbol]

    async def _get_snapshot(self, symbol: str, http: httpx.AsyncClient) -> bytes:
        """The body of a successful snapshot request, retrying network errors and HTTP errors with backoff."""
        url = f"{self.config.rest_url}{SNAPSHOT_PATHS[self.config.market]}"
        params: dict[str, str | int] = {"symbol": symbol, "limit": self.config.snapshot_limit}
        while True:
            try:
                response = await http.get(url, params=params)
                if response.status_code == 200:
                    self.config.snapshot_backoff.reset()
                    return response.content
                self._say(f"{symbol} snapshot: HTTP {response.status_code} {response.text[:200]}")
            except httpx.HTTPError as error:
                self._say(f"{symbol} snapshot: {type(error).__name__}: {error}")
            await asyncio.sleep(self.config.snapshot_backoff.next_delay())

    def _cancel_snapshots(self) -> None:
        for task in self._snapshot_tasks.values():
            task.cancel()
        self._snapshot_tasks.clear()

    def _publish(self, out: FeedOutput) -> None:
        for emit in out.emits:
            self.sink.publish(emit)

    async def _pause(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(self.config.progress_s)
            self._say(self.stats.line())

    def _say(self, line: str) -> None:
        if self.on_progress is not None:
            self.on_progress(line)
