"""The order path restarted from risk and portfolio changelogs of the earlier layout (one whole record per
account) continues as if nothing had happened, and its next checkpoint leaves the changelog in the new layout.

A seeded busy flow runs through the memory engine to a checkpoint; the risk and portfolio changelogs are then
replaced by what the earlier layout wrote for the same state (risk: the whole account state, working orders
and exposure included; portfolio: positions, working orders and the finished window as an ordered set).
"""

from __future__ import annotations

import json
from typing import Any

from connectors.order_flow import FlowConfig
from processors.core import STATE_SUBKEY_SEPARATOR
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import ORDER_PATH
from processors.runtime.registry import core_class
from tests.kit.flows import busy_flow_events

FLOW = FlowConfig(orders=600, seed=5, accounts=3, symbols=("BTCUSDT", "ETHUSDT"), run_id="earlier-layout")


def _earlier_layouts(engine: MemoryEngine) -> dict[str, dict[str, Any]]:
    """The risk and portfolio changelogs as the earlier layout would hold the engine's state now."""
    risk, portfolio = engine.core("risk"), engine.core("portfolio")
    layouts: dict[str, dict[str, Any]]
    accounts = {key.partition(STATE_SUBKEY_SEPARATOR)[0] for key in engine.changelog["risk"]}
    held = {key.partition(STATE_SUBKEY_SEPARATOR)[0] for key in engine.changelog["portfolio"]}
    layouts = {
        "risk": {account: risk.account_state(account) for account in accounts},
        "portfolio": {
            account: {**state, "finished": dict.fromkeys(state["finished"])}
            for account in held
            if (state := portfolio.account_state(account)) is not None
        },
    }
    read_back: dict[str, dict[str, Any]] = json.loads(json.dumps(layouts))  # as from Kafka: nothing shared
    return read_back


def test_a_restart_from_the_earlier_layouts_continues_identically_and_rewrites_them() -> None:
    events = busy_flow_events(FLOW)
    half = len(events) // 2
    engine = MemoryEngine([core_class(name) for name in ORDER_PATH], name="orderpath")
    engine.run(events[:half])
    engine.checkpoint()
    earlier = engine.restarted()  # the new layout read back, so the state taken below is what a restore sees
    earlier.changelog.update(_earlier_layouts(earlier))
    assert all(STATE_SUBKEY_SEPARATOR not in key for name in ("risk", "portfolio") for key in earlier.changelog[name])
    migrated = earlier.restarted()

    rest = events[half:]
    assert [migrated.send(event) for event in rest] == [engine.send(event) for event in rest]

    engine.checkpoint()
    migrated.checkpoint()
    for name in ("risk", "portfolio"):
        assert any(STATE_SUBKEY_SEPARATOR in key for key in migrated.changelog[name])
        assert set(migrated.changelog[name]) == set(engine.changelog[name])
    assert migrated.changelog["risk"] == engine.changelog["risk"]
    for account in {key for key in engine.changelog["portfolio"] if STATE_SUBKEY_SEPARATOR not in key}:
        assert migrated.changelog["portfolio"][account] == engine.changelog["portfolio"][account]
        assert list(migrated.core("portfolio").account_state(account)["finished"]) == list(
            engine.core("portfolio").account_state(account)["finished"]
        )
