"""The API's command producer against the real broker: concurrent awaited sends (the event loop polls for their
reports) and blocking sends from threads at the same time, each answered with the place the broker gave it."""

from __future__ import annotations

import asyncio
import threading

import pytest

from api.producer import CommandProducer, Delivered, ProduceError
from schemas.codec import default_codec
from schemas.examples import example_event
from schemas.names import NEW_ORDER
from settings import Settings
from topics.admin import physical_name
from topics.catalogue import ORDERS_COMMANDS
from topics.client import read_topic

pytestmark = pytest.mark.integration

ASYNC_SENDS = 200
THREAD_SENDS = 20


def _order(n: int) -> dict[str, object]:
    return example_event(NEW_ORDER, seq=n, account=f"ACC-{n % 4}", client_order_id=f"c-{n}")


def test_concurrent_async_and_blocking_sends_are_each_acknowledged_where_the_log_has_them(
    api_settings: Settings,
) -> None:
    producer = CommandProducer(api_settings)
    blocking: list[Delivered] = []

    def from_a_thread() -> None:
        for n in range(ASYNC_SENDS, ASYNC_SENDS + THREAD_SENDS):
            blocking.append(producer.send(ORDERS_COMMANDS, f"ACC-{n % 4}", NEW_ORDER, _order(n)))

    async def sends() -> list[Delivered]:
        thread = threading.Thread(target=from_a_thread)
        thread.start()
        delivered = await asyncio.gather(
            *(producer.send_async(ORDERS_COMMANDS, f"ACC-{n % 4}", NEW_ORDER, _order(n)) for n in range(ASYNC_SENDS))
        )
        await asyncio.to_thread(thread.join)
        return delivered

    try:
        awaited = asyncio.run(sends())
    finally:
        producer.close()
    assert len(blocking) == THREAD_SENDS
    places = {(d.partition, d.offset): d for d in [*awaited, *blocking]}
    assert len(places) == ASYNC_SENDS + THREAD_SENDS  # no two sends answered with the same place
    assert {d.topic for d in places.values()} == {physical_name(api_settings, ORDERS_COMMANDS)}

    codec = default_codec()
    in_log = {
        (r.partition, r.offset): codec.decode(r.value)[1]["client_order_id"]
        for r in read_topic(api_settings, ORDERS_COMMANDS)
        if r.value is not None
    }
    for n, delivered in enumerate(awaited):  # each answer names the record it was for
        assert in_log[(delivered.partition, delivered.offset)] == f"c-{n}"


def test_an_awaited_send_the_broker_does_not_acknowledge_in_time_is_a_produce_error(api_settings: Settings) -> None:
    producer = CommandProducer(api_settings.with_topic_prefix("no-such-prefix-"), ack_timeout_s=0.5)

    async def send() -> Delivered:
        return await producer.send_async(ORDERS_COMMANDS, "ACC-0", NEW_ORDER, _order(0))

    try:
        with pytest.raises(ProduceError, match=ORDERS_COMMANDS):
            asyncio.run(send())
    finally:
        producer.close(timeout_s=1)
