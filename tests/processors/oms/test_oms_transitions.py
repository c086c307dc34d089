"""The transition table itself: its shape, its terminal statuses, and walks through it."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from processors.oms import transitions as t
from schemas.names import ORDER_STATUS, VENUE_EXEC_TYPE

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas" / "avro"


def _symbols(name: str) -> list[str]:
    symbols: list[str] = json.loads((SCHEMAS / f"{name}.avsc").read_text())["symbols"]
    return symbols


def test_table_has_a_row_for_every_order_status_of_the_schema() -> None:
    assert set(t.TABLE) == set(t.STATUSES) == set(_symbols(ORDER_STATUS))


def test_terminal_statuses_match_the_order_path() -> None:
    assert {"FILLED", "CANCELLED", "REJECTED", "EXPIRED"} == t.TERMINAL


def test_transition_table_has_no_exit_from_terminal_statuses() -> None:
    for status in t.TERMINAL:
        assert dict(t.TABLE[status]) == {}, status
        for trigger in t.TRIGGERS:
            for working in t.STATUSES:
                assert t.transition(status, working, trigger) is None


def test_every_target_is_a_status_or_back_to_the_working_status() -> None:
    for status, row in t.TABLE.items():
        for trigger, target in row.items():
            assert trigger in t.TRIGGERS, (status, trigger)
            assert target in t.STATUSES or (target == t.BACK and status in t.PENDING_REQUEST), (status, trigger)


def test_every_venue_exec_type_is_a_trigger() -> None:
    venue = set(_symbols(VENUE_EXEC_TYPE))
    # FILL and AMENDED split in two: the one that leaves nothing to fill ends the order.
    assert venue - {"FILL", "AMENDED"} <= set(t.TRIGGERS)
    assert {t.FILL, t.FILL_COMPLETE, t.AMENDED, t.AMENDED_COMPLETE} <= set(t.TRIGGERS)


def test_every_live_status_can_be_cancelled_or_end() -> None:
    for status in t.STATUSES:
        if status in t.TERMINAL:
            continue
        assert any(target in t.TERMINAL for target in t.TABLE[status].values()), status


def test_request_opens_on_top_of_the_working_status_and_a_reject_returns_to_it() -> None:
    assert t.transition(t.PARTIALLY_FILLED, t.PARTIALLY_FILLED, t.CANCEL_REQUEST) == (
        t.PENDING_CANCEL,
        t.PARTIALLY_FILLED,
    )
    assert t.transition(t.PENDING_CANCEL, t.PARTIALLY_FILLED, t.CANCEL_REJECTED) == (
        t.PARTIALLY_FILLED,
        t.PARTIALLY_FILLED,
    )
    assert t.transition(t.NEW, t.NEW, t.REPLACE_REQUEST) == (t.PENDING_REPLACE, t.NEW)
    assert t.transition(t.PENDING_REPLACE, t.NEW, t.AMEND_REJECTED) == (t.NEW, t.NEW)


def test_lifecycle_trigger_on_a_pending_order_moves_the_working_status_underneath() -> None:
    assert t.transition(t.PENDING_CANCEL, t.PENDING_NEW, t.ACK) == (t.PENDING_CANCEL, t.NEW)
    assert t.transition(t.PENDING_REPLACE, t.NEW, t.FILL) == (t.PENDING_REPLACE, t.PARTIALLY_FILLED)
    assert t.transition(t.PENDING_CANCEL, t.NEW, t.FILL_COMPLETE) == (t.FILLED, t.FILLED)
    # ...and must be valid there too: no second ACK, no venue reject after the venue accepted the order.
    assert t.transition(t.PENDING_CANCEL, t.NEW, t.ACK) is None
    assert t.transition(t.PENDING_CANCEL, t.NEW, t.VENUE_REJECTED) is None
    assert t.transition(t.PENDING_CANCEL, t.PENDING_NEW, t.VENUE_REJECTED) == (t.REJECTED, t.REJECTED)


def test_one_request_at_a_time_but_a_cancel_may_wait_behind_a_replace() -> None:
    for working in t.WORKING:
        assert t.transition(t.PENDING_CANCEL, working, t.CANCEL_REQUEST) is None
        assert t.transition(t.PENDING_CANCEL, working, t.REPLACE_REQUEST) is None
        assert t.transition(t.PENDING_REPLACE, working, t.REPLACE_REQUEST) is None
        assert t.transition(t.PENDING_REPLACE, working, t.CANCEL_REQUEST) == (t.PENDING_REPLACE, working)


def test_answers_come_only_to_the_request_that_is_open() -> None:
    assert t.transition(t.NEW, t.NEW, t.CANCEL_REJECTED) is None
    assert t.transition(t.NEW, t.NEW, t.AMENDED) is None
    assert t.transition(t.PENDING_CANCEL, t.NEW, t.AMENDED) is None
    assert t.transition(t.PENDING_REPLACE, t.NEW, t.CANCEL_REJECTED) is None


@given(st.lists(st.sampled_from(t.TRIGGERS), max_size=40))
def test_walks_through_the_table_never_leave_a_terminal_status(triggers: list[str]) -> None:
    status = working = t.PENDING_NEW
    for trigger in triggers:
        step = t.transition(status, working, trigger)
        if status in t.TERMINAL:
            assert step is None
            continue
        if step is None:
            continue
        status, working = step
        # The working status is a working (or terminal) status, and equals the status unless a request is open.
        assert working in t.WORKING | t.TERMINAL
        assert (status == working) == (status not in t.PENDING_REQUEST)


def test_precomputed_steps_agree_with_the_table_for_every_reachable_pair() -> None:
    reachable = [(s, s) for s in t.STATUSES if s not in t.PENDING_REQUEST]
    reachable += [(p, w) for p in t.PENDING_REQUEST for w in t.WORKING]
    for status, working in reachable:
        for trigger in t.TRIGGERS:
            assert t.STEPS.get((status, working, trigger)) == t.transition(status, working, trigger)
    assert all(key[:2] in reachable for key in t.STEPS)
    # and every step leads to a pair the precomputed steps cover again
    assert all(step in reachable for step in t.STEPS.values())
