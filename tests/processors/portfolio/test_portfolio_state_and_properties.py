"""Changelog state (state_changes / restore) and properties over random fill, copy and mark streams.

The accounting identity the properties check, with its rounding rules:

- exact (price x quantity, 16 decimals): ``realized_exact - open_cost == -sum(signed price x quantity)``, so
  at any mark ``cash_exact + mark x quantity == realized_exact + unrealized_exact``;
- cash scale: ``cash + fees == -sum(signed notional)`` exactly, each fill's notional truncated toward zero;
  realized and unrealized are each rounded half-even from their exact values; so
  ``cash + notional(mark, quantity) - (realized + unrealized - fees)`` is an integer within
  ``fill_count + 1`` of zero (below one unit per fill's truncation, plus the mark's truncation and two
  half-unit roundings).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from _portfolio_builders import ACCOUNT, SYMBOL, C, P, Q, fill, one, order_event, run, trade, without_meta
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.core import Emit, Event
from processors.portfolio import PortfolioConfig, PortfolioCore
from schemas.scales import Price, Quantity, notional
from tests.kit.changelog import Changelog
from tests.kit.events import changed_state
from topics.catalogue import MD_TRADES

ACCOUNTS = (ACCOUNT, "acc-2")
SYMBOLS = (SYMBOL, "ETHUSDT")


def test_state_changes_return_only_changed_accounts_then_forget_them() -> None:
    core = PortfolioCore()
    run(core, fill("o-1", "BUY", 1 * Q, 100 * P), fill("o-2", "SELL", 1 * Q, 100 * P, account="acc-2"))
    changes = core.state_changes()
    assert set(changes) == {ACCOUNT, f"{ACCOUNT}|o-1", "acc-2", "acc-2|o-2"}  # each filled order finished
    assert json.loads(json.dumps(changes)) == changes  # JSON-able as is
    assert core.state_changes() == {}
    run(core, trade(101 * P), fill("o-3", "BUY", 1 * Q, 100 * P, order_quantity=2 * Q, account="acc-2"))
    assert set(core.state_changes()) == {"acc-2"}  # a partial fill: the account record alone


def test_state_changes_are_copies_not_the_live_state() -> None:
    core = PortfolioCore()
    run(core, fill("o-1", "BUY", 1 * Q, 100 * P, order_quantity=2 * Q, cum=1 * Q))
    snapshot = changed_state(core, ACCOUNT)
    run(core, fill("o-1", "BUY", 1 * Q, 100 * P, order_quantity=2 * Q, cum=2 * Q))
    assert snapshot["positions"][SYMBOL]["quantity"] == 1 * Q
    assert snapshot == {"positions": snapshot["positions"], "orders": {"o-1": 1 * Q}}  # no window in it


def test_restore_takes_its_own_copy_of_the_changelog_state() -> None:
    original = PortfolioCore()
    run(original, fill("o-1", "BUY", 1 * Q, 100 * P, order_quantity=2 * Q, cum=1 * Q))
    changelog = changed_state(original, ACCOUNT)
    as_read = json.dumps(changelog, sort_keys=True)
    restored = PortfolioCore()
    restored.restore(ACCOUNT, changelog)
    run(
        restored,
        fill("o-1", "BUY", 1 * Q, 100 * P, order_quantity=2 * Q, cum=2 * Q),
        fill("o-2", "SELL", 1 * Q, 99 * P),
    )
    assert json.dumps(changelog, sort_keys=True) == as_read


def test_a_restored_account_is_re_marked_and_still_counts_a_copied_fill_once() -> None:
    original = PortfolioCore()
    partial = fill("o-1", "BUY", 2 * Q, 100 * P, order_quantity=5 * Q, cum=2 * Q)
    run(original, partial, fill("o-2", "SELL", 1 * Q, 50 * P, symbol="ETHUSDT"))
    restored = PortfolioCore()
    for key, state in json.loads(json.dumps(original.state_changes())).items():
        restored.restore(key, state)
    assert run(restored, partial) == []
    marked = one(restored, trade(110 * P))
    assert (marked["quantity"], marked["unrealized_pnl"]) == (2 * Q, 20 * C)
    assert restored.position_view(ACCOUNT, "ETHUSDT") == original.position_view(ACCOUNT, "ETHUSDT")


def test_restoring_a_key_again_replaces_what_it_held() -> None:
    core = PortfolioCore()
    run(core, fill("o-1", "BUY", 1 * Q, 100 * P))
    flat = PortfolioCore()
    run(flat, fill("o-1", "BUY", 1 * Q, 100 * P), fill("o-2", "SELL", 1 * Q, 100 * P))
    core.restore(ACCOUNT, changed_state(flat, ACCOUNT))
    assert run(core, trade(120 * P)) == []  # the restored position is flat: nothing to re-mark


# -- properties -------------------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the fills add up to, kept independently of the core."""

    quantity: int = 0
    exact_cash: int = 0  # -sum(signed price x quantity), 16 decimals
    cash_fees_excluded: int = 0  # -sum(signed notional), cash scale
    fees: int = 0
    fills: int = 0
    fill_ids: list[str] = field(default_factory=list)


@dataclass
class Stream:
    """A random story: orders filled in parts (then done, cancelled or still working), copies of fills, trades."""

    events: list[Event] = field(default_factory=list)
    ledgers: dict[tuple[str, str], Ledger] = field(default_factory=dict)
    fills: list[Event] = field(default_factory=list)


# Whole units often (positions go flat, trades print at fill prices), any 8-decimal amount otherwise.
_quantity = st.one_of(st.integers(1, 5).map(lambda units: units * Q), st.integers(1, 5 * Q))
_price = st.one_of(st.integers(98, 102).map(lambda units: units * P), st.integers(1, 2_000 * P))
_order = st.tuples(
    st.just("order"),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(SYMBOLS),
    st.sampled_from(("BUY", "SELL")),
    st.lists(st.tuples(_quantity, _price, st.integers(-C, 3 * C)), min_size=1, max_size=3),
    st.sampled_from(("filled", "cancelled", "working")),  # what the order is after its fills
)
_copy = st.tuples(st.just("copy"), st.integers(0, 1_000))
_mark = st.tuples(st.just("mark"), st.sampled_from(SYMBOLS), _price)
_close = st.tuples(st.just("close"), st.sampled_from(ACCOUNTS), st.sampled_from(SYMBOLS), _price)  # back to flat
_actions = st.lists(st.one_of(_order, _copy, _mark, _close), max_size=40)


def _stream(actions: list[tuple[Any, ...]]) -> Stream:
    stream = Stream()
    for n, action in enumerate(actions):
        if action[0] == "mark":
            stream.events.append(trade(action[2], symbol=action[1]))
        elif action[0] == "copy":
            if stream.fills:
                stream.events.append(stream.fills[action[1] % len(stream.fills)])
        else:
            if action[0] == "close":
                _, account, symbol, price = action
                held = stream.ledgers.get((account, symbol), Ledger()).quantity
                if not held:
                    continue
                side, parts, outcome = "SELL" if held > 0 else "BUY", [(abs(held), price, 0)], "filled"
            else:
                _, account, symbol, side, parts, outcome = action
            order_id = f"o-{n}"
            total = sum(quantity for quantity, _, _ in parts) + (0 if outcome == "filled" else 1)
            ledger = stream.ledgers.setdefault((account, symbol), Ledger())
            cum = 0
            for quantity, price, fee in parts:
                cum += quantity
                event = fill(
                    order_id,
                    side,
                    quantity,
                    price,
                    fee=fee,
                    order_quantity=total,
                    cum=cum,
                    account=account,
                    symbol=symbol,
                )
                stream.events.append(event)
                stream.fills.append(event)
                signed = quantity if side == "BUY" else -quantity
                ledger.quantity += signed
                ledger.exact_cash -= price * signed
                ledger.cash_fees_excluded -= notional(price, Quantity(signed))
                ledger.fees += fee
                ledger.fills += 1
                ledger.fill_ids.append(event.record["fill_id"])
            if outcome == "cancelled":
                stream.events.append(
                    order_event(
                        order_id,
                        "CANCELLED",
                        "CANCELLED",
                        account=account,
                        symbol=symbol,
                        side=side,
                        quantity=total,
                        cum=cum,
                    )
                )
    return stream


def _last_per_key(emits: list[Emit]) -> dict[str, dict[str, Any]]:
    return {emit.key: without_meta(emit.record) for emit in emits}


@settings(max_examples=150, deadline=None)
@given(actions=_actions)
def test_positions_add_up_their_fills_once_and_balance_cash_against_pnl(actions: list[tuple[Any, ...]]) -> None:
    stream = _stream(actions)
    core = PortfolioCore()
    last = _last_per_key(run(core, *stream.events))  # every record encodes with its Avro schema (run checks)
    assert set(last) == {f"{account}|{symbol}" for account, symbol in stream.ledgers}
    for (account, symbol), ledger in stream.ledgers.items():
        view = core.position_view(account, symbol)
        state = core.account_state(account)
        assert view is not None and state is not None
        assert last[f"{account}|{symbol}"] == view  # the last record published is the position now
        position = state["positions"][symbol]
        assert view["quantity"] == ledger.quantity  # == the sum of the signed fills, each counted once
        assert view["fill_count"] == ledger.fills == view["version"]
        assert view["last_fill_id"] == ledger.fill_ids[-1]
        assert view["fees"] == ledger.fees
        assert position["realized_exact"] - position["open_cost"] == ledger.exact_cash
        assert view["cash"] + view["fees"] == ledger.cash_fees_excluded
        mark = Price(view["mark_price"] or 0)
        residual = (
            view["cash"]
            + notional(mark, view["quantity"])
            - (view["realized_pnl"] + view["unrealized_pnl"] - view["fees"])
        )
        assert abs(residual) <= view["fill_count"] + 1
        if view["quantity"] == 0:
            assert (view["avg_price"], view["mark_price"], view["unrealized_pnl"]) == (None, None, 0)


def _interleave(fills: list[Event], marks: list[Event], picks: Iterator[bool]) -> list[Event]:
    merged: list[Event] = []
    fill_at = mark_at = 0
    while fill_at < len(fills) or mark_at < len(marks):
        take_mark = mark_at < len(marks) and (fill_at == len(fills) or next(picks, True))
        if take_mark:
            merged.append(marks[mark_at])
            mark_at += 1
        else:
            merged.append(fills[fill_at])
            fill_at += 1
    return merged


@settings(max_examples=150, deadline=None)
@given(actions=_actions, picks=st.lists(st.booleans(), max_size=80))
def test_the_last_record_of_every_position_does_not_depend_on_when_the_trades_were_read(
    actions: list[tuple[Any, ...]], picks: list[bool]
) -> None:
    stream = _stream(actions)
    fills = [event for event in stream.events if event.topic != MD_TRADES]
    marks = [event for event in stream.events if event.topic == MD_TRADES]
    orders = {
        "trades first": [*marks, *fills],
        "trades last": [*fills, *marks],
        "interleaved": _interleave(fills, marks, iter(picks)),
    }
    outcomes = {}
    for name, events in orders.items():
        core = PortfolioCore()
        outcomes[name] = (_last_per_key(run(core, *events)), core.state_changes())
    assert outcomes["trades first"] == outcomes["trades last"] == outcomes["interleaved"]


@settings(max_examples=150, deadline=None)
@given(actions=_actions, split=st.integers(0, 200))
def test_restore_from_state_changes_continues_identically(actions: list[tuple[Any, ...]], split: int) -> None:
    events = _stream(actions).events
    split %= len(events) + 1
    before, after = events[:split], events[split:]
    original = PortfolioCore()
    run(original, *before)
    changelog = json.loads(json.dumps(original.state_changes()))  # what the runtime writes and reads back
    restored = PortfolioCore()
    run(restored, *[event for event in before if event.topic == MD_TRADES])  # broadcast re-read first ...
    for key, state in changelog.items():  # ... then the owned accounts' state
        restored.restore(key, state)
    assert run(restored, *after) == run(original, *after)
    assert restored.state_changes() == original.state_changes()


@settings(max_examples=150, deadline=None)
@given(
    actions=_actions,
    cuts=st.lists(st.integers(0, 200), max_size=5),
    split=st.integers(0, 200),
    kept=st.sampled_from([1, 2, 1024]),
    shuffle=st.randoms(use_true_random=False),
)
def test_a_core_restored_from_the_changelog_so_far_continues_identically(
    actions: list[tuple[Any, ...]], cuts: list[int], split: int, kept: int, shuffle: random.Random
) -> None:
    """Transactions of any size write their changes; a core restored from them (keys in any order) at any point
    answers the rest as the one that kept running, and writes the same changelog records."""
    events = _stream(actions).events
    split %= len(events) + 1
    config = PortfolioConfig(finished_orders_kept=kept)
    original = PortfolioCore(config)
    changelog = Changelog()
    bounds = sorted({0, split, *(cut % (split + 1) for cut in cuts)})
    for start, end in itertools.pairwise(bounds):
        run(original, *events[start:end])
        changelog.take(original)
    assert all(key.count("|") <= 1 for key in changelog.latest)
    restored = PortfolioCore(config)
    restored.restore_broadcast(json.loads(json.dumps(original.broadcast_state())))  # the snapshot, then the keys
    changelog.restore_into(restored, shuffle)
    rest = events[split:]
    assert run(restored, *rest) == run(original, *rest)
    assert json.loads(json.dumps(restored.state_changes())) == json.loads(json.dumps(original.state_changes()))
    for account in ACCOUNTS:  # as JSON: the window's order counts too
        assert json.dumps(restored.account_state(account)) == json.dumps(original.account_state(account))
