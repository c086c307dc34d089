"""The portfolio changelog: an account record plus one small record per finished order, the window, the earlier
layout (one record holding the whole window)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from _portfolio_builders import ACCOUNT, SYMBOL, P, Q, fill, run, trade

from processors.portfolio import PortfolioConfig, PortfolioCore
from tests.kit.changelog import Changelog


def _key(order_id: str, account: str = ACCOUNT) -> str:
    return f"{account}|{order_id}"


def _one_order_transaction_bytes(finished_before: int) -> int:
    """The changelog bytes of a transaction of one filled order, after ``finished_before`` orders finished."""
    core = PortfolioCore()
    run(core, *(fill(f"o-{n}", "BUY" if n % 2 else "SELL", 1 * Q, 100 * P) for n in range(finished_before)))
    changelog = Changelog()
    changelog.take(core)
    run(core, fill("o-last", "BUY", 1 * Q, 100 * P))
    changelog.take(core)
    return changelog.written_bytes[-1]


def test_the_bytes_of_a_one_order_transaction_do_not_grow_with_the_finished_orders() -> None:
    few, many = _one_order_transaction_bytes(10), _one_order_transaction_bytes(2000)
    # The account record (positions, working orders) and the order's record: only their numbers' digits grow.
    assert few <= many <= few + 16
    assert many < 600


def test_finishing_an_order_writes_the_account_and_that_order_only() -> None:
    core = PortfolioCore()
    run(core, *(fill(f"o-{n}", "BUY", 1 * Q, 100 * P) for n in range(5)))
    core.state_changes()
    run(core, fill("o-9", "SELL", 1 * Q, 101 * P, order_quantity=3 * Q))  # partial: the account record alone
    assert set(core.state_changes()) == {ACCOUNT}
    run(core, fill("o-9", "SELL", 2 * Q, 101 * P, order_quantity=3 * Q, cum=3 * Q))
    changes = core.state_changes()
    account = changes[ACCOUNT]
    assert account is not None and account == {"positions": account["positions"], "orders": {}}
    assert changes == {ACCOUNT: account, _key("o-9"): {"seq": 5}}


def test_an_order_leaving_the_window_gets_a_tombstone() -> None:
    core = PortfolioCore(PortfolioConfig(finished_orders_kept=2))
    run(core, fill("o-1", "BUY", 1 * Q, 100 * P), fill("o-2", "BUY", 1 * Q, 100 * P))
    core.state_changes()
    run(core, fill("o-3", "BUY", 1 * Q, 100 * P))
    changes = core.state_changes()
    assert changes[_key("o-1")] is None and changes[_key("o-3")] == {"seq": 2} and _key("o-2") not in changes
    assert run(core, fill("o-2", "BUY", 1 * Q, 100 * P)) == []  # still in the window: a copy
    assert run(core, fill("o-1", "BUY", 1 * Q, 100 * P)) != []  # forgotten: counted again (the window's bound)


@pytest.mark.parametrize("seed", range(4))
def test_the_window_keeps_its_finish_order_through_a_restore_in_any_order(seed: int) -> None:
    config = PortfolioConfig(finished_orders_kept=3)
    original = PortfolioCore(config)
    changelog = Changelog()
    for n in (5, 1, 3):  # order ids that do not sort in finish order
        run(original, fill(f"o-{n}", "BUY", 1 * Q, 100 * P))
        changelog.take(original)
    restored = PortfolioCore(config)
    changelog.restore_into(restored, random.Random(seed))
    run(restored, fill("o-2", "BUY", 1 * Q, 100 * P))
    state = restored.account_state(ACCOUNT)
    assert state is not None and list(state["finished"]) == ["o-1", "o-3", "o-2"]  # the oldest (o-5) left first
    assert restored.state_changes()[_key("o-5")] is None


def test_a_smaller_window_on_restore_drops_the_oldest_after_the_first_event() -> None:
    original = PortfolioCore()
    changelog = Changelog()
    run(original, *(fill(f"o-{n}", "BUY", 1 * Q, 100 * P) for n in range(4)))
    changelog.take(original)
    restored = PortfolioCore(PortfolioConfig(finished_orders_kept=2))
    changelog.restore_into(restored, random.Random(1))
    assert restored.state_changes() == {}  # an engine may drop this answer (faust does): nothing is lost with it
    run(restored, trade(100 * P))  # any event settles the restore, a broadcast one too
    assert restored.state_changes() == {_key("o-0"): None, _key("o-1"): None}


def _earlier_layout_record(finished: list[str]) -> dict[str, Any]:
    """An account record as the earlier layout wrote it: the whole window in it, an ordered set of ids."""
    core = PortfolioCore()
    run(core, fill("o-w", "BUY", 1 * Q, 100 * P, order_quantity=2 * Q))
    record = core.state_changes()[ACCOUNT]
    assert record is not None
    earlier: dict[str, Any] = json.loads(json.dumps({**record, "finished": dict.fromkeys(finished)}))
    return earlier


def test_an_account_record_of_the_earlier_layout_is_read_and_rewritten_per_order() -> None:
    core = PortfolioCore(PortfolioConfig(finished_orders_kept=3))
    core.restore(ACCOUNT, _earlier_layout_record(["o-5", "o-1", "o-3"]))
    assert core.state_changes() == {}
    assert run(core, fill("o-1", "BUY", 1 * Q, 100 * P)) == []  # a finished order of the window: a copy
    changes = core.state_changes()
    account = changes[ACCOUNT]
    assert account is not None and account == {"positions": account["positions"], "orders": {"o-w": 1 * Q}}
    assert {key: changes[key] for key in changes if key != ACCOUNT} == {
        _key("o-5"): {"seq": -3},
        _key("o-1"): {"seq": -2},
        _key("o-3"): {"seq": -1},
    }
    run(core, fill("o-w", "BUY", 1 * Q, 100 * P, order_quantity=2 * Q, cum=2 * Q))  # finishes after them
    state = core.account_state(ACCOUNT)
    assert state is not None and list(state["finished"]) == ["o-1", "o-3", "o-w"]
    assert core.state_changes()[_key("o-5")] is None
    view = core.position_view(ACCOUNT, SYMBOL)
    assert view is not None and view["quantity"] == 2 * Q


def test_a_newer_per_order_record_wins_over_the_earlier_account_record() -> None:
    earlier = _earlier_layout_record(["o-1", "o-2"])
    for order_first in (True, False):
        core = PortfolioCore()
        records = [(_key("o-1"), {"seq": 0}), (ACCOUNT, earlier)]
        for key, state in records if order_first else reversed(records):
            core.restore(key, state)
        run(core, trade(100 * P))
        state = core.account_state(ACCOUNT)
        assert state is not None and state["finished"] == {"o-2": -1, "o-1": 0}
        assert set(core.state_changes()) == {ACCOUNT, _key("o-2")}  # o-1's record is already this layout's
