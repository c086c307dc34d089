"""The server-sent event stream over real HTTP: an account's order events as they are written, only its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import OTHER, OWN, ApiEnv

from schemas.examples import example_event
from schemas.names import ORDER_EVENT
from schemas.scales import CASH_DECIMALS, format_fixed
from tests.kit.sse import sse_frames
from topics.catalogue import ORDERS_EVENTS
from topics.client import AvroProducer

pytestmark = pytest.mark.integration

EXAMPLE_FEE = format_fixed(example_event(ORDER_EVENT)["fee"], CASH_DECIMALS)  # the event's fee, as a decimal string


def _produce(env: ApiEnv, *events: tuple[str, str]) -> None:
    producer = AvroProducer(env.settings)
    for account, event_id in events:
        record: dict[str, Any] = example_event(ORDER_EVENT, account=account, order_id=f"order-{event_id}")
        record["meta"] = dict(record["meta"], event_id=event_id)
        producer.produce(ORDERS_EVENTS, account, ORDER_EVENT, record)
    producer.flush()


def _next_order_event(frames: Iterator[dict[str, str]]) -> dict[str, str]:
    return next(f for f in frames if f.get("event") == "order")


def test_a_trader_streams_its_account_events_as_they_happen_and_resumes_after_the_last(api_env: ApiEnv) -> None:
    with api_env.client(api_env.keys.trader, timeout_s=20) as client:
        with client.stream("GET", "/v1/stream/orders") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            frames = sse_frames(response.iter_lines())
            assert next(frames) == {":": "ready"}
            _produce(api_env, (OTHER, "other-1"), (OWN, "own-1"))
            first = _next_order_event(frames)
        assert json.loads(first["data"])["event_id"] == "own-1"  # other-1 was written first and never shown
        assert json.loads(first["data"])["account"] == OWN and json.loads(first["data"])["fee"] == EXAMPLE_FEE

        _produce(api_env, (OWN, "own-2"), (OTHER, "other-2"), (OWN, "own-3"))  # while disconnected
        with client.stream("GET", "/v1/stream/orders", headers={"Last-Event-ID": first["id"]}) as response:
            frames = sse_frames(response.iter_lines())
            assert next(frames) == {":": "ready"}
            resumed = [json.loads(_next_order_event(frames)["data"])["event_id"] for _ in range(2)]
    assert resumed == ["own-2", "own-3"]


def test_a_malformed_last_event_id_is_422(api_env: ApiEnv) -> None:
    with api_env.client(api_env.keys.trader) as client:
        response = client.get("/v1/stream/orders", headers={"Last-Event-ID": "garbage"})
    assert response.status_code == 422
