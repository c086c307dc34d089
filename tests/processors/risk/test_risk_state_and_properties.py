"""Changelog state (state_changes / restore) and properties over random order streams."""

from __future__ import annotations

import json
import random
from typing import Any

from _risk_builders import (
    ACCOUNT,
    MS,
    SYMBOL,
    T0,
    P,
    Q,
    S,
    amend,
    cancel,
    decisions,
    fill,
    kill_switch,
    limits,
    new_order,
    order_event,
    run,
    trade,
    trading_state_set,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import Event
from processors.risk import RiskConfig, RiskCore
from processors.risk.checks import reason_for
from processors.risk.core import account_record
from tests.kit.changelog import Changelog
from topics.catalogue import CONTROL_EVENTS, MD_TRADES


def _story() -> tuple[list[Event], list[Event]]:
    """A day of one account in two halves: limits, trades, orders, fills, a loss, rejects, a tripped breaker."""
    first = [
        limits(max_open_orders=5, orders_per_second=5, order_burst=3, daily_loss_limit=500 * 10**8),
        trade(100 * P),
        new_order("o-1", quantity=10 * Q, price=100 * P),
        new_order("o-2", side="SELL", quantity=2 * Q, price=101 * P, t=T0 + 1),
        order_event(
            "o-1",
            "PARTIALLY_FILLED",
            "PARTIALLY_FILLED",
            quantity=10 * Q,
            cum=4 * Q,
            last_quantity=4 * Q,
            last_price=100 * P,
            fee=10**8,
            t=T0 + 2,
        ),
        amend("o-2", quantity=3 * Q, t=T0 + 3),
        new_order("o-3", quantity=5_000 * Q, t=T0 + 4),
        new_order("o-4", quantity=5_000 * Q, t=T0 + 5),
        trading_state_set("REDUCE_ONLY", account="acc-2"),
        new_order("x-1", account="acc-2", t=T0 + 6),
    ]
    second = [
        new_order("o-5", t=T0 + 100 * MS),
        new_order("o-6", t=T0 + 100 * MS),
        new_order("o-7", t=T0 + 100 * MS),
        order_event(
            "o-1",
            "FILLED",
            "FILLED",
            quantity=10 * Q,
            cum=10 * Q,
            last_quantity=6 * Q,
            last_price=100 * P,
            t=T0 + 200 * MS,
        ),
        fill("f-9", side="SELL", quantity=10 * Q, price=40 * P, t=T0 + 300 * MS),
        new_order("o-8", price=41 * P, t=T0 + 400 * MS),
        new_order("o-9", side="SELL", quantity=4 * Q, price=40 * P, t=T0 + 400 * MS),
        cancel("o-2", t=T0 + 500 * MS),
        *[new_order(f"big-{i}", quantity=5_000 * Q, t=T0 + S + i) for i in range(4)],
        new_order("o-10", t=T0 + 40 * S),
        new_order("x-2", account="acc-2", t=T0 + 41 * S),
    ]
    return first, second


def test_restore_from_state_changes_continues_identically() -> None:
    config = RiskConfig(breaker_trip_count=5, breaker_cool_down_us=30 * S)
    first, second = _story()
    original = RiskCore(config)
    run(original, *first)
    changelog = json.loads(json.dumps(original.state_changes()))  # what the runtime writes and reads back
    assert {key.partition("|")[0] for key in changelog} == {ACCOUNT, "acc-2"}

    restored = RiskCore(config)
    for key, state in changelog.items():
        restored.restore(key, state)
    # the runtime re-reads the broadcast topics from the beginning: the same broadcast events again
    run(restored, *[event for event in first if event.topic in {CONTROL_EVENTS, MD_TRADES}])

    expected, actual = run(original, *second), run(restored, *second)
    assert actual == expected
    assert any(not d["approved"] for d in decisions(expected))  # the story exercises denials ...
    assert any(e.topic == CONTROL_EVENTS for e in expected)  # ... and the breaker
    assert restored.state_changes() == original.state_changes()


def test_state_changes_return_only_changed_account_keys_then_forget_them() -> None:
    core = RiskCore()
    run(core, new_order("o-1"), new_order("x-1", account="acc-2"), trade(100 * P), kill_switch("GLOBAL", None))
    changes = core.state_changes()
    assert set(changes) == {ACCOUNT, f"{ACCOUNT}|o-1", "acc-2", "acc-2|x-1"}  # each account and its new order
    assert json.loads(json.dumps(changes)) == changes  # JSON-able as is
    assert core.state_changes() == {}
    run(core, cancel("o-1"))
    assert set(core.state_changes()) == {ACCOUNT}
    run(core, order_event("o-1", "CANCELLED", "CANCELLED"))
    assert core.state_changes() == {f"{ACCOUNT}|o-1": None}  # the order leaves risk's state: a tombstone


def test_state_changes_are_copies_not_the_live_state() -> None:
    core = RiskCore()
    run(core, new_order("o-1", quantity=4 * Q), new_order("o-3", side="SELL"))
    snapshot = core.state_changes()
    as_written = json.dumps(snapshot, sort_keys=True)
    run(
        core,
        new_order("o-2"),
        order_event(
            "o-1",
            "PARTIALLY_FILLED",
            "PARTIALLY_FILLED",
            quantity=4 * Q,
            cum=1 * Q,
            last_quantity=1 * Q,
            last_price=100 * P,
        ),
        amend("o-1", quantity=6 * Q),
        order_event("o-3", "CANCELLED", "CANCELLED", side="SELL"),
    )
    assert json.dumps(snapshot, sort_keys=True) == as_written
    assert set(snapshot) == {ACCOUNT, f"{ACCOUNT}|o-1", f"{ACCOUNT}|o-3"}


# -- properties -----------------------------------------------------------------------------------------

SYMBOLS = (SYMBOL, "ETHUSDT")

_action = st.one_of(
    st.tuples(
        st.just("new"),
        st.sampled_from(("BUY", "SELL")),
        st.integers(1, 40),
        st.integers(90, 115),
        st.sampled_from(SYMBOLS),
        st.sampled_from(("LIMIT", "MARKET")),
    ),
    st.tuples(st.just("fill"), st.integers(0, 50), st.integers(1, 40)),
    st.tuples(st.just("done"), st.integers(0, 50), st.sampled_from(("CANCELLED", "REJECTED", "EXPIRED"))),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("amend"), st.integers(0, 50), st.integers(1, 60), st.integers(85, 120)),
    st.tuples(st.just("time"), st.integers(0, 2_000)),
    st.tuples(st.just("trade"), st.sampled_from(SYMBOLS), st.integers(95, 105)),
    st.tuples(st.just("kill"), st.sampled_from(("GLOBAL", "ACCOUNT", "SYMBOL")), st.booleans(), st.booleans()),
    st.tuples(st.just("state"), st.sampled_from(("ACTIVE", "REDUCE_ONLY", "HALTED"))),
)


class _OmsModel:
    """What the OMS would tell risk of the random stream's orders: the clock, the orders sent, those working."""

    def __init__(self) -> None:
        self.now = T0
        self.working: dict[str, dict[str, Any]] = {}  # approved and not yet terminal, as the OMS would report them
        self.ids: list[str] = []

    def events_of(self, n: int, action: tuple[Any, ...]) -> list[Event]:
        """The events the ``n``-th action sends risk (none for a clock step or an action on no order)."""
        kind = action[0]
        if kind == "new":
            _, side, quantity, price, symbol, order_type = action
            order_id = f"o-{n}"
            self.ids.append(order_id)
            limit_price = price * P if order_type == "LIMIT" else None
            return [
                new_order(
                    order_id,
                    t=self.now,
                    side=side,
                    quantity=quantity * Q,
                    symbol=symbol,
                    price=limit_price,
                    order_type=order_type,
                )
            ]
        if kind in {"fill", "done", "cancel", "amend"}:
            event = self._order_action(action) if self.ids else None
            return [] if event is None else [event]
        if kind == "time":
            self.now += action[1] * MS
            return []
        return [self._market_or_control(action)]

    def _order_action(self, action: tuple[Any, ...]) -> Event | None:
        kind = action[0]
        order_id = self.ids[action[1] % len(self.ids)]
        order = self.working.get(order_id)
        if kind == "cancel":
            return cancel(order_id, t=self.now)
        if kind == "amend":
            return amend(order_id, t=self.now, quantity=action[2] * Q, price=action[3] * P)
        if order is None:
            return None
        terms = {"t": self.now, "side": order["side"], "symbol": order["symbol"], "quantity": order["quantity"]}
        if kind == "done":
            del self.working[order_id]
            return order_event(order_id, action[2], action[2], cum=order["cum"], **terms)
        quantity = min(action[2] * Q, order["quantity"] - order["cum"])
        order["cum"] += quantity
        status = "FILLED" if order["cum"] == order["quantity"] else "PARTIALLY_FILLED"
        if status == "FILLED":
            del self.working[order_id]
        last_price = order["price"] or 100 * P
        return order_event(
            order_id, status, status, cum=order["cum"], last_quantity=quantity, last_price=last_price, **terms
        )

    def _market_or_control(self, action: tuple[Any, ...]) -> Event:
        kind = action[0]
        if kind == "trade":
            return trade(action[2] * P, symbol=action[1], t=self.now)
        if kind == "kill":
            _, scope, active, cancel_all = action
            target = {"GLOBAL": None, "ACCOUNT": ACCOUNT, "SYMBOL": SYMBOL}[scope]
            return kill_switch(scope, target, active=active, cancel_open_orders=cancel_all, t=self.now)
        assert kind == "state", kind
        return trading_state_set(action[1], t=self.now)

    def decided(self, event: Event, decision: dict[str, Any]) -> None:
        """An approved new order works until a fill or an end reported for it."""
        if decision["approved"] and decision["command_type"] == "NEW" and event.record["order_id"] not in self.working:
            record = event.record
            self.working[record["order_id"]] = {
                "side": record["side"],
                "symbol": record["symbol"],
                "quantity": record["quantity"],
                "cum": 0,
                "price": record["price"],
            }


def _assert_names_its_failing_check(decision: dict[str, Any]) -> None:
    failing = [result for result in decision["checks"] if not result["passed"]]
    if decision["approved"]:
        assert failing == []
        assert decision["reason"] is None
    else:
        assert failing, decision
        assert reason_for(failing[0]) == decision["reason"]


@settings(max_examples=150, deadline=None)
@given(
    actions=st.lists(_action, max_size=80),
    max_open=st.integers(1, 6),
    burst=st.integers(1, 8),
    position_limit=st.integers(10, 120),
)
def test_random_streams_never_exceed_max_open_orders_and_denials_name_a_failing_check(
    actions: list[tuple[Any, ...]], max_open: int, burst: int, position_limit: int
) -> None:
    core = RiskCore(RiskConfig(breaker_trip_count=6, breaker_window_us=S, breaker_cool_down_us=2 * S))
    run(
        core,
        limits(
            max_open_orders=max_open,
            orders_per_second=3,
            order_burst=burst,
            max_position_quantity=position_limit * Q,
            price_collar_bps=800,
            daily_loss_limit=300 * 10**8,
            reference_prices={SYMBOL: 100 * P},
        ),
    )
    oms = _OmsModel()
    snapshots: list[tuple[dict[str, Any], str]] = []  # every state_changes() answer, with its JSON at the time
    latest: dict[str, Any] = {}  # the changelog as the runtime would have it: the last state of each key
    for n, action in enumerate(actions):
        for event in oms.events_of(n, action):
            for decision in decisions(run(core, event)):
                _assert_names_its_failing_check(decision)
                oms.decided(event, decision)
            assert len(oms.working) <= max_open
            state = core.account_state(ACCOUNT)
            assert state is None or set(state["orders"]) == set(oms.working)
        if n % 3 == 0:
            changes = core.state_changes()
            snapshots.append((changes, json.dumps(changes, sort_keys=True)))
            latest.update(changes)

    # What state_changes() handed out is never modified by later events (the core shares only what it
    # replaces), and every change was reported: the last state of each key is the live state.
    for changes, as_written in snapshots:
        assert json.dumps(changes, sort_keys=True) == as_written
    latest.update(core.state_changes())
    for key, written in latest.items():
        account, _, order_id = key.partition("|")
        state = core.account_state(account)
        assert state is not None
        assert written == (state["orders"].get(order_id) if order_id else account_record(state))
    state = core.account_state(ACCOUNT)
    if state is not None:  # every working order has its record, every order gone its tombstone
        assert {key for key, written in latest.items() if "|" in key and written is not None} == {
            f"{ACCOUNT}|{order_id}" for order_id in state["orders"]
        }


@settings(max_examples=150, deadline=None)
@given(
    actions=st.lists(_action, max_size=80),
    cuts=st.lists(st.integers(0, 80), max_size=5),
    split=st.integers(0, 80),
    shuffle=st.randoms(use_true_random=False),
)
def test_a_core_restored_from_the_changelog_so_far_continues_identically(
    actions: list[tuple[Any, ...]], cuts: list[int], split: int, shuffle: random.Random
) -> None:
    """Transactions of any size write their changes; a core restored from them (keys in any order) at any point
    decides the rest as the one that kept running, and writes the same changelog records."""
    config = RiskConfig(breaker_trip_count=6, breaker_window_us=S, breaker_cool_down_us=2 * S)
    live = RiskCore(config)
    run(
        live,
        limits(
            max_open_orders=4,
            orders_per_second=3,
            order_burst=5,
            max_position_quantity=60 * Q,
            price_collar_bps=800,
            daily_loss_limit=300 * 10**8,
            reference_prices={SYMBOL: 100 * P},
        ),
    )
    split %= len(actions) + 1
    transaction_ends = {cut % (split + 1) for cut in cuts} | {split}
    changelog = Changelog()
    oms = _OmsModel()
    restored: RiskCore | None = None
    for n, action in enumerate([*actions, None]):
        if n in transaction_ends:
            changelog.take(live)
        if n == split:
            restored = RiskCore(config)
            restored.restore_broadcast(json.loads(json.dumps(live.broadcast_state())))  # the snapshot, then the keys
            changelog.restore_into(restored, shuffle)
        if action is None:
            break
        for event in oms.events_of(n, action):
            emits = run(live, event)
            if restored is not None:
                assert run(restored, event) == emits
            for decision in decisions(emits):
                oms.decided(event, decision)
    assert restored is not None
    assert json.loads(json.dumps(restored.state_changes())) == json.loads(json.dumps(live.state_changes()))
    assert restored.account_state(ACCOUNT) == live.account_state(ACCOUNT)
