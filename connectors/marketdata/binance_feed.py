"""One Binance feed session, pure: frames, snapshots, connection events and resync requests in, records to
publish out.

The edge (``binance_client``) owns the sockets and the clock; it hands every frame here with its receive
time and does what the answer says: publish the ``emits`` (md.depth, md.trades, md.feed.status,
ops.deadletters), fetch a snapshot for each symbol in ``snapshot_requests`` (after ``snapshot_delay_s``),
reconnect when ``reconnect`` says why. Ids: a snapshot starts a book epoch (its event id is the correlation
id of the updates that continue it); an update's id names its venue update ids within that epoch; a trade's
id names its venue trade id, so the same trade seen twice has one id.

Resync requests: a consumer of md.depth that can no longer trust its book (the order book processor, on a
gap or a crossed book the feed did not see, e.g. a record lost between the feed and the broker) says so on
md.feed.status with ``GAP_DETECTED``, correlated to the epoch its book was following. The edge hands every
md.feed.status record to ``on_feed_status``; a ``GAP_DETECTED`` of another producer about this session's
current epoch of a live book makes the feed fetch a new snapshot and publish it with the chain that
continues it (a new epoch), and ``RESYNCED`` when it is out. A request about an older epoch is already
answered (a newer snapshot is on md.depth) and one for a book already resynchronising will be; both are
ignored. Requests for one symbol are honoured at most once per ``request_interval_us``: a later one waits
(``snapshot_delay_s``), so a consumer that keeps losing track cannot make the feed hammer the REST API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from connectors.marketdata.binance_messages import (
    MalformedFrame,
    Market,
    ServerShutdown,
    parse_frame,
    parse_snapshot,
    venue_of,
)
from connectors.marketdata.book_sync import BookSync, SyncStep
from connectors.marketdata.messages import BookSnapshot, DepthDiff, TradePrint
from connectors.marketdata.records import event_id_for, feed_status, meta, to_emit
from connectors.marketdata.stats import FeedStats
from processors.core import Emit
from processors.orderbook.sequencing import rule_for
from processors.runtime.dead_letters import SourceRecord, dead_letter

PRODUCER: Final = "connector.binance"
DEFAULT_REQUEST_INTERVAL_US: Final = 5_000_000  # at most one requested resync per symbol in this long


@dataclass
class FeedOutput:
    emits: list[Emit] = field(default_factory=list)
    snapshot_requests: list[str] = field(default_factory=list)  # symbols to fetch a REST snapshot for
    snapshot_delay_s: float = 0.0  # wait this long before fetching them (a paced resync request)
    reconnect: str | None = None  # why the connection must be replaced now


class BinanceFeed:
    def __init__(
        self,
        market: Market,
        symbols: tuple[str, ...],
        session_id: str,
        max_buffer: int = 10_000,
        request_interval_us: int = DEFAULT_REQUEST_INTERVAL_US,
    ) -> None:
        if not symbols:
            raise ValueError("a feed needs at least one symbol")
        self.market = market
        self.venue = venue_of(market)
        self.symbols = tuple(s.upper() for s in symbols)
        self.session_id = session_id
        self.rule = rule_for(self.venue)
        self.syncs = {s: BookSync(self.rule, max_buffer) for s in self.symbols}
        self.epochs: dict[str, str] = {}  # symbol → event id of the snapshot its updates continue
        self.request_interval_us = request_interval_us
        self._honoured_at_us: dict[str, int] = {}  # symbol → when its last honoured request may fetch
        self.stats = FeedStats()
        self._connections = 0
        self._statuses = 0
        self._frames = 0

    # -- connection events ---------------------------------------------------------------------------------
    def on_connected(self, now_us: int, detail: str) -> FeedOutput:
        self._connections += 1
        if self._connections > 1:
            self.stats.reconnects += 1
        out = FeedOutput()
        for symbol in self.symbols:
            out.emits.append(self._status(symbol, "CONNECTED", detail, now_us))
        return out

    def on_lost(self, now_us: int, status: str, detail: str) -> FeedOutput:
        """The connection ended (``DISCONNECTED``) or was given up as ``STALLED``: every book needs a resync."""
        if status == "STALLED":
            self.stats.stalls += 1
        out = FeedOutput()
        for symbol in self.symbols:
            self.syncs[symbol].reset(f"after {status.lower()} ({detail})")
            out.emits.append(self._status(symbol, status, detail, now_us))
        return out

    # -- data ------------------------------------------------------------------------------------------------
    def on_frame(self, raw: str | bytes, received_us: int) -> FeedOutput:
        self.stats.messages += 1
        self._frames += 1
        out = FeedOutput()
        try:
            parsed = parse_frame(raw, self.market)
            if isinstance(parsed, DepthDiff | TradePrint) and parsed.symbol not in self.syncs:
                raise MalformedFrame(f"symbol {parsed.symbol!r} was not subscribed ({', '.join(self.symbols)})")
        except MalformedFrame as error:
            out.emits.append(self._dead_letter(raw, received_us, "ws", self._frames, str(error)))
            return out
        if isinstance(parsed, ServerShutdown):
            out.reconnect = "the server announced a shutdown"
        elif isinstance(parsed, TradePrint):
            envelope = meta(
                event_id_for(f"{self.venue}|{parsed.symbol}|trade|{parsed.trade_id}"),
                PRODUCER,
                parsed.time_us,
                received_us,
                f"{self.venue}|{parsed.symbol}",
            )
            out.emits.append(to_emit(parsed, self.venue, envelope))
            self.stats.trades += 1
        elif isinstance(parsed, DepthDiff):
            self._follow(parsed.symbol, self.syncs[parsed.symbol].on_diff(parsed), received_us, out)
        return out

    def on_snapshot(self, symbol: str, body: str | bytes, received_us: int) -> FeedOutput:
        out = FeedOutput()
        try:
            snapshot = parse_snapshot(body, symbol, received_us)
        except MalformedFrame as error:
            out.emits.append(self._dead_letter(body, received_us, "rest", None, f"{symbol} snapshot: {error}"))
            self._follow(symbol, self.syncs[symbol].snapshot_failed(), received_us, out)
            return out
        self._follow(symbol, self.syncs[symbol].on_snapshot(snapshot), received_us, out)
        return out

    def on_snapshot_error(self, symbol: str, received_us: int) -> FeedOutput:
        """The request failed (network, HTTP status): ask again."""
        out = FeedOutput()
        self._follow(symbol, self.syncs[symbol].snapshot_failed(), received_us, out)
        return out

    # -- resync requests -------------------------------------------------------------------------------------
    def on_feed_status(self, record: Mapping[str, Any], now_us: int) -> FeedOutput:
        """A record of md.feed.status: a resync request when it is one for this session (module docstring)."""
        out = FeedOutput()
        meta = record["meta"]
        symbol = record["symbol"]
        sync = self.syncs.get(symbol)
        if (
            record["status"] != "GAP_DETECTED"
            or record["venue"] != self.venue
            or meta["producer"] == PRODUCER  # a gap a feed found itself; it resynchronises on its own
            or sync is None
            or sync.state != "LIVE"
            or self.epochs.get(symbol) != meta["correlation_id"]
        ):
            return out
        self.stats.resync_requests += 1
        step = sync.resync(f"on request of {meta['producer']} ({record['detail']})")
        self._follow(symbol, step, now_us, out)
        previous = self._honoured_at_us.get(symbol)
        fetch_at = now_us if previous is None else max(now_us, previous + self.request_interval_us)
        self._honoured_at_us[symbol] = fetch_at
        out.snapshot_delay_s = (fetch_at - now_us) / 1_000_000
        return out

    # -- helpers ---------------------------------------------------------------------------------------------
    def _follow(self, symbol: str, step: SyncStep, received_us: int, out: FeedOutput) -> None:
        self.stats.dropped += step.dropped
        for detail in step.gaps:
            self.stats.gaps += 1
            out.emits.append(self._status(symbol, "GAP_DETECTED", detail, received_us))
        for message in step.publish:
            if isinstance(message, BookSnapshot):
                accepted = self.syncs[symbol].snapshots_accepted
                epoch = event_id_for(
                    f"{self.venue}|{symbol}|snapshot|{message.last_update_id}|{self.session_id}|{accepted}"
                )
                self.epochs[symbol] = epoch
                out.emits.append(
                    to_emit(message, self.venue, meta(epoch, PRODUCER, message.time_us, received_us, epoch))
                )
                self.stats.snapshots += 1
            else:
                epoch = self.epochs[symbol]
                event_id = event_id_for(f"{self.venue}|{symbol}|update|{message.first_id}-{message.last_id}|{epoch}")
                out.emits.append(
                    to_emit(message, self.venue, meta(event_id, PRODUCER, message.time_us, received_us, epoch))
                )
                self.stats.updates += 1
        if step.resynced is not None:
            self.stats.resyncs += 1
            out.emits.append(self._status(symbol, "RESYNCED", step.resynced, received_us))
        if step.needs_snapshot:
            out.snapshot_requests.append(symbol)

    def _status(self, symbol: str, status: str, detail: str, now_us: int) -> Emit:
        self._statuses += 1
        story = f"{self.venue}|{symbol}|{self.session_id}"
        envelope = meta(event_id_for(f"{story}|status|{self._statuses}"), PRODUCER, now_us, now_us, story)
        return feed_status(self.venue, symbol, status, detail, envelope)

    def _dead_letter(self, raw: str | bytes, time_us: int, channel: str, offset: int | None, detail: str) -> Emit:
        self.stats.dead_letters += 1
        value = raw.encode() if isinstance(raw, str) else raw
        source = SourceRecord(
            f"{self.venue}/{channel}/{self.session_id}",
            None,
            offset if offset is not None else self.stats.dead_letters,
            None,
            value,
            time_us,
        )
        return dead_letter(PRODUCER, source, "MALFORMED_FRAME", detail)
