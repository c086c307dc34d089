"""The OMS changelog: one small record per order, the finished-order retention window, the earlier layout."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _oms_builders import (
    ACCOUNT,
    P,
    Q,
    accepted,
    amend,
    dead_letters,
    decision,
    fill,
    new_order,
    oid,
    order_events,
    report,
    run,
    types,
)

from processors.core import derived_meta
from processors.oms import OmsConfig, OmsCore
from processors.oms.orders import TERMS, WORKING_ROW, archived, from_working_row, new_order_state, working_row


def _key(order_id: str, account: str = ACCOUNT) -> str:
    return f"{account}|{order_id}"


def _filled(core: OmsCore, client_order_id: str) -> str:
    order_id = accepted(core, client_order_id)
    assert types(run(core, fill(order_id, 1 * Q))) == [("FILLED", "FILLED")]
    return order_id


def _round_trip(changes: dict[str, Any]) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(json.dumps(changes))
    return decoded


def test_an_account_with_thousands_of_orders_writes_one_small_record_per_changed_order() -> None:
    core = OmsCore()
    for n in range(3000):
        _filled(core, f"c-{n}")
    working = accepted(core, "c-live", quantity=2 * Q)
    records = _round_trip(core.state_changes())
    assert len(records) == 3001
    assert max(len(json.dumps(state)) for state in records.values()) < 1000  # far below Kafka's 1 MB
    run(core, fill(working, 1 * Q))
    changes = _round_trip(core.state_changes())
    assert list(changes) == [_key(working)]
    assert from_working_row(changes[_key(working)]["order"])["cum"] == 1 * Q


def test_a_finished_order_beyond_the_window_is_dropped_and_its_key_deleted() -> None:
    core = OmsCore(OmsConfig(finished_orders_kept=2))
    first, second = _filled(core, "c-0"), _filled(core, "c-1")
    core.state_changes()
    third = _filled(core, "c-2")
    changes = core.state_changes()
    assert changes[_key(first)] is None  # a tombstone: compaction removes the order from the changelog
    assert changes[_key(third)] is not None and _key(second) not in changes
    assert core.order(ACCOUNT, first) is None and core.order(ACCOUNT, second) is not None
    # Within the window a resubmitted client order id is a duplicate; beyond it the order is forgotten.
    assert types(run(core, decision(new_order("c-1")))) == [("DUPLICATE_REJECTED", "FILLED")]
    (dead,) = dead_letters(run(core, fill(first, 1 * Q)))
    assert "holds no such order" in dead["detail"]
    assert types(run(core, decision(new_order("c-0")))) == [("PENDING_NEW", "PENDING_NEW")]


def test_working_orders_are_never_dropped_however_many_orders_finish() -> None:
    core = OmsCore(OmsConfig(finished_orders_kept=1))
    working = accepted(core, "c-live", quantity=2 * Q)
    for n in range(5):
        _filled(core, f"c-{n}")
    order = core.order(ACCOUNT, working)
    assert order is not None and order["status"] == "NEW"


@pytest.mark.parametrize("reverse", [False, True])
def test_a_restored_core_drops_the_oldest_finished_order_first(reverse: bool) -> None:
    config = OmsConfig(finished_orders_kept=2)
    live = OmsCore(config)
    first, second = _filled(live, "c-0"), _filled(live, "c-1")
    records = list(_round_trip(live.state_changes()).items())
    restored = OmsCore(config)
    for key, state in reversed(records) if reverse else records:
        restored.restore(key, state)
    _filled(restored, "c-2")
    changes = restored.state_changes()
    assert changes[_key(first)] is None and _key(second) not in changes
    assert restored.order(ACCOUNT, first) is None and restored.order(ACCOUNT, second) is not None


def test_a_restored_core_still_rejects_a_duplicate_of_an_order_named_upstream() -> None:
    live = OmsCore()
    run(live, decision(new_order("c-1", order_id="upstream-id-1")))
    restored = OmsCore()
    for key, state in _round_trip(live.state_changes()).items():
        restored.restore(key, state)
    emits = run(restored, decision(new_order("c-1")))
    assert [(e["event_type"], e["order_id"]) for e in order_events(emits)] == [("DUPLICATE_REJECTED", "upstream-id-1")]


def test_an_account_record_of_the_earlier_layout_is_read_and_rewritten_per_order() -> None:
    working_command = new_order("c-1", quantity=2 * Q)[1]
    working = new_order_state(working_command, "NEW", "sim", working_command["meta"]["event_id"])
    done_command = new_order("c-2", order_id="upstream-id-2")[1]
    done = new_order_state(done_command, "REJECTED", None, done_command["meta"]["event_id"])
    earlier = {
        "orders": {working["order_id"]: working},
        "done": {done["order_id"]: archived(done)},
        "client_ids": {"c-2": "upstream-id-2"},
    }
    core = OmsCore()
    core.restore(ACCOUNT, _round_trip(earlier))
    assert types(run(core, fill(oid("c-1"), 2 * Q, 100 * P))) == [("FILLED", "FILLED")]
    assert types(run(core, decision(new_order("c-2")))) == [("DUPLICATE_REJECTED", "REJECTED")]
    changes = _round_trip(core.state_changes())
    assert changes[ACCOUNT] is None  # the account record goes; each order is written on its own
    assert set(changes) == {ACCOUNT, _key(oid("c-1")), _key("upstream-id-2")}
    assert changes[_key("upstream-id-2")]["indexed"] is True


def test_a_newer_per_order_record_wins_over_the_earlier_account_record() -> None:
    live = OmsCore()
    order_id = accepted(live, "c-1", quantity=2 * Q)
    run(live, fill(order_id, 1 * Q))
    newer = _round_trip(live.state_changes())[_key(order_id)]
    stale = dict(from_working_row(newer["order"]), cum=0, fill_value=0, fill_ids=[])
    for order_first in (True, False):
        restored = OmsCore()
        records = [(_key(order_id), newer), (ACCOUNT, {"orders": {order_id: stale}, "done": {}, "client_ids": {}})]
        for key, state in records if order_first else reversed(records):
            restored.restore(key, state)
        order = restored.order(ACCOUNT, order_id)
        assert order is not None and order["cum"] == 1 * Q


def test_every_emit_carries_the_meta_derived_from_its_cause() -> None:
    core = OmsCore()
    command = new_order("c-1")
    cause = decision(command)
    emits = core.apply(cause)
    assert len(emits) == 2
    assert [emit.record["meta"] for emit in emits] == [derived_meta(cause, "oms", n) for n in range(2)]
    ack = report(command[1]["order_id"], "ACK", leaves=1 * Q)
    assert [emit.record["meta"] for emit in core.apply(ack)] == [derived_meta(ack, "oms", 0)]


def test_a_new_order_keeps_every_term_of_its_command() -> None:
    command = new_order("c-1", post_only=None, reduce_only=True, parent_order_id="parent-1")[1]
    order = new_order_state(command, "PENDING_NEW", "sim", "cmd-1")
    assert list(order)[: len(TERMS)] == list(TERMS)
    for term in TERMS:
        expected = bool(command.get(term)) if term in ("post_only", "reduce_only") else command.get(term)
        assert order[term] == expected


def test_the_window_must_hold_at_least_one_finished_order() -> None:
    with pytest.raises(ValueError, match="finished_orders_kept"):
        OmsConfig(finished_orders_kept=0)


def test_a_working_row_reads_back_as_the_same_order_and_shares_nothing_mutable() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=3 * Q)
    run(core, fill(order_id, 1 * Q), decision(amend(order_id, quantity=2 * Q)))
    order = core.order(ACCOUNT, order_id)
    assert order is not None and order["pending"] is not None and order["fill_ids"]
    row = working_row(order)
    assert from_working_row(json.loads(json.dumps(row))) == order
    row[WORKING_ROW.index("fill_ids")].append("another")
    row[WORKING_ROW.index("pending")]["quantity"] = 0
    assert "another" not in order["fill_ids"] and order["pending"]["quantity"] == 2 * Q


def test_what_restore_alone_changes_is_written_after_the_first_event() -> None:
    live = OmsCore()
    first, second = _filled(live, "c-0"), _filled(live, "c-1")
    command = new_order("c-2")[1]
    working = new_order_state(command, "NEW", "sim", command["meta"]["event_id"])
    earlier = {"orders": {working["order_id"]: working}, "done": {}, "client_ids": {}}
    restored = OmsCore(OmsConfig(finished_orders_kept=1))  # a smaller window than the one that wrote them
    for key, state in [*_round_trip(live.state_changes()).items(), (ACCOUNT, _round_trip(earlier))]:
        restored.restore(key, state)
    assert restored.state_changes() == {}  # an engine may drop this answer (faust does): nothing is lost with it
    run(restored, report(oid("c-9"), "ACK"))  # any event settles the restore (this one is a dead letter)
    changes = _round_trip(restored.state_changes())
    assert set(changes) == {_key(first), ACCOUNT, _key(working["order_id"])}
    assert changes[_key(first)] is None and changes[ACCOUNT] is None  # dropped by the window; the old record
    assert from_working_row(changes[_key(working["order_id"])]["order"]) == working
    assert restored.order(ACCOUNT, second) is not None
