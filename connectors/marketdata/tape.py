"""The recorded-file ("tape") format, pure: one row per message, the same columns in CSV and Parquet.

Columns (``TAPE_COLUMNS``; a file may leave out the ones its kinds do not use):

- ``kind``: ``snapshot`` | ``update`` | ``trade``;
- ``time_us``: event time, microseconds since the Unix epoch (UTC); rows are played in file order;
- ``venue``, ``symbol``;
- depth: ``first_update_id``, ``last_update_id`` (a snapshot has only the last), ``previous_last_update_id``
  (optional, futures ``pu``), ``bids`` / ``asks`` as ``"price:quantity price:quantity …"`` decimal strings
  (best first in a snapshot; quantity 0 removes a level in an update);
- trade: ``trade_id``, ``price``, ``quantity`` (decimal strings), ``aggressor`` (``BUY`` | ``SELL`` | empty);
- optional ``event_id`` and ``correlation_id``: kept from a recording, so a replay republishes a live session
  with the ids it had; derived from the row when absent.

Prices and quantities are decimal strings so they stay exact (Parquet decimal and integer columns are read
exactly too, integers as whole units); a float column is refused, never rounded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Final

from connectors.marketdata.amounts import parse_amount
from connectors.marketdata.messages import BookSnapshot, DepthDiff, Level, MarketMessage, TradePrint
from connectors.marketdata.records import event_id_for, meta, to_emit
from processors.core import Emit, Record
from processors.runtime.dead_letters import SourceRecord, dead_letter
from schemas.scales import PRICE_DECIMALS, QUANTITY_DECIMALS, format_fixed, to_fixed
from topics.catalogue import MD_DEPTH, MD_TRADES

PRODUCER: Final = "connector.file"
KINDS: Final = ("snapshot", "update", "trade")
TAPE_COLUMNS: Final = (
    "kind",
    "time_us",
    "venue",
    "symbol",
    "first_update_id",
    "last_update_id",
    "previous_last_update_id",
    "bids",
    "asks",
    "trade_id",
    "price",
    "quantity",
    "aggressor",
    "event_id",
    "correlation_id",
)


class MalformedRow(ValueError):
    """A row that cannot be played; the message says which column and why."""


@dataclass(frozen=True, slots=True)
class TapeEntry:
    venue: str
    message: MarketMessage
    event_id: str | None
    correlation_id: str | None


# -- writing ------------------------------------------------------------------------------------------------
def levels_text(levels: tuple[Level, ...] | list[Record]) -> str:
    pairs = ((lv["price"], lv["quantity"]) if isinstance(lv, dict) else lv for lv in levels)
    return " ".join(f"{format_fixed(p, PRICE_DECIMALS)}:{format_fixed(q, QUANTITY_DECIMALS)}" for p, q in pairs)


def _blank_row() -> dict[str, Any]:
    return dict.fromkeys(TAPE_COLUMNS)


def row_from_message(
    venue: str, message: MarketMessage, event_id: str | None = None, correlation_id: str | None = None
) -> dict[str, Any]:
    row = _blank_row() | {
        "time_us": message.time_us,
        "venue": venue,
        "symbol": message.symbol,
        "event_id": event_id,
        "correlation_id": correlation_id,
    }
    if isinstance(message, TradePrint):
        row |= {
            "kind": "trade",
            "trade_id": message.trade_id,
            "aggressor": message.aggressor,
            "price": format_fixed(message.price, PRICE_DECIMALS),
            "quantity": format_fixed(message.quantity, QUANTITY_DECIMALS),
        }
    elif isinstance(message, DepthDiff):
        row |= {
            "kind": "update",
            "first_update_id": message.first_id,
            "last_update_id": message.last_id,
            "previous_last_update_id": message.previous_last_id,
            "bids": levels_text(message.bids),
            "asks": levels_text(message.asks),
        }
    else:
        row |= {
            "kind": "snapshot",
            "last_update_id": message.last_update_id,
            "bids": levels_text(message.bids),
            "asks": levels_text(message.asks),
        }
    return row


def row_from_emit(emit: Emit) -> dict[str, Any] | None:
    """The tape row of a published md.depth / md.trades record (None for other topics): what a recording keeps."""
    if emit.topic not in (MD_DEPTH, MD_TRADES):
        return None
    record = emit.record
    envelope = record["meta"]
    row = _blank_row() | {
        "time_us": envelope["event_time_us"],
        "venue": record["venue"],
        "symbol": record["symbol"],
        "event_id": envelope["event_id"],
        "correlation_id": envelope["correlation_id"],
    }
    if emit.topic == MD_TRADES:
        row |= {
            "kind": "trade",
            "trade_id": record["trade_id"],
            "aggressor": record["aggressor"],
            "price": format_fixed(record["price"], PRICE_DECIMALS),
            "quantity": format_fixed(record["quantity"], QUANTITY_DECIMALS),
        }
    elif "first_update_id" in record:
        row |= {
            "kind": "update",
            "first_update_id": record["first_update_id"],
            "last_update_id": record["last_update_id"],
            "previous_last_update_id": record["previous_last_update_id"],
            "bids": levels_text(record["bids"]),
            "asks": levels_text(record["asks"]),
        }
    else:
        row |= {
            "kind": "snapshot",
            "last_update_id": record["last_update_id"],
            "bids": levels_text(record["bids"]),
            "asks": levels_text(record["asks"]),
        }
    return row


# -- reading ------------------------------------------------------------------------------------------------
def _value(row: Mapping[str, Any], column: str) -> Any:
    value = row.get(column)
    return None if value == "" else value


def _required(row: Mapping[str, Any], column: str) -> Any:
    value = _value(row, column)
    if value is None:
        raise MalformedRow(f"{column} is missing")
    return value


def _int(row: Mapping[str, Any], column: str, required: bool = True) -> int | None:
    value = _required(row, column) if required else _value(row, column)
    if value is None:
        return None
    if isinstance(value, bool | float):
        raise MalformedRow(f"{column} must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MalformedRow(f"{column} must be an integer, got {value!r}") from None


def _amount(value: Any, decimals: int, column: str, allow_zero: bool) -> int:
    """A decimal string (CSV, Parquet string columns), or an exact Decimal or int (Parquet decimal/integer
    columns, in units); a float is refused: it may already have lost the price."""
    try:
        if isinstance(value, str):
            fixed = parse_amount(value.strip(), decimals)
        elif isinstance(value, Decimal | int) and not isinstance(value, bool):
            fixed = to_fixed(value, decimals)
        else:
            raise MalformedRow(f"{column} must be a decimal string (exact), got {type(value).__name__} {value!r}")
    except ValueError as error:
        if isinstance(error, MalformedRow):
            raise
        raise MalformedRow(f"{column}: {error}") from None
    if fixed < 0 or (fixed == 0 and not allow_zero):
        raise MalformedRow(f"{column} must be {'non-negative' if allow_zero else 'positive'}, got {value}")
    return fixed


def parse_levels_text(text: Any, column: str) -> tuple[Level, ...]:
    if text is None or text == "":
        return ()
    if not isinstance(text, str):
        raise MalformedRow(f"{column} must be 'price:quantity …' text, got {text!r}")
    levels = []
    for pair in text.split():
        price, colon, quantity = pair.partition(":")
        try:  # the common case, at the cost of two cached parses; anything unusual takes the checked path
            level = (parse_amount(price, PRICE_DECIMALS), parse_amount(quantity, QUANTITY_DECIMALS))
        except ValueError:
            level = (0, -1)
        if not colon or level[0] <= 0 or level[1] < 0:
            level = _checked_level(pair, column)
        levels.append(level)
    return tuple(levels)


def _checked_level(pair: str, column: str) -> Level:
    """One ``price:quantity`` pair, or MalformedRow saying precisely what is wrong with it."""
    price, colon, quantity = pair.partition(":")
    if not colon:
        raise MalformedRow(f"{column}: {pair!r} is not price:quantity")
    return (
        _amount(price, PRICE_DECIMALS, f"{column} price", False),
        _amount(quantity, QUANTITY_DECIMALS, f"{column} quantity", True),
    )


def parse_row(row: Mapping[str, Any]) -> TapeEntry:
    kind = _required(row, "kind")
    if kind not in KINDS:
        raise MalformedRow(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    time_us = _int(row, "time_us")
    venue, symbol = _required(row, "venue"), _required(row, "symbol")
    if not isinstance(venue, str) or not isinstance(symbol, str):
        raise MalformedRow("venue and symbol must be text")
    assert time_us is not None  # required
    message: MarketMessage
    if kind == "trade":
        aggressor = _value(row, "aggressor")
        if aggressor not in (None, "BUY", "SELL"):
            raise MalformedRow(f"aggressor must be BUY, SELL or empty, got {aggressor!r}")
        message = TradePrint(
            symbol,
            str(_required(row, "trade_id")),
            _amount(_required(row, "price"), PRICE_DECIMALS, "price", False),
            _amount(_required(row, "quantity"), QUANTITY_DECIMALS, "quantity", False),
            aggressor,
            time_us,
        )
    else:
        last = _int(row, "last_update_id")
        assert last is not None  # required
        bids, asks = parse_levels_text(_value(row, "bids"), "bids"), parse_levels_text(_value(row, "asks"), "asks")
        if kind == "snapshot":
            message = BookSnapshot(symbol, last, time_us, bids, asks)
        else:
            first = _int(row, "first_update_id")
            assert first is not None  # required
            if first > last:
                raise MalformedRow(f"first_update_id {first} is after last_update_id {last}")
            message = DepthDiff(
                symbol, first, last, _int(row, "previous_last_update_id", required=False), time_us, bids, asks
            )
    ids = (_value(row, "event_id"), _value(row, "correlation_id"))
    if any(value is not None and not isinstance(value, str) for value in ids):
        raise MalformedRow("event_id and correlation_id must be text")
    return TapeEntry(venue, message, ids[0], ids[1])


class TapePlayer:
    """Rows of one source (a file) → the records to publish, or a dead letter for a row that cannot be used."""

    def __init__(self, source: str) -> None:
        self.source = source  # the file as the user named it, for dead letters
        self._name = PurePath(source).name  # derived ids name the file, not where it lies
        self._epochs: dict[tuple[str, str], str] = {}

    def play(self, row: Mapping[str, Any], row_number: int, now_us: int) -> Emit:
        try:
            entry = parse_row(row)
        except MalformedRow as error:
            value = json.dumps(dict(row), default=str).encode()
            source = SourceRecord(self.source, None, row_number, None, value, now_us)
            return dead_letter(PRODUCER, source, "MALFORMED_ROW", f"row {row_number}: {error}")
        return to_emit(entry.message, entry.venue, self._envelope(entry, row_number, now_us))

    def _envelope(self, entry: TapeEntry, row_number: int, now_us: int) -> Record:
        message, venue = entry.message, entry.venue
        book = (venue, message.symbol)
        if isinstance(message, TradePrint):
            event_id = entry.event_id or event_id_for(f"{venue}|{message.symbol}|trade|{message.trade_id}")
            story = entry.correlation_id or f"{venue}|{message.symbol}"
        elif isinstance(message, BookSnapshot):
            event_id = entry.event_id or event_id_for(
                f"{venue}|{message.symbol}|snapshot|{message.last_update_id}|{self._name}|{row_number}"
            )
            story = entry.correlation_id or event_id
            self._epochs[book] = story
        else:
            story = entry.correlation_id or self._epochs.get(book) or f"{venue}|{message.symbol}|{self._name}"
            event_id = entry.event_id or event_id_for(
                f"{venue}|{message.symbol}|update|{message.first_id}-{message.last_id}|{story}"
            )
        return meta(event_id, PRODUCER, message.time_us, now_us, story)


def pacing_delay_s(first_time_us: int, time_us: int, speed: float | None, elapsed_s: float) -> float:
    """How long to wait before playing a row at ``speed`` times recorded speed (None: as fast as possible)."""
    if speed is None:
        return 0.0
    return max(0.0, (time_us - first_time_us) / 1e6 / speed - elapsed_s)
