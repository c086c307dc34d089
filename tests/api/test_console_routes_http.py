"""The console's page and the routes it reads beside the order routes, over real HTTP: /console, /v1/me,
/v1/control, /v1/dead-letters, /v1/pipeline and /v1/analytics/{symbol}/history, from records on the module's
own topics."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, TopicPartition
from conftest import OTHER, OWN, ApiEnv

from processors.runtime.registry import consumer_group
from schemas.examples import example_event
from schemas.names import CIRCUIT_BREAKER, DEAD_LETTER, DEPTH_SNAPSHOT, MARKET_ANALYTICS
from topics.admin import physical_name
from topics.catalogue import CONTROL_EVENTS, DEAD_LETTERS, MD_ANALYTICS, MD_DEPTH
from topics.client import AvroProducer

pytestmark = pytest.mark.integration

SECOND_US = 1_000_000


def test_the_console_is_served_with_its_vendored_chart_library(api_env: ApiEnv) -> None:
    with api_env.client() as anonymous:
        page = anonymous.get("/console", follow_redirects=True)
        chart = anonymous.get("/console/vendor/uPlot.iife.min.js")
        licence = anonymous.get("/console/vendor/uPlot.LICENSE")
    assert page.status_code == 200 and str(page.url).endswith("/console/")
    assert 'src="console.js"' in page.text and 'id="login-form"' in page.text
    assert chart.status_code == 200 and "uPlot" in chart.text
    assert licence.status_code == 200 and "MIT" in licence.text


def test_me_names_the_role_accounts_and_actions_of_the_key(api_env: ApiEnv) -> None:
    with api_env.client(api_env.keys.trader) as trader, api_env.client(api_env.keys.risk) as risk:
        mine, theirs = trader.get("/v1/me").json(), risk.get("/v1/me").json()
    assert (mine["role"], mine["accounts"]) == ("trader", [OWN])
    assert set(mine["may"]) == {"read", "place_order", "amend_order", "cancel_order"}
    assert (theirs["role"], theirs["accounts"]) == ("risk", ["*"]) and "kill_switch" in theirs["may"]
    with api_env.client("sqk_000000000000_" + "x" * 43) as forged:
        assert forged.get("/v1/me").status_code == 401


def test_control_shows_switches_in_force_breakers_and_history_to_the_accounts_they_concern(api_env: ApiEnv) -> None:
    breaker = example_event(CIRCUIT_BREAKER, target=OTHER, scope="ACCOUNT")
    producer = AvroProducer(api_env.settings)
    producer.produce(CONTROL_EVENTS, f"ACCOUNT|{OTHER}", CIRCUIT_BREAKER, breaker)
    producer.flush(10)
    with api_env.client(api_env.keys.risk) as risk, api_env.client(api_env.keys.trader) as trader:
        for target in (OWN, OTHER):
            switch = {"scope": "account", "target": target, "reason": f"halt {target}"}
            assert risk.post("/v1/risk/kill-switch", json=switch).status_code == 202
        assert risk.delete("/v1/risk/kill-switch", params={"scope": "account", "target": OWN}).status_code == 202
        everything, own = risk.get("/v1/control").json(), trader.get("/v1/control").json()
        assert risk.get("/v1/control", params={"history": 0}).status_code == 422
    assert [(s["target"], s["detail"]) for s in everything["kill_switches"]] == [(OTHER, f"halt {OTHER}")]
    assert [(b["target"], b["state"], b["trigger_count"]) for b in everything["breakers"]] == [(OTHER, "TRIPPED", 5)]
    switches = [(h["target"], h["active"]) for h in everything["history"] if h["kind"] == "kill_switch"]
    assert switches == [(OWN, False), (OTHER, True), (OWN, True)]  # newest first
    assert own["kill_switches"] == [] and own["breakers"] == []  # OTHER's controls are not the trader's business
    assert [(h["target"], h["active"]) for h in own["history"]] == [(OWN, False), (OWN, True)]


def test_dead_letters_carry_their_reason_for_keys_of_every_account(api_env: ApiEnv) -> None:
    producer = AvroProducer(api_env.settings)
    for offset in (41, 42):
        letter = example_event(DEAD_LETTER, source_offset=offset)
        producer.produce(DEAD_LETTERS, "risk", DEAD_LETTER, letter)
    producer.flush(10)
    with api_env.client(api_env.keys.admin) as admin, api_env.client(api_env.keys.trader) as trader:
        letters = admin.get("/v1/dead-letters").json()
        refused = trader.get("/v1/dead-letters")
    assert [(d["stage"], d["reason"], d["source_offset"]) for d in letters] == [
        ("risk", "UNDECODABLE", 42),
        ("risk", "UNDECODABLE", 41),
    ]
    assert letters[0]["detail"].startswith("unknown writer schema")
    assert (refused.status_code, refused.json()["reason"]) == (403, "ACCOUNT_NOT_PERMITTED")


def test_pipeline_gives_each_stage_that_committed_its_offsets_and_lag(api_env: ApiEnv) -> None:
    settings = api_env.settings
    producer = AvroProducer(settings)
    for n in range(3):  # three depth records on one partition; the orderbook group commits past the first
        producer.produce(
            MD_DEPTH,
            "PIPEBTC",
            DEPTH_SNAPSHOT,
            example_event(DEPTH_SNAPSHOT, n + 1, symbol="PIPEBTC"),
        )
    producer.flush(10)
    name = physical_name(settings, MD_DEPTH)
    group = Consumer(settings.kafka_config(**{"group.id": consumer_group(settings, "kafka", "orderbook")}))
    try:
        watermarks = {p: group.get_watermark_offsets(TopicPartition(name, p), timeout=10) for p in range(4)}
        partition = next(p for p, (_, high) in watermarks.items() if high == 3)
        group.commit(offsets=[TopicPartition(name, partition, 1)], asynchronous=False)
    finally:
        group.close()
    with api_env.client(api_env.keys.read_only) as reader:
        stages = reader.get("/v1/pipeline").json()
    assert [(s["stage"], s["committed"], s["lag_records"]) for s in stages] == [("orderbook", 1, 2)]


def test_analytics_history_is_the_symbols_records_oldest_first(api_env: ApiEnv) -> None:
    producer = AvroProducer(api_env.settings)
    base = example_event(MARKET_ANALYTICS)["window_end_us"]
    for n, symbol in enumerate(("HISTBTC", "HISTETH", "HISTBTC", "HISTBTC")):
        record = example_event(MARKET_ANALYTICS, n + 1, symbol=symbol, window_end_us=base + n * SECOND_US, vpin=n / 10)
        producer.produce(MD_ANALYTICS, symbol, MARKET_ANALYTICS, record)
    producer.flush(10)
    with api_env.client(api_env.keys.read_only) as reader:
        history = reader.get("/v1/analytics/HISTBTC/history").json()
        last = reader.get("/v1/analytics/HISTBTC/history", params={"limit": 1}).json()
        unknown = reader.get("/v1/analytics/NOSUCH/history").json()
    assert [(h["window_end_us"] - base, h["vpin"]) for h in history] == [
        (0, 0.0),
        (2 * SECOND_US, 0.2),
        (3 * SECOND_US, 0.3),
    ]
    assert history[0]["kyle_lambda"] == 0.0027 and [h["vpin"] for h in last] == [0.3]
    assert unknown == []
