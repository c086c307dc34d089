"""The risk changelog: an account record plus one record per working order, tombstones for orders gone, the
earlier layout (one record holding the working orders and their exposure)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from _risk_builders import ACCOUNT, MS, SYMBOL, T0, P, Q, decide, limits, new_order, order_event, run, trade

from processors.risk import RiskCore
from processors.risk.core import ACCOUNT_RECORD_FIELDS
from tests.kit.changelog import Changelog


def _key(order_id: str, account: str = ACCOUNT) -> str:
    return f"{account}|{order_id}"


def _one_order_transaction_bytes(working_before: int) -> int:
    """The changelog bytes of a transaction of one NewOrder, with ``working_before`` orders working."""
    core = RiskCore()
    for n in range(working_before):
        assert decide(core, new_order(f"o-{n}", t=T0 + n * MS, symbol=f"SYM{n % 50}"))["approved"]
    changelog = Changelog()
    changelog.take(core)
    assert decide(core, new_order("o-last", t=T0 + working_before * MS))["approved"]
    changes = changelog.take(core)
    assert set(changes) == {ACCOUNT, _key("o-last")}
    return changelog.written_bytes[-1]


def test_the_bytes_of_a_one_order_transaction_do_not_grow_with_the_working_orders() -> None:
    few, many = _one_order_transaction_bytes(1), _one_order_transaction_bytes(150)
    assert few <= many <= few + 16  # the account record and the order's: only their numbers' digits grow
    assert many < 600


def test_an_order_event_writes_that_order_and_the_account_only_when_it_changed() -> None:
    core = RiskCore()
    run(core, new_order("o-1", quantity=4 * Q), new_order("o-2"))
    core.state_changes()
    run(core, order_event("o-1", "ACCEPTED", "NEW", quantity=4 * Q))  # what risk holds already
    assert core.state_changes() == {}
    partial = order_event(
        "o-1",
        "PARTIALLY_FILLED",
        "PARTIALLY_FILLED",
        quantity=4 * Q,
        cum=1 * Q,
        last_quantity=1 * Q,
        last_price=100 * P,
    )
    run(core, partial)
    changes = core.state_changes()
    assert set(changes) == {ACCOUNT, _key("o-1")}  # the position moved; the order's leaves
    order = changes[_key("o-1")]
    assert order is not None and (order["cum"], order["leaves"]) == (1 * Q, 3 * Q)
    account = changes[ACCOUNT]
    assert account is not None and set(account) == set(ACCOUNT_RECORD_FIELDS)  # no orders, no exposure
    run(core, order_event("o-2", "CANCELLED", "CANCELLED"))
    assert core.state_changes() == {_key("o-2"): None}


def test_exposure_is_added_up_again_on_restore() -> None:
    live = RiskCore()
    run(
        live,
        new_order("o-1", quantity=4 * Q),
        new_order("o-2", side="SELL", quantity=2 * Q, symbol="ETHUSDT"),
        order_event(
            "o-1",
            "PARTIALLY_FILLED",
            "PARTIALLY_FILLED",
            quantity=4 * Q,
            cum=3 * Q,
            last_quantity=3 * Q,
            last_price=100 * P,
        ),
    )
    changelog = Changelog()
    changelog.take(live)
    restored = RiskCore()
    changelog.restore_into(restored, random.Random(3))
    state, expected = restored.account_state(ACCOUNT), live.account_state(ACCOUNT)
    assert state is not None and expected is not None
    assert state["exposure"] == expected["exposure"] == {SYMBOL: [1 * Q, 0], "ETHUSDT": [0, 2 * Q]}


def _earlier_layout_record(core: RiskCore) -> dict[str, Any]:
    """The account as the earlier layout wrote it: every field of the state, working orders and exposure too."""
    state = core.account_state(ACCOUNT)
    assert state is not None
    earlier: dict[str, Any] = json.loads(json.dumps(state))
    return earlier


def test_an_account_record_of_the_earlier_layout_is_read_and_rewritten_per_order() -> None:
    live = RiskCore()
    run(live, limits(max_open_orders=2), new_order("o-1"), new_order("o-2", side="SELL", symbol="ETHUSDT"))
    restored = RiskCore()
    restored.restore(ACCOUNT, _earlier_layout_record(live))
    assert restored.state_changes() == {}  # an engine may drop this answer (faust does): nothing is lost with it
    late = new_order("o-3", t=T0 + MS)
    assert decide(restored, late) == decide(live, late)  # MAX_OPEN_ORDERS: both orders are still working
    changes = restored.state_changes()
    assert set(changes) == {ACCOUNT, _key("o-1"), _key("o-2")}
    account = changes[ACCOUNT]
    assert account is not None and set(account) == set(ACCOUNT_RECORD_FIELDS)  # in this layout, same key
    live_state = live.account_state(ACCOUNT)
    assert live_state is not None
    assert {order_id: changes[_key(order_id)] for order_id in ("o-1", "o-2")} == live_state["orders"]
    assert restored.account_state(ACCOUNT) == live_state


@pytest.mark.parametrize("order_first", [True, False])
def test_a_newer_per_order_record_wins_over_the_earlier_account_record(order_first: bool) -> None:
    live = RiskCore()
    run(live, new_order("o-1", quantity=4 * Q))
    earlier = _earlier_layout_record(live)
    run(live, order_event("o-1", "PARTIALLY_FILLED", "PARTIALLY_FILLED", quantity=4 * Q, cum=1 * Q))
    newer = json.loads(json.dumps(live.state_changes()[_key("o-1")]))
    restored = RiskCore()
    records = [(_key("o-1"), newer), (ACCOUNT, earlier)]
    for key, state in records if order_first else reversed(records):
        restored.restore(key, state)
    run(restored, trade(100 * P))
    state = restored.account_state(ACCOUNT)
    assert state is not None and state["orders"]["o-1"]["cum"] == 1 * Q
    assert state["exposure"] == {SYMBOL: [3 * Q, 0]}
    assert set(restored.state_changes()) == {ACCOUNT}  # o-1's record is already this layout's
