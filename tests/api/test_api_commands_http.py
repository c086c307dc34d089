"""Commands over real HTTP: what lands in the real topics, exactly; and what is refused before it gets there."""

from __future__ import annotations

import time
from typing import Any

import pytest
from _seed import SeededOrder, seed_orders
from confluent_kafka import Consumer, TopicPartition
from conftest import OWN, ApiEnv

from api.auth import key_id_of
from processors.core import order_id_for
from processors.risk.limits import DEFAULT_LIMITS
from schemas.codec import Decoded, default_codec
from schemas.names import AMEND_ORDER, CANCEL_ORDER, KILL_SWITCH, NEW_ORDER
from schemas.names import RISK_LIMITS as RISK_LIMITS_SCHEMA
from schemas.scales import PRICE_SCALE, QUANTITY_SCALE
from topics.admin import physical_name
from topics.catalogue import CONTROL_EVENTS, ORDERS_COMMANDS, RISK_LIMITS
from topics.client import read_topic

pytestmark = pytest.mark.integration

ORDER = {
    "account": OWN,
    "symbol": "BTCUSDT",
    "side": "sell",
    "type": "stop_limit",
    "quantity": "0.01500001",
    "price": "59999.99",
    "stop_price": "60000.5",
    "time_in_force": "gtd",
    "expire_time": "2026-06-30T16:00:00.000001Z",
    "client_order_id": "cmd-http-1",
    "reduce_only": True,
}


@pytest.fixture(scope="module")
def seeded(api_env: ApiEnv) -> dict[str, dict[str, SeededOrder]]:
    return seed_orders(api_env.settings, "commands", (OWN,), partial=True)


def _record_at(env: ApiEnv, topic: str, answer: dict[str, Any]) -> tuple[str | None, Decoded]:
    """The key and decoded value of the record a 202 answer points at."""
    assert answer["topic"] == physical_name(env.settings, topic)
    for message in read_topic(env.settings, topic, timeout_s=15):
        if (message.partition, message.offset) == (answer["partition"], answer["offset"]):
            assert message.value is not None
            return message.key, default_codec().decode(message.value)
    raise AssertionError(f"no record at {answer['partition']}/{answer['offset']} of {topic}")


def _count(env: ApiEnv, topic: str) -> int:
    """Records ever written to the topic (the sum of its partitions' end offsets)."""
    name = physical_name(env.settings, topic)
    consumer = Consumer(env.settings.kafka_config(**{"group.id": "sq-test-count"}))
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in partitions)
    finally:
        consumer.close()


def test_post_order_produces_exactly_the_new_order_command(api_env: ApiEnv) -> None:
    before_us = time.time_ns() // 1000
    with api_env.client(api_env.keys.trader) as client:
        response = client.post("/v1/orders", json=ORDER)
    after_us = time.time_ns() // 1000
    assert response.status_code == 202, response.text
    answer = response.json()
    order_id = order_id_for(OWN, "cmd-http-1")
    assert (answer["order_id"], answer["client_order_id"]) == (order_id, "cmd-http-1")
    key, decoded = _record_at(api_env, ORDERS_COMMANDS, answer)
    assert key == OWN and decoded.schema == NEW_ORDER
    meta = decoded.record["meta"]
    assert before_us <= meta["event_time_us"] == meta["ingest_time_us"] <= after_us
    assert decoded.record == {
        "meta": {
            "event_id": answer["event_id"],
            "producer": "api",
            "event_time_us": meta["event_time_us"],
            "ingest_time_us": meta["event_time_us"],
            "causation_id": None,
            "correlation_id": answer["event_id"],
        },
        "account": OWN,
        "order_id": order_id,
        "client_order_id": "cmd-http-1",
        "symbol": "BTCUSDT",
        "side": "SELL",
        "order_type": "STOP_LIMIT",
        "quantity": 1_500_001,
        "price": 5_999_999 * PRICE_SCALE // 100,
        "stop_price": 60_000 * PRICE_SCALE + PRICE_SCALE // 2,
        "time_in_force": "GTD",
        "expire_time_us": 1_782_835_200_000_001,
        "post_only": False,
        "reduce_only": True,
        "venue": None,
        "parent_order_id": None,
        "execution": None,
    }


def test_an_order_without_client_order_id_gets_one_and_a_resend_names_the_same_order(api_env: ApiEnv) -> None:
    body = {"account": OWN, "symbol": "ETHUSDT", "side": "buy", "type": "market", "quantity": "1"}
    with api_env.client(api_env.keys.trader) as client:
        generated = client.post("/v1/orders", json=body).json()
        again = client.post("/v1/orders", json={**body, "client_order_id": generated["client_order_id"]}).json()
    assert generated["order_id"] == order_id_for(OWN, generated["client_order_id"]) == again["order_id"]
    assert generated["event_id"] != again["event_id"]  # two commands in the log, one order (the OMS dedups)


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"quantity": "0.000000001"}, "quantity", "more than 8 decimal places"),
        ({"price": "60000.123456789"}, "price", "more than 8 decimal places"),
        ({"quantity": 0.5}, "quantity", "valid string"),
        ({"quantity": "-1"}, "quantity", "pattern"),
        ({"symbol": None}, "symbol", "Field required"),
        ({"side": "long"}, "side", "'buy' or 'sell'"),
    ],
)
def test_a_bad_body_is_422_naming_the_field_and_nothing_is_produced(
    api_env: ApiEnv, changes: dict[str, Any], field: str, reason: str
) -> None:
    body = {k: v for k, v in {**ORDER, "client_order_id": "bad-1", **changes}.items() if v is not None}
    before = _count(api_env, ORDERS_COMMANDS)
    with api_env.client(api_env.keys.trader) as client:
        response = client.post("/v1/orders", json=body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field] and reason in error["msg"]
    assert _count(api_env, ORDERS_COMMANDS) == before


def test_cancel_produces_a_cancel_order_joining_the_order_story(
    api_env: ApiEnv, seeded: dict[str, dict[str, SeededOrder]]
) -> None:
    live = seeded[OWN]["live"]
    with api_env.client(api_env.keys.trader) as client:
        response = client.delete(f"/v1/orders/{live.order_id}")
    assert response.status_code == 202, response.text
    key, decoded = _record_at(api_env, ORDERS_COMMANDS, response.json())
    assert key == OWN and decoded.schema == CANCEL_ORDER
    record = decoded.record
    assert (record["account"], record["order_id"], record["symbol"]) == (OWN, live.order_id, "BTCUSDT")
    assert record["meta"]["correlation_id"] == f"commands-corr-{live.client_order_id}"


def test_amend_produces_an_amend_order_with_exact_new_values(
    api_env: ApiEnv, seeded: dict[str, dict[str, SeededOrder]]
) -> None:
    live = seeded[OWN]["live"]
    with api_env.client(api_env.keys.trader) as client:
        response = client.patch(f"/v1/orders/{live.order_id}", json={"quantity": "2.5", "price": "100.01"})
    assert response.status_code == 202, response.text
    _, decoded = _record_at(api_env, ORDERS_COMMANDS, response.json())
    assert decoded.schema == AMEND_ORDER
    assert (decoded.record["quantity"], decoded.record["price"], decoded.record["stop_price"]) == (
        5 * QUANTITY_SCALE // 2,
        10_001 * PRICE_SCALE // 100,
        None,
    )


@pytest.mark.parametrize(("method", "body"), [("DELETE", None), ("PATCH", {"quantity": "3"})])
def test_cancel_or_amend_of_a_filled_order_is_409_with_the_reason(
    api_env: ApiEnv, seeded: dict[str, dict[str, SeededOrder]], method: str, body: dict[str, str] | None
) -> None:
    filled = seeded[OWN]["filled"]
    before = _count(api_env, ORDERS_COMMANDS)
    with api_env.client(api_env.keys.trader) as client:
        response = client.request(method, f"/v1/orders/{filled.order_id}", json=body)
    assert response.status_code == 409
    problem = response.json()
    assert problem["reason"] == "INVALID_TRANSITION" and problem["extra"]["status"] == "FILLED"
    assert "FILLED" in problem["detail"]
    assert _count(api_env, ORDERS_COMMANDS) == before


def test_amend_below_the_filled_quantity_is_409_with_the_oms_reason(
    api_env: ApiEnv, seeded: dict[str, dict[str, SeededOrder]]
) -> None:
    partial = seeded[OWN]["partial"]  # 1 of 2 filled
    with api_env.client(api_env.keys.trader) as client:
        below = client.patch(f"/v1/orders/{partial.order_id}", json={"quantity": "0.5"})
        at_filled = client.patch(f"/v1/orders/{partial.order_id}", json={"quantity": "1"})
    assert below.status_code == 409
    assert below.json()["reason"] == "AMEND_BELOW_FILLED" and below.json()["extra"] == {"cum_quantity": "1"}
    assert at_filled.status_code == 202


def test_kill_switch_engage_and_release_produce_control_events(api_env: ApiEnv) -> None:
    with api_env.client(api_env.keys.risk) as client:
        engaged = client.post(
            "/v1/risk/kill-switch",
            json={"scope": "account", "target": OWN, "cancel_open_orders": True, "reason": "runaway"},
        )
        released = client.delete("/v1/risk/kill-switch", params={"scope": "account", "target": OWN, "reason": "ok"})
        everything = client.post("/v1/risk/kill-switch", json={"scope": "global"})
    assert (engaged.status_code, released.status_code, everything.status_code) == (202, 202, 202)
    actor = f"key:{key_id_of(api_env.keys.risk)}"
    key, on = _record_at(api_env, CONTROL_EVENTS, engaged.json())
    assert key == f"ACCOUNT:{OWN}" and on.schema == KILL_SWITCH
    assert {k: on.record[k] for k in ("scope", "target", "active", "cancel_open_orders", "actor", "detail")} == {
        "scope": "ACCOUNT",
        "target": OWN,
        "active": True,
        "cancel_open_orders": True,
        "actor": actor,
        "detail": "runaway",
    }
    _, off = _record_at(api_env, CONTROL_EVENTS, released.json())
    assert (off.record["active"], off.record["cancel_open_orders"], off.record["detail"]) == (False, False, "ok")
    key, global_switch = _record_at(api_env, CONTROL_EVENTS, everything.json())
    assert key == "GLOBAL" and (global_switch.record["scope"], global_switch.record["target"]) == ("GLOBAL", None)


def test_limits_put_produces_risk_limits_and_get_reads_them_back(api_env: ApiEnv) -> None:
    account = "ACC-LIMITS"
    body = {
        "max_order_quantity": "5",
        "max_order_notional": "250000.5",
        "max_open_orders": 7,
        "allowed_symbols": ["BTCUSDT"],
        "reference_prices": {"BTCUSDT": "60000"},
    }
    with api_env.client(api_env.keys.admin) as client:
        unset = client.get(f"/v1/risk/limits/{account}").json()
        put = client.put(f"/v1/risk/limits/{account}", json=body)
        got = client.get(f"/v1/risk/limits/{account}").json()
    assert unset["source"] == "default"
    assert unset["max_open_orders"] == DEFAULT_LIMITS.max_open_orders
    assert put.status_code == 202, put.text
    key, decoded = _record_at(api_env, RISK_LIMITS, put.json())
    assert key == account and decoded.schema == RISK_LIMITS_SCHEMA
    assert decoded.record["max_order_notional"] == 25_000_050_000_000
    assert decoded.record["max_position_quantity"] == DEFAULT_LIMITS.max_position_quantity
    assert got["source"] == "configured"
    assert (got["max_order_quantity"], got["max_order_notional"], got["max_open_orders"]) == ("5", "250000.5", 7)
    assert got["reference_prices"] == {"BTCUSDT": "60000"} and got["allowed_symbols"] == ["BTCUSDT"]


def test_limits_finer_than_the_cash_scale_are_422(api_env: ApiEnv) -> None:
    with api_env.client(api_env.keys.admin) as client:
        response = client.put(f"/v1/risk/limits/{OWN}", json={"daily_loss_limit": "0.000000001"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "daily_loss_limit"]
