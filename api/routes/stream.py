"""Server-sent events: an account's order events as they happen, read from orders.events.

``GET /v1/stream/orders?account=A1`` (or no account: every account the key sees). The first message is the
comment ``: ready`` once the stream's start is fixed: every event written after it is delivered. Each
event's ``id`` is the stream position after it; a client that reconnects with ``Last-Event-ID`` resumes
right after the last event it saw.
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
from api.kafka_reads import OrderEventTail, decode_positions
from api.models import Text
from api.views import order_event_public

router = APIRouter(prefix="/v1/stream", tags=["stream"])

POLL_S = 0.25


class _SafeTail:
    """Serialises poll and close: a client may go away while a poll runs in a worker thread."""

    def __init__(self, tail: OrderEventTail) -> None:
        self.tail = tail
        self.lock = threading.Lock()
        self.closed = False

    def open(self, resume: dict[int, int] | None) -> None:
        with self.lock:
            self.tail.open(resume)

    def poll(self) -> list[tuple[str, dict[str, object]]]:
        with self.lock:
            if self.closed:
                return []
            return [(event.resume, event.record) for event in self.tail.poll(POLL_S)]

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                self.tail.close()


@dataclass(frozen=True)
class StreamRequest:
    accounts: frozenset[str] | None  # None: every account
    resume: dict[int, int] | None


def stream_request(
    principal: Reader,
    account: Annotated[Text | None, Query(max_length=64, description="One account; default: all the key sees.")] = None,
    last_event_id: Annotated[str | None, Header(description="Resume after this event id (set by browsers).")] = None,
) -> StreamRequest:
    """Checked before the response starts: a refused stream is a plain 403 / 422, not a broken event stream."""
    if account is not None:
        require_account(principal, account)
    try:
        resume = decode_positions(last_event_id) if last_event_id else None
    except ValueError as error:
        raise RequestValidationError(
            [{"loc": ("header", "last-event-id"), "msg": str(error), "type": "value_error"}]
        ) from None
    return StreamRequest(frozenset({account}) if account is not None else principal.visible_accounts(), resume)


def opened_tail(request: Annotated[StreamRequest, Depends(stream_request)], res: Res) -> Iterator[_SafeTail]:
    """The tail, positioned before the response starts (a broker that does not answer is a 503, not an empty
    stream); closed once the response is over, whichever way it ends."""
    tail = _SafeTail(
        OrderEventTail(res.config.settings, request.accounts, res.producer.codec, res.config.broker_timeout_s)
    )
    try:
        tail.open(request.resume)
    except (KafkaException, RuntimeError, KeyError) as error:
        tail.close()
        raise ApiProblem(
            503,
            f"broker unavailable: cannot follow the order events: {error}",
            "BROKER_UNAVAILABLE",
            headers={"Retry-After": "1"},
        ) from None
    try:
        yield tail
    finally:
        # A poll may still run in its worker thread: close once it returns, off the event loop.
        threading.Thread(target=tail.close, name="api-stream-close", daemon=True).start()


@router.get(
    "/orders",
    response_class=EventSourceResponse,
    summary="Stream order events (server-sent events)",
    responses=responses(401, 403, 429, 503),
)
async def stream_order_events(
    tail: Annotated[_SafeTail, Depends(opened_tail)], res: Res
) -> AsyncIterator[ServerSentEvent]:
    """Each message is ``event: order`` with an OrderEventPublic as JSON ``data``."""
    res.metrics.stream_clients.inc()
    try:
        yield ServerSentEvent(comment="ready")
        while True:
            for position, record in await asyncio.to_thread(tail.poll):
                yield ServerSentEvent(
                    event="order", id=position, data=order_event_public(record).model_dump(mode="json")
                )
    finally:
        # The client is gone; a poll may still run in its thread: close once it returns, off the event loop.
        threading.Thread(target=tail.close, name="api-stream-close", daemon=True).start()
