"""Properties over random streams of decisions and venue reports, and the changelog round trip."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from typing import Any

from _oms_builders import (
    ACCOUNT,
    TERMINAL,
    P,
    Q,
    accepted,
    amend,
    cancel,
    decision,
    fill,
    new_order,
    oid,
    order_events,
    report,
    run,
    venue_orders,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import STATE_SUBKEY_SEPARATOR as SEPARATOR
from processors.core import Emit, Event
from processors.oms import OmsConfig, OmsCore
from processors.oms.orders import from_working_row
from replay.verify import OrderPathLog, verify
from schemas.codec import default_codec
from topics.catalogue import RISK_DECISIONS

CLIENT_IDS = ("c-0", "c-1", "c-2")
ORDER_TYPES = ("LIMIT", "LIMIT", "MARKET", "STOP", "STOP_LIMIT")
VENUE_REPORTS = (
    "ACK",
    "ACK",
    "ACK",
    "CANCELLED",
    "AMENDED",
    "REJECTED",
    "EXPIRED",
    "TRIGGERED",
    "CANCEL_REJECTED",
    "AMEND_REJECTED",
)

_client = st.sampled_from(CLIENT_IDS)
_lots = st.integers(min_value=1, max_value=6)
_new = st.tuples(st.just("new"), _client, _lots, st.sampled_from(ORDER_TYPES), st.booleans())
_fill = st.tuples(
    st.just("fill"), _client, st.integers(1, 3), st.integers(min_value=90, max_value=110), st.integers(0, 5)
)
_report = st.tuples(st.just("report"), _client, st.sampled_from(VENUE_REPORTS))
# Repeated branches weigh the mix toward what makes orders live and fill (one_of picks branches evenly).
# A NewOrder whose order id is not its client order id's derived one (an upstream that names its own ids):
# another client order id's derived id, or an id of its own.
_new_named = st.tuples(st.just("new-named"), _client, st.sampled_from((*CLIENT_IDS, "up-1", "up-2")))
ACTIONS = st.one_of(
    _new,
    _new,
    _new_named,
    _fill,
    _fill,
    _fill,
    _report,
    _report,
    _report,
    st.tuples(st.just("cancel"), _client, st.booleans()),
    st.tuples(st.just("amend"), _client, st.integers(min_value=0, max_value=7)),
    # A request and the venue's answer right after it.
    st.tuples(st.just("amend+answer"), _client, st.integers(min_value=0, max_value=7)),
    st.tuples(st.just("cancel+answer"), _client, st.booleans()),
)


def _events(action: tuple[Any, ...], commands: list[tuple[str, dict[str, Any]]]) -> list[Event]:
    """The inputs one action stands for; commands collect every command decided on (for replay.verify)."""
    kind, client = action[0], action[1]
    if kind == "amend+answer":
        return [_event(("amend", client, action[2]), commands), report(oid(client), "AMENDED")]
    if kind == "cancel+answer":
        return [_event(("cancel", client, action[2]), commands), report(oid(client), "CANCELLED")]
    return [_event(action, commands)]


def _event(action: tuple[Any, ...], commands: list[tuple[str, dict[str, Any]]]) -> Event:
    kind, client = action[0], action[1]
    order_id = oid(client)
    if kind == "new":
        _, _, lots, order_type, approved = action
        terms: dict[str, Any] = {"order_type": order_type, "quantity": lots * Q}
        if order_type in ("MARKET", "STOP"):
            terms["price"] = None
        if order_type in ("STOP", "STOP_LIMIT"):
            terms["stop_price"] = 105 * P
        command = new_order(client, **terms)
        commands.append(command)
        return decision(command, approved=approved, reason=None if approved else "RATE_LIMIT")
    if kind == "new-named":
        name = action[2]
        command = new_order(client, order_id=name if name.startswith("up-") else oid(name))
        commands.append(command)
        return decision(command)
    if kind == "cancel":
        command = cancel(order_id)
        commands.append(command)
        return decision(command, approved=action[2], reason=None if action[2] else "OTHER")
    if kind == "amend":
        command = amend(order_id, quantity=action[2] * Q)
        commands.append(command)
        return decision(command)
    if kind == "fill":
        _, _, lots, price, fill_number = action
        return fill(order_id, lots * Q, price * P, fill_id=f"{client}-fill-{fill_number}")
    return report(order_id, action[2])


# Two orders sent before the random part, so that most reports and requests find an order to act on.
OPENING: list[tuple[Any, ...]] = [("new", "c-0", 6, "LIMIT", True), ("new", "c-1", 4, "STOP_LIMIT", True)]


def _drive(core: OmsCore, actions: list[tuple[Any, ...]]) -> tuple[list[Emit], list[Event]]:
    """The core's outputs for the opening and ``actions``, and the inputs it was given."""
    commands: list[tuple[str, dict[str, Any]]] = []
    events = [event for action in OPENING + actions for event in _events(action, commands)]
    return run(core, *events), events


@settings(max_examples=150, deadline=None)
@given(st.lists(ACTIONS, min_size=5, max_size=60))
def test_order_view_invariants_hold_on_every_event(actions: list[tuple[Any, ...]]) -> None:
    core = OmsCore()
    emits, _ = _drive(core, actions)
    last: dict[str, dict[str, Any]] = {}
    fills: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for event in order_events(emits):
        if event["version"] == 0:  # a cancel / amend of an order the OMS never held
            assert event["event_type"] in {"CANCEL_REJECTED", "REPLACE_REJECTED"}
            continue
        order_id = event["order_id"]
        quantity, cum, leaves = event["quantity"], event["cum_quantity"], event["leaves_quantity"]
        assert 0 <= cum <= quantity  # filled never exceeds the order
        if event["status"] in TERMINAL:
            assert leaves == 0
        else:
            assert cum + leaves == quantity
        if event["last_quantity"]:
            fills[order_id].append((event["fill_id"], event["last_quantity"], event["last_price"]))
        done = fills[order_id]
        assert cum == sum(quantity for _, quantity, _ in done)
        assert len({fill_id for fill_id, _, _ in done}) == len(done)  # a fill id counts once
        if done:
            prices = [price for _, _, price in done]
            assert min(prices) <= event["avg_price"] <= max(prices)
        else:
            assert event["avg_price"] is None
        before = last.get(order_id)
        if before is not None:
            if before["status"] in TERMINAL:  # no transition out of a terminal status
                assert event["status"] == before["status"]
                assert event["last_quantity"] == 0 and event["event_type"] != "REPLACED"
            step = 1 if event["event_type"] == "REPLACED" else 0
            assert event["version"] == before["version"] + step  # +1 per replace, and only then
        else:
            assert event["version"] == 1
        last[order_id] = event
    for order_id, event in last.items():
        order = core.order(ACCOUNT, order_id)
        assert order is not None and order["status"] == event["status"] and order["cum"] == event["cum_quantity"]


@settings(max_examples=150, deadline=None)
@given(st.lists(ACTIONS, min_size=5, max_size=60))
def test_every_command_has_at_most_one_outcome_and_venue_orders_are_approved(actions: list[tuple[Any, ...]]) -> None:
    core = OmsCore()
    emits, inputs = _drive(core, actions)
    events = order_events(emits)
    decisions = [dict(event.record) for event in inputs if event.topic == RISK_DECISIONS]
    commands = [decided["command"] for decided in decisions]
    log = OrderPathLog(
        commands=commands,
        decisions=decisions,
        order_events=events,
        venue_orders=venue_orders(emits),
        executions=[],
        positions=[],
    )
    checked = verify(log)
    assert checked.duplicated == 0, checked.examples
    assert checked.duplicate_fills == 0, checked.examples
    assert checked.unapproved == 0, checked.examples  # no venue NEW / AMEND without an approving decision
    assert checked.undecided == 0
    # New orders always get their outcome at once; cancels and amends may wait for the venue's answer.
    new_orders = {command[1]["meta"]["event_id"] for command in commands if command[0].endswith("NewOrder")}
    answered = {event["command_id"] for event in events}
    assert new_orders <= answered


@settings(max_examples=100, deadline=None)
@given(st.lists(ACTIONS, min_size=5, max_size=60))
def test_every_emitted_record_encodes_and_reads_back_unchanged(actions: list[tuple[Any, ...]]) -> None:
    codec = default_codec()
    emits, _ = _drive(OmsCore(), actions)
    for emit in emits:
        decoded = codec.decode(codec.encode(emit.schema, emit.record))
        assert decoded.schema == emit.schema
        assert decoded.record == emit.record


def _changelog_after(core: OmsCore, batches: list[list[Event]], changelog: dict[str, Any]) -> None:
    """Apply ``batches``, writing the state changes after each into ``changelog`` as a compacted topic keeps them
    (JSON round trip as the runtime encodes; None deletes the key)."""
    for batch in batches:
        run(core, *batch)
        for key, state in json.loads(json.dumps(core.state_changes())).items():
            if state is None:
                changelog.pop(key, None)
            else:
                changelog[key] = state


def _batched(events: list[Event], cuts: list[int]) -> list[list[Event]]:
    bounds = sorted({0, len(events), *(cut % (len(events) + 1) for cut in cuts)})
    return [events[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(ACTIONS, max_size=40),
    st.lists(ACTIONS, max_size=40),
    st.lists(st.integers(min_value=0, max_value=200), max_size=4),
    st.sampled_from([1, 2, 10_000]),
    st.randoms(use_true_random=False),
)
def test_restored_core_continues_identically(
    first: list[tuple[Any, ...]], then: list[tuple[Any, ...]], cuts: list[int], kept: int, shuffle: Any
) -> None:
    config = OmsConfig(finished_orders_kept=kept)
    live = OmsCore(config)
    changelog: dict[str, Any] = {}
    _changelog_after(live, _batched([e for action in OPENING + first for e in _events(action, [])], cuts), changelog)
    assert all(SEPARATOR in key for key in changelog)  # one record per order, never one per account
    restored = OmsCore(config)
    records = list(changelog.items())
    shuffle.shuffle(records)  # the runtime hands records back in no particular order
    for key, state in records:
        restored.restore(key, state)
    events = [event for action in then for event in _events(action, [])]
    assert run(restored, *events) == run(live, *events)
    assert json.loads(json.dumps(restored.state_changes())) == json.loads(json.dumps(live.state_changes()))
    for order_id in {oid(client) for client in CLIENT_IDS}:
        assert restored.order(ACCOUNT, order_id) == live.order(ACCOUNT, order_id)


def test_state_changes_names_each_changed_order_once_then_forgets() -> None:
    core = OmsCore()
    order_id = accepted(core)
    other = oid("x-1", "acc-2")
    run(core, decision(new_order("x-1", account="acc-2")))
    changes = core.state_changes()
    assert set(changes) == {f"{ACCOUNT}|{order_id}", f"acc-2|{other}"}
    assert core.state_changes() == {}
    run(core, report(order_id, "ACK"))  # dead-lettered: nothing changed
    assert core.state_changes() == {}
    run(core, fill(order_id, 1 * Q))
    assert set(core.state_changes()) == {f"{ACCOUNT}|{order_id}"}


def test_state_is_a_copy_the_core_no_longer_touches() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=2 * Q)
    snapshot = core.state_changes()[f"{ACCOUNT}|{order_id}"]
    frozen = json.dumps(snapshot, sort_keys=True)
    run(core, fill(order_id, 1 * Q))
    run(core, fill(order_id, 1 * Q))  # and once it is finished and archived
    assert json.dumps(snapshot, sort_keys=True) == frozen
    assert snapshot is not None and from_working_row(snapshot["order"])["status"] == "NEW"


def test_terminal_orders_are_archived_compactly_and_still_answer_with_their_real_view() -> None:
    core = OmsCore()
    order_id = accepted(core, quantity=2 * Q)
    run(core, fill(order_id, 2 * Q, 101 * P, fill_id="f-1"))
    state = core.state_changes()[f"{ACCOUNT}|{order_id}"]
    assert state is not None and set(state) == {"done", "seq"}  # a derived order id needs no index entry
    duplicate = order_events(run(core, decision(new_order("c-1", quantity=9 * Q))))
    late_cancel = order_events(run(core, decision(cancel(order_id))))
    for answer in (*duplicate, *late_cancel):
        assert (answer["status"], answer["quantity"], answer["cum_quantity"], answer["avg_price"]) == (
            "FILLED",
            2 * Q,
            2 * Q,
            101 * P,
        )
    assert run(core, fill(order_id, 2 * Q, 101 * P, fill_id="f-1")) == []  # a repeated fill: still ignored


def test_order_ids_not_derived_from_the_client_order_id_are_indexed_for_duplicates() -> None:
    core = OmsCore()
    run(core, decision(new_order("c-1", order_id="upstream-id-1")))
    state = core.state_changes()[f"{ACCOUNT}|upstream-id-1"]
    assert state is not None and state["indexed"] is True
    emits = run(core, decision(new_order("c-1", order_id="upstream-id-2")))
    assert [(e["event_type"], e["order_id"]) for e in order_events(emits)] == [("DUPLICATE_REJECTED", "upstream-id-1")]
