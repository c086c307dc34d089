"""A symbol's order book and latest analytics, from what the orderbook processor holds and publishes.

Shared by `sq book`, `sq analytics` (one read, printed) and the API's market routes (``MarketViews``: kept
current in memory). Neither reads market data history: both take the latest record of the symbol from

- the orderbook processor's changelog (``sq.orderbook.changelog``: compacted, one record per symbol per
  transaction holding the core's whole state, the full-depth L2 book included), restored into the same pure
  ``OrderBookCore`` the processor runs, whose ``book_view`` answers for any depth;
- ``md.analytics``: the ``MarketAnalytics`` records the processor published, one per symbol per interval.

A latest-state read starts near a partition's end and reaches back only as far as the symbol's last record
(``latest_record``). Prices and quantities are exact decimal strings.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from processors.orderbook.book import Level
from processors.orderbook.core import STAGE, OrderBookCore
from processors.runtime.changelog import changelog_partitions, state_partition
from processors.runtime.state_codec import decode_state
from schemas.codec import Codec, default_codec
from schemas.names import MARKET_ANALYTICS
from schemas.scales import PRICE_DECIMALS, QUANTITY_DECIMALS, format_fixed
from settings import Settings
from topics.admin import physical_name
from topics.catalogue import MD_ANALYTICS, changelog_topic, spec_for
from topics.partitioning import partition_for

log = logging.getLogger(__name__)

MEASURES: Final = (
    "spread",
    "mid",
    "microprice",
    "depth_imbalance",
    "realized_volatility",
    "trade_flow_imbalance",
    "vpin",
    "kyle_lambda",
    "kyle_lambda_t",
    "pin",
)

BOOK_SOURCE: Final = changelog_topic(STAGE)
BOOK_PARTITIONS: Final = changelog_partitions(OrderBookCore())
ANALYTICS_PARTITIONS: Final = spec_for(MD_ANALYTICS).partitions
TAIL_RECORDS: Final = 1000  # records per partition a view reads at start, and per step when reaching back
BROKER_TIMEOUT_S: Final = 5.0


class MarketDataUnreadable(RuntimeError):
    """The broker did not answer (down, or not in time)."""


class NoMarketData(LookupError):
    """The log holds nothing of the symbol for the view asked for."""


class ViewNotReady(LookupError):
    """The view cannot answer for the symbol yet (its source is still being read, or does not exist yet)."""


@dataclass(frozen=True, slots=True)
class Latest:
    """A key's latest record in a latest-state read: its value (None: a tombstone) and offset."""

    value: bytes | None
    offset: int


def decimal_levels(levels: list[Level]) -> list[list[str]]:
    return [
        [format_fixed(price, PRICE_DECIMALS), format_fixed(quantity, QUANTITY_DECIMALS)] for price, quantity in levels
    ]


def book_document(core: OrderBookCore, symbol: str, depth: int) -> dict[str, Any]:
    """``{symbol, venue, sequence, bids, asks, stale}`` of a core holding the symbol's state."""
    view = core.book_view(symbol, depth)
    if view is None:
        raise NoMarketData(f"the orderbook holds no book of {symbol}")
    return {
        "symbol": symbol,
        "venue": view["venue"],
        "sequence": view["sequence"],
        "bids": decimal_levels(view["bids"]),
        "asks": decimal_levels(view["asks"]),
        "stale": view["stale"],
    }


def restored_core(symbol: str, value: bytes) -> OrderBookCore:
    """A core holding the symbol's state as a changelog value carries it (what the processor held then)."""
    core = OrderBookCore()
    core.restore(symbol, decode_state(value))
    return core


def analytics_document(codec: Codec, value: bytes, windows: int) -> dict[str, Any]:
    """``{symbol, venue, window_end_us, windows, <every measure>}`` of a MarketAnalytics record."""
    record = codec.decode(value, MARKET_ANALYTICS).record
    return {
        "symbol": record["symbol"],
        "venue": record["venue"],
        "window_end_us": record["window_end_us"],
        "windows": windows,
        **{name: record[name] for name in MEASURES},
    }


# -- latest-state reads ---------------------------------------------------------------------------------------
def _read_range(
    consumer: Consumer, topic: str, partition: int, start: int, end: int, *, timeout_s: float
) -> list[Message]:
    """The records at offsets [start, end) of a partition (committed ones; control records take offsets too)."""
    consumer.assign([TopicPartition(topic, partition, start)])
    found: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            for message in consumer.consume(1000, timeout=0.05):
                if message.error() is None and (message.offset() or 0) < end:
                    found.append(message)
            (position,) = consumer.position([TopicPartition(topic, partition)])
            if position.offset >= end or (found and (found[-1].offset() or 0) >= end - 1):
                return found
            if time.monotonic() > deadline:
                raise MarketDataUnreadable(f"reading {topic}[{partition}] {start}..{end} took over {timeout_s} s")
    finally:
        consumer.unassign()


def reach_back(
    consumer: Consumer, topic: str, partition: int, key: str, *, low: int, below: int, timeout_s: float
) -> Latest | None:
    """The key's last record in the partition before offset ``below``, read backwards in growing steps from
    there: the cost is what lies after that record, never the history before it. None if it has none."""
    wanted = key.encode()
    end, step = below, TAIL_RECORDS
    while end > low:
        start = max(low, end - step)
        last: Latest | None = None
        for message in _read_range(consumer, topic, partition, start, end, timeout_s=timeout_s):
            if message.key() == wanted:
                last = Latest(message.value(), message.offset() or 0)
        if last is not None:
            return last
        end, step = start, min(step * 2, 64 * TAIL_RECORDS)
    return None


def _reader(settings: Settings) -> Consumer:
    return Consumer(
        settings.kafka_config(
            **{
                "group.id": "sq-market-views",  # never commits: positions are chosen, not resumed
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "enable.partition.eof": False,
            }
        )
    )


def latest_record(settings: Settings, topic: str, partition: int, key: str, timeout_s: float) -> Latest | None:
    """The key's latest record in a topic partition (physical name), read once from the end backwards."""
    consumer = _reader(settings)
    try:
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)
        except KafkaException as error:
            if error.args[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
                return None
            raise MarketDataUnreadable(f"cannot read {topic}: {error}") from None
        return reach_back(consumer, topic, partition, key, low=low, below=high, timeout_s=timeout_s)
    finally:
        consumer.close()


def book_view(settings: Settings, symbol: str, depth: int, timeout_s: float = 30.0) -> dict[str, Any]:
    """The symbol's book as the orderbook processor holds it: its latest changelog record, read once."""
    topic = physical_name(settings, BOOK_SOURCE)
    latest = latest_record(settings, topic, state_partition(symbol, BOOK_PARTITIONS), symbol, timeout_s)
    if latest is None or latest.value is None:
        raise NoMarketData(f"the orderbook processor holds no book of {symbol} ({BOOK_SOURCE} has none)")
    return book_document(restored_core(symbol, latest.value), symbol, depth)


def latest_analytics(settings: Settings, symbol: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The symbol's last MarketAnalytics on md.analytics, read once (``windows`` is 1: one record read)."""
    topic = physical_name(settings, MD_ANALYTICS)
    latest = latest_record(settings, topic, partition_for(symbol, ANALYTICS_PARTITIONS), symbol, timeout_s)
    if latest is None or latest.value is None:
        raise NoMarketData(f"no analytics of {symbol} on {MD_ANALYTICS} (the orderbook processor publishes them)")
    return analytics_document(default_codec(), latest.value, 1)


# -- views kept current ---------------------------------------------------------------------------------------
@dataclass
class _Source:
    """One latest-state source of a MarketViews: where its live read started and what it has seen."""

    logical: str
    topic: str
    partitions: int
    partition_of: Callable[[str], int]
    problem: str | None = "not read yet"  # why it cannot answer (None once attached)
    broker_down: bool = False  # the problem is the broker not answering
    missing: bool = False  # the problem is the topic not existing (its writer never ran): nothing to show
    low: dict[int, int] = field(default_factory=dict)
    live_from: dict[int, int] = field(default_factory=dict)  # where the live read started, per partition
    targets: dict[int, int] = field(default_factory=dict)  # the ends at start: caught up once read to them
    caught_up: bool = False
    latest: dict[str, Latest] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)  # records read per key
    absent: set[str] = field(default_factory=set)  # keys with no record before live_from
    looking: set[str] = field(default_factory=set)  # keys being reached back for


class MarketViews:
    """Book and analytics views of every symbol, kept current in memory by one background consumer.

    At start each source partition is read from ``tail_records`` before its end, so the symbols active lately
    are known as soon as that tail is read; a symbol asked for and not in it is looked up once, backwards from
    where the live read started (``reach_back``), by a second thread. Until a symbol's answer is known a
    request gets ``ViewNotReady`` (never a guess), then ``NoMarketData`` if the log has nothing of it (a source
    topic that does not exist holds nothing either); ``MarketDataUnreadable`` while the broker was never reached."""

    def __init__(self, settings: Settings, tail_records: int = TAIL_RECORDS, timeout_s: float = BROKER_TIMEOUT_S):
        if tail_records < 1:
            raise ValueError(f"tail_records must be positive, not {tail_records}")
        self.settings = settings
        self.tail_records = tail_records
        self.timeout_s = timeout_s
        self._codec = default_codec()
        self._book = _Source(
            BOOK_SOURCE,
            physical_name(settings, BOOK_SOURCE),
            BOOK_PARTITIONS,
            lambda symbol: state_partition(symbol, BOOK_PARTITIONS),
        )
        self._analytics = _Source(
            MD_ANALYTICS,
            physical_name(settings, MD_ANALYTICS),
            ANALYTICS_PARTITIONS,
            lambda symbol: partition_for(symbol, ANALYTICS_PARTITIONS),
        )
        self._by_topic = {source.topic: source for source in (self._book, self._analytics)}
        self._lock = threading.Lock()
        self._settled = threading.Event()
        self._stopping = threading.Event()
        self._lookups: queue.Queue[tuple[_Source, str] | None] = queue.Queue()
        # Decoded answers, per symbol, for the offset they were decoded from.
        self._cores: dict[str, tuple[int, OrderBookCore]] = {}
        self._documents: dict[str, tuple[int, int, dict[str, Any]]] = {}
        self._threads = [
            threading.Thread(target=self._follow, name="market-views", daemon=True),
            threading.Thread(target=self._look_up, name="market-views-lookup", daemon=True),
        ]

    # -- life cycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def wait_settled(self, timeout_s: float) -> bool:
        """True once every source was read to its end at start, or found missing or unreadable."""
        return self._settled.wait(timeout_s)

    def close(self) -> None:
        self._stopping.set()
        self._lookups.put(None)
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=10)

    # -- answers ----------------------------------------------------------------------------------------------
    def book(self, symbol: str, depth: int) -> dict[str, Any]:
        """``{symbol, venue, sequence, bids, asks, stale}``, as the orderbook processor last committed it."""
        latest, _ = self._latest(self._book, symbol, "no book")
        with self._lock:  # one core per symbol, replaced when a newer state arrives; reads share it
            cached = self._cores.get(symbol)
            if cached is None or cached[0] != latest.offset:
                assert latest.value is not None  # _latest answers tombstones as NoMarketData
                cached = self._cores[symbol] = (latest.offset, restored_core(symbol, latest.value))
            return book_document(cached[1], symbol, depth)

    def analytics(self, symbol: str) -> dict[str, Any]:
        """The symbol's last MarketAnalytics; ``windows`` counts the records of it this view has read."""
        latest, seen = self._latest(self._analytics, symbol, "no analytics")
        cached = self._documents.get(symbol)
        if cached is None or cached[0] != latest.offset or cached[1] != seen:
            assert latest.value is not None
            cached = (latest.offset, seen, analytics_document(self._codec, latest.value, seen))
            self._documents[symbol] = cached
        return cached[2]

    def _latest(self, source: _Source, symbol: str, nothing: str) -> tuple[Latest, int]:
        with self._lock:
            if source.broker_down:
                raise MarketDataUnreadable(f"cannot read {source.logical}: {source.problem}")
            if source.missing:
                raise NoMarketData(f"{nothing} of {symbol}: {source.problem}")
            if source.problem is not None:
                raise ViewNotReady(f"{source.logical} cannot be read yet: {source.problem}")
            if not source.caught_up:
                raise ViewNotReady(f"{source.logical} is being read from near its end; retry shortly")
            found = source.latest.get(symbol)
            if found is not None:
                if found.value is None:
                    raise NoMarketData(f"{nothing} of {symbol}: its latest {source.logical} record is a deletion")
                return found, source.seen.get(symbol, 1)
            partition = source.partition_of(symbol)
            if symbol in source.absent or source.live_from[partition] <= source.low[partition]:
                raise NoMarketData(f"{nothing} of {symbol} in {source.logical}")
            if symbol not in source.looking:
                source.looking.add(symbol)
                self._lookups.put((source, symbol))
            raise ViewNotReady(
                f"{symbol} is not among the latest {self.tail_records} records per partition of {source.logical}: "
                f"looking for its last record further back; retry shortly"
            )

    # -- the live read ----------------------------------------------------------------------------------------
    def _follow(self) -> None:
        consumer = _reader(self.settings)
        sources = (self._book, self._analytics)
        next_attach = 0.0
        try:
            while not self._stopping.is_set():
                pending = [source for source in sources if source.problem is not None]
                if pending and time.monotonic() >= next_attach:
                    for source in pending:
                        self._attach(consumer, source)
                    next_attach = time.monotonic() + 1.0  # a missing source is looked for once a second
                if all(source.problem is not None or source.caught_up for source in sources):
                    self._settled.set()  # a missing or unreadable source is settled: it answers ViewNotReady
                if all(source.problem is not None for source in sources):
                    self._stopping.wait(max(0.0, next_attach - time.monotonic()))
                    continue
                self._apply(consumer.consume(1000, timeout=0.1))
                self._check_caught_up(consumer)
        except Exception:
            log.exception("market views: the live read stopped")
            with self._lock:
                for source in sources:
                    source.problem = "the live read stopped (see the API's log)"
            self._settled.set()
            raise
        finally:
            consumer.close()

    def _attach(self, consumer: Consumer, source: _Source) -> None:
        """Start the source's live read ``tail_records`` before each partition's end, or note why not."""
        try:
            metadata = consumer.list_topics(source.topic, timeout=self.timeout_s).topics.get(source.topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                problem = f"{source.logical} does not exist (the orderbook processor creates it when it first runs)"
                with self._lock:
                    source.problem, source.broker_down, source.missing = problem, False, True
                return
            ends = {
                partition: consumer.get_watermark_offsets(
                    TopicPartition(source.topic, partition), timeout=self.timeout_s
                )
                for partition in range(source.partitions)
            }
        except KafkaException as error:
            with self._lock:
                source.problem, source.broker_down = f"the broker did not answer: {error}", True
                source.missing = False
            return
        with self._lock:
            source.low = {p: low for p, (low, _) in ends.items()}
            source.live_from = {p: max(low, high - self.tail_records) for p, (low, high) in ends.items()}
            source.targets = {p: high for p, (_, high) in ends.items() if high > source.live_from[p]}
            source.caught_up = not source.targets
            source.problem, source.broker_down, source.missing = None, False, False
        consumer.incremental_assign([TopicPartition(source.topic, p, offset) for p, offset in source.live_from.items()])

    def _apply(self, messages: list[Message]) -> None:
        with self._lock:
            for message in messages:
                key, topic = message.key(), message.topic()
                if message.error() is not None or key is None or topic is None:
                    continue
                source = self._by_topic[topic]
                symbol = key.decode()
                source.latest[symbol] = Latest(message.value(), message.offset() or 0)
                source.seen[symbol] = source.seen.get(symbol, 0) + 1
                source.absent.discard(symbol)

    def _check_caught_up(self, consumer: Consumer) -> None:
        behind = [s for s in (self._book, self._analytics) if s.problem is None and not s.caught_up]
        for source in behind:
            positions = consumer.position([TopicPartition(source.topic, p) for p in source.targets])
            if all(tp.offset >= source.targets[tp.partition] for tp in positions):
                with self._lock:
                    source.caught_up = True

    # -- looking further back -------------------------------------------------------------------------------
    def _look_up(self) -> None:
        consumer = _reader(self.settings)
        try:
            while (job := self._lookups.get()) is not None:
                source, symbol = job
                partition = source.partition_of(symbol)
                try:
                    found = reach_back(
                        consumer,
                        source.topic,
                        partition,
                        symbol,
                        low=source.low[partition],
                        below=source.live_from[partition],
                        timeout_s=self.timeout_s,
                    )
                except (KafkaException, MarketDataUnreadable) as error:
                    log.warning("market views: looking %s up in %s failed: %s", symbol, source.logical, error)
                    found, failed = None, True
                else:
                    failed = False
                with self._lock:
                    source.looking.discard(symbol)
                    if symbol in source.latest or failed:
                        continue  # the live read has a newer record; a failed look-up is retried when asked
                    if found is None:
                        source.absent.add(symbol)
                    else:
                        source.latest[symbol] = found
                        source.seen[symbol] = 1
        finally:
            consumer.close()
