"""Server-sent events: orders, fills, positions and book tops as they happen, read from their topics.

``GET /v1/stream?channel=orders&channel=fills&channel=positions&channel=book_tops&symbol=BTCUSDT&account=A1``
(default channels: orders, fills, positions; no account: every account the key sees; book tops of the
``symbol``s named). Each message is ``event: <channel>`` with a StreamMessage as JSON ``data`` (the record's
topic, partition and offset, and the record). ``GET /v1/stream/orders`` is the orders channel alone, its
``data`` the OrderEventPublic itself.

The first message is the comment ``: ready`` once the stream's start is fixed: every record written after
it is delivered. Each message's ``id`` is a resume token, the stream's position right after it
(``topic/partition/offset,…``); a client that reconnects with it (``Last-Event-ID``, which browsers send by
themselves, or ``?resume=``) gets what followed that message in the log: no gap, no duplicate. A
``Last-Event-ID`` wins over ``?resume=``: an EventSource reconnects to the same URL, with the newer header.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated

from confluent_kafka import KafkaException
from fastapi import APIRouter, Depends, Header, Query
from fastapi.exceptions import RequestValidationError
from fastapi.sse import EventSourceResponse, ServerSentEvent

from api.deps import Reader, Res, require_account
from api.errors import ApiProblem, responses
from api.kafka_reads import CHANNEL_TOPICS, Channel, Position, StreamTail, TailedEvent, decode_positions
from api.models import BookTopPublic, OrderEventPublic, PositionPublic, StreamMessage, Symbol, Text
from api.views import book_top_public, order_event_public, position_record_public

router = APIRouter(prefix="/v1/stream", tags=["stream"])

POLL_S = 0.25


class _SafeTail:
    """Serialises poll and close: a client may go away while a poll runs in a worker thread."""

    def __init__(self, tail: StreamTail) -> None:
        self.tail = tail
        self.lock = threading.Lock()
        self.closed = False

    def open(self, resume: dict[Position, int] | None) -> None:
        with self.lock:
            self.tail.open(resume)

    def poll(self) -> list[TailedEvent]:
        with self.lock:
            if self.closed:
                return []
            return self.tail.poll(POLL_S)

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                self.tail.close()


@dataclass(frozen=True)
class StreamRequest:
    channels: frozenset[Channel]
    accounts: frozenset[str] | None  # None: every account
    symbols: frozenset[str]
    resume: dict[Position, int] | None


AccountQuery = Annotated[Text | None, Query(max_length=64, description="One account; default: all the key sees.")]
LastEventId = Annotated[
    str | None, Header(max_length=8192, description="Resume after this message (browsers set it on reconnection).")
]
ResumeQuery = Annotated[
    str | None,
    Query(
        max_length=8192, description="Resume after the message with this id (Last-Event-ID wins when both are sent)."
    ),
]


def _request(
    principal: Reader,
    *,
    channels: frozenset[Channel],
    account: str | None,
    symbols: frozenset[str],
    token: str | None,
    token_loc: tuple[str, str],
) -> StreamRequest:
    """Checked before the response starts: a refused stream is a plain 403 / 422, not a broken event stream."""
    if account is not None:
        require_account(principal, account)
    try:
        resume = decode_positions(token, {CHANNEL_TOPICS[c] for c in channels}) if token else None
    except ValueError as error:
        raise RequestValidationError([{"loc": token_loc, "msg": str(error), "type": "value_error"}]) from None
    accounts = frozenset({account}) if account is not None else principal.visible_accounts()
    return StreamRequest(channels, accounts, symbols, resume)


def orders_request(principal: Reader, account: AccountQuery = None, last_event_id: LastEventId = None) -> StreamRequest:
    return _request(
        principal,
        channels=frozenset({Channel.ORDERS}),
        account=account,
        symbols=frozenset(),
        token=last_event_id,
        token_loc=("header", "last-event-id"),
    )


def stream_request(
    *,
    principal: Reader,
    channel: Annotated[
        list[Channel] | None,
        Query(description="Channels to carry (repeat the parameter); default: orders, fills, positions."),
    ] = None,
    account: AccountQuery = None,
    symbol: Annotated[list[Symbol] | None, Query(description="Symbols of the book_tops channel.")] = None,
    resume: ResumeQuery = None,
    last_event_id: LastEventId = None,
) -> StreamRequest:
    channels = frozenset(channel or (Channel.ORDERS, Channel.FILLS, Channel.POSITIONS))
    symbols = frozenset(symbol or ())
    if (Channel.BOOK_TOPS in channels) != bool(symbols):
        msg = "book_tops needs at least one symbol" if symbols == frozenset() else "symbol is for book_tops only"
        raise RequestValidationError([{"loc": ("query", "symbol"), "msg": msg, "type": "value_error"}])
    token, loc = (last_event_id, ("header", "last-event-id")) if last_event_id else (resume, ("query", "resume"))
    return _request(principal, channels=channels, account=account, symbols=symbols, token=token, token_loc=loc)


def _opened(request: StreamRequest, res: Res) -> Iterator[_SafeTail]:
    """The tail, positioned before the response starts (a broker that does not answer is a 503, not an empty
    stream); closed once the response is over, whichever way it ends."""
    tail = _SafeTail(
        StreamTail(
            res.config.settings,
            request.channels,
            request.accounts,
            symbols=request.symbols,
            codec=res.producer.codec,
            timeout_s=res.config.broker_timeout_s,
        )
    )
    try:
        tail.open(request.resume)
    except (KafkaException, RuntimeError, KeyError) as error:
        tail.close()
        raise ApiProblem(
            503,
            f"broker unavailable: cannot follow the stream's topics: {error}",
            "BROKER_UNAVAILABLE",
            headers={"Retry-After": "1"},
        ) from None
    try:
        yield tail
    finally:
        # A poll may still run in its worker thread: close once it returns, off the event loop.
        threading.Thread(target=tail.close, name="api-stream-close", daemon=True).start()


def opened_orders_tail(request: Annotated[StreamRequest, Depends(orders_request)], res: Res) -> Iterator[_SafeTail]:
    yield from _opened(request, res)


def opened_tail(request: Annotated[StreamRequest, Depends(stream_request)], res: Res) -> Iterator[_SafeTail]:
    yield from _opened(request, res)


def _message(event: TailedEvent) -> StreamMessage:
    data: OrderEventPublic | PositionPublic | BookTopPublic
    if event.channel is Channel.POSITIONS:
        data = position_record_public(event.record)
    elif event.channel is Channel.BOOK_TOPS:
        data = book_top_public(event.record)
    else:
        data = order_event_public(event.record)
    return StreamMessage(
        channel=event.channel.value, topic=event.topic, partition=event.partition, offset=event.offset, data=data
    )


async def _events(tail: _SafeTail, res: Res, whole: bool) -> AsyncIterator[ServerSentEvent]:
    res.metrics.stream_clients.inc()
    try:
        yield ServerSentEvent(comment="ready")
        while True:
            for event in await asyncio.to_thread(tail.poll):
                if whole:
                    data = _message(event).model_dump(mode="json")
                    yield ServerSentEvent(event=event.channel.value, id=event.resume, data=data)
                else:
                    data = order_event_public(event.record).model_dump(mode="json")
                    yield ServerSentEvent(event="order", id=event.resume, data=data)
    finally:
        # The client is gone; a poll may still run in its thread: close once it returns, off the event loop.
        threading.Thread(target=tail.close, name="api-stream-close", daemon=True).start()


@router.get(
    "",
    response_class=EventSourceResponse,
    summary="Stream orders, fills, positions and book tops (server-sent events, resumable)",
    responses=responses(401, 403, 429, 503),
)
async def stream(tail: Annotated[_SafeTail, Depends(opened_tail)], res: Res) -> AsyncIterator[ServerSentEvent]:
    """Each message is ``event: <channel>`` with a StreamMessage as JSON ``data`` and its resume token as ``id``."""
    async for event in _events(tail, res, whole=True):
        yield event


@router.get(
    "/orders",
    response_class=EventSourceResponse,
    summary="Stream order events (server-sent events, resumable)",
    responses=responses(401, 403, 429, 503),
)
async def stream_order_events(
    tail: Annotated[_SafeTail, Depends(opened_orders_tail)], res: Res
) -> AsyncIterator[ServerSentEvent]:
    """Each message is ``event: order`` with an OrderEventPublic as JSON ``data`` and its resume token as ``id``."""
    async for event in _events(tail, res, whole=False):
        yield event
