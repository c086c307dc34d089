"""The pre-trade risk core: a ``RiskDecision`` for every order command (docs/ORDER_PATH.md, "risk").

Inputs, co-partitioned by account: ``orders.commands`` (NewOrder / CancelOrder / AmendOrder), ``risk.limits``
and ``orders.events`` (the OMS's view of the account's orders: working quantity, fills, rejects).
Broadcast inputs, read whole by every worker: ``control.events`` (kill switches, circuit breakers, trading
states) and ``md.trades`` (last trade price per symbol, the reference for the collar and market notional).
Outputs: ``risk.decisions`` (key account) and ``control.events`` (the account circuit breaker's TRIPPED /
RESET, key ``"ACCOUNT:<account>"``).

State
-----
Account state in memory (one JSON-able dict per account):

- ``limits``: the latest RiskLimits (``None``: ``RiskConfig.default_limits``);
- ``orders``: working orders by order id: symbol, side, quantity, cum, leaves, price, ``amend_leaves``
  (the working quantity of an approved amend not yet answered by the OMS) and the order's correlation id;
  an approved NewOrder counts at once, ``orders.events`` then update it and terminal events remove it;
- ``exposure``: per symbol ``[buy, sell]`` working quantity, the sum over ``orders`` (kept as they change,
  added up again on restore);
- ``positions``: per symbol, the ``processors.portfolio.position`` dict the account's fills build;
- ``pnl_day`` / ``pnl_today``: the UTC day (event time) and the realized PnL net of fees of that day's fills;
- ``bucket``: the ORDER_RATE token bucket ``[micro-tokens, as of event time us]``;
- ``rejects``: event times of recent denials / venue rejects (circuit breaker window);
- ``breaker``: the account's own circuit breaker while tripped (``cool_down_until_us``, ``trigger_count``).

Changelog: the account record, key ``"<account>"``, holds the fields but ``orders`` and ``exposure``
(``ACCOUNT_RECORD_FIELDS``); each working order is its own record, key ``"<account>|<order id>"``
(``processors.core.state_key``; an account name must not contain the separator), value the order's dict, and
gets a tombstone (None) when the order leaves risk's state, so compaction removes it. ``exposure`` is not
written: it grows with the symbols the account works orders in and is a function of the orders, so restore
adds it up again. What else the account record holds is bounded, whatever the activity: ``rejects`` holds
fewer than ``breaker_trip_count`` times (the breaker clears it when it trips), ``positions`` one dict per
symbol the account traded, ``limits`` what the account's RiskLimits configure. A transaction writes the
account record when a command (every NewOrder takes a token), a fill, a reject or new limits marked it
changed, and the record of each order it changed: never the account's other working orders.

``state_changes()`` hands out copies the core never modifies: the account record copies ``positions`` (the
one container in it the core edits in place) and shares the rest, which the core only ever replaces
(``limits``, ``bucket``, ``rejects``, ``breaker``, each position dict); an order record is the working order's
dict itself, which the core also replaces whole when the order changes. An account is marked changed only by
an event that changes it (an order event repeating what risk already holds, e.g. PENDING_NEW or ACCEPTED,
does not).

An account record of the earlier layout (the same key, with ``orders`` and ``exposure`` in it) is still
read: its working orders are taken (unless a per-order record of the same order came back too: that one is
newer) and, after the first event, written again as records of their own with the account record in this
layout.

Broadcast state (kill switches in force, breakers tripped by other producers, trading states set by
``TradingStateSet``, last trade price per symbol) is *not* in the changelog: the runtime re-reads the
broadcast topics from the beginning whenever it (re)builds a core, which rebuilds it exactly, and a worker
must not write changelog records for accounts it does not own. So ``state_changes()`` returns account
state only, and applying a broadcast event never changes it. For the same reason the account's own
breaker lives in account state: the ``CircuitBreaker`` records risk itself emits come back on the broadcast
input and are ignored there (idempotent no-ops), whichever worker reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final

from processors.core import Emit, Event, Record, StateChanges, derived_meta, split_state_key, state_key
from processors.portfolio.position import apply_fill, empty_position
from processors.risk import checks
from processors.risk.checks import (
    ACTIVE,
    CIRCUIT_BREAKER,
    HALTED,
    TOKEN,
    circuit_breaker,
    daily_loss,
    kill_switch,
    open_orders,
    order_notional,
    order_quantity,
    order_rate,
    position,
    price_collar,
    reason_for,
    reduces_position,
    refill,
    symbol_allowed,
    trading_state,
)
from processors.risk.limits import DEFAULT_CONFIG, RiskConfig, limits_from_record
from schemas.names import AMEND_ORDER, CANCEL_ORDER, NEW_ORDER, ORDER_EVENT, RISK_DECISION, TRADE, TRADING_STATE_SET
from schemas.names import CIRCUIT_BREAKER as CIRCUIT_BREAKER_SCHEMA
from schemas.names import KILL_SWITCH as KILL_SWITCH_SCHEMA
from schemas.names import RISK_LIMITS as RISK_LIMITS_SCHEMA
from schemas.scales import AVRO_LONG_MAX, AVRO_LONG_MIN, Cash, Price, Quantity, notional
from schemas.statuses import FILL_EVENT_TYPES, TERMINAL_STATUSES
from topics.catalogue import (
    CONTROL_EVENTS,
    MD_TRADES,
    ORDERS_CHILD_COMMANDS,
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    RISK_DECISIONS,
    RISK_LIMITS,
)

STAGE: Final = "risk"

AMEND_ANSWERS: Final = frozenset({"REPLACED", "REPLACE_REJECTED"})
DAY_US: Final = 86_400 * 1_000_000

AccountState = dict[str, Any]


def new_account_state() -> AccountState:
    """The state of an account risk has seen nothing of."""
    return {
        "limits": None,
        "orders": {},
        "exposure": {},
        "positions": {},
        "pnl_day": 0,
        "pnl_today": 0,
        "bucket": None,
        "rejects": [],
        "breaker": None,
    }


# The account record: every field of the account state but the working orders (a record each) and their exposure.
ACCOUNT_RECORD_FIELDS: Final = ("limits", "positions", "pnl_day", "pnl_today", "bucket", "rejects", "breaker")


def account_record(state: AccountState) -> Record:
    """The account's changelog record: a copy the core never modifies (module docstring, "State")."""
    record = {name: state[name] for name in ACCOUNT_RECORD_FIELDS}
    record["positions"] = dict(state["positions"])
    return record


def take_back_account_record(state: AccountState, record: Record) -> None:
    """An account record into ``state``, every container its own copy: no changelog dict is ever aliased."""
    limits = record.get("limits")
    state["limits"] = None if limits is None else limits_from_record(limits)
    state["positions"] = {symbol: dict(held) for symbol, held in record.get("positions", {}).items()}
    state["pnl_day"] = record.get("pnl_day", 0)
    state["pnl_today"] = record.get("pnl_today", 0)
    bucket = record.get("bucket")
    state["bucket"] = None if bucket is None else list(bucket)
    state["rejects"] = list(record.get("rejects", ()))
    breaker = record.get("breaker")
    state["breaker"] = None if breaker is None else dict(breaker)


def exposure_of(orders: Mapping[str, Mapping[str, Any]]) -> dict[str, list[int]]:
    """Per symbol ``[buy, sell]``: what the working orders add up to (only symbols where it is not zero)."""
    exposure: dict[str, list[int]] = {}
    for order in orders.values():
        working = _order_exposure(order)
        if working:
            sides = exposure.setdefault(order["symbol"], [0, 0])
            sides[0 if order["side"] == "BUY" else 1] += working
    return exposure


def _key(scope: str, target: str | None) -> str:
    return "GLOBAL" if scope == "GLOBAL" else f"{scope}:{target}"


def _order_exposure(order: Mapping[str, Any]) -> int:
    """The working quantity an order counts for: its leaves, or a pending approved amend's if larger; nothing
    for a child of an algorithmic parent (its quantity is carved from the parent's, which counts already)."""
    if "child" in order:
        return 0
    amend: int | None = order["amend_leaves"]
    leaves: int = order["leaves"]
    return leaves if amend is None or amend < leaves else amend


class RiskCore:
    """Pre-trade risk for the accounts of the partitions a worker owns (see the module docstring)."""

    name: ClassVar[str] = STAGE
    # The router's child orders come on their own topic (handed in process where the router runs in the stage).
    inputs: ClassVar[tuple[str, ...]] = (ORDERS_COMMANDS, RISK_LIMITS, ORDERS_EVENTS, ORDERS_CHILD_COMMANDS)
    broadcast_inputs: ClassVar[tuple[str, ...]] = (CONTROL_EVENTS, MD_TRADES)
    barrier_inputs: ClassVar[tuple[str, ...]] = (CONTROL_EVENTS,)  # a kill switch acts on the next command
    outputs: ClassVar[tuple[str, ...]] = (RISK_DECISIONS, CONTROL_EVENTS)

    def __init__(self, config: RiskConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self._default_limits: Record = config.default_limits.as_record()
        self._accounts: dict[str, AccountState] = {}
        self._dirty: set[str] = set()  # accounts whose account record changed since the last state_changes()
        self._dirty_orders: set[tuple[str, str]] = set()  # (account, order id) changed or gone since then
        self._restored: set[str] = set()  # accounts taken back and not settled yet
        self._migrated: set[tuple[str, str]] = set()  # orders read from account records of the earlier layout
        self._earlier_layout: set[str] = set()  # those account records, to write again in this layout
        # Broadcast state: rebuilt from the broadcast topics, never in the changelog.
        self._kill_switches: set[str] = set()  # "GLOBAL", "ACCOUNT:<account>", "SYMBOL:<symbol>"
        self._breakers: dict[str, tuple[str, int | None]] = {}  # tripped by others: key -> (state, until)
        self._trading_states: dict[str, str] = {}  # account -> REDUCE_ONLY / HALTED (absent: ACTIVE)
        self._last_trade: dict[str, Price] = {}  # symbol -> price
        self._handlers: dict[str, Callable[[Event], list[Emit]]] = {
            NEW_ORDER: self._on_new_order,
            CANCEL_ORDER: self._on_cancel,
            AMEND_ORDER: self._on_amend,
            ORDER_EVENT: self._on_order_event,
            RISK_LIMITS_SCHEMA: self._on_limits,
            KILL_SWITCH_SCHEMA: self._on_kill_switch,
            CIRCUIT_BREAKER_SCHEMA: self._on_circuit_breaker,
            TRADING_STATE_SET: self._on_trading_state,
            TRADE: self._on_trade,
        }

    # -- the Core protocol ------------------------------------------------------------------------------
    def apply(self, event: Event) -> list[Emit]:
        if self._restored:
            self._settle_restored()
        handler = self._handlers.get(event.schema)
        if handler is None:
            raise ValueError(f"risk does not take {event.schema} (topic {event.topic})")
        return handler(event)

    def state_changes(self) -> StateChanges:
        """The changed account records and working-order records, None for an order gone (module docstring).

        What restore alone changes (the earlier layout rewritten) comes with the first call after an event: an
        engine may call this right after restoring and drop the answer (the faust engine does).
        """
        accounts = self._accounts
        changes: StateChanges = {account: account_record(accounts[account]) for account in self._dirty}
        for account, order_id in self._dirty_orders:
            changes[state_key(account, order_id)] = accounts[account]["orders"].get(order_id)
        self._dirty.clear()
        self._dirty_orders.clear()
        return changes

    def restore(self, key: str, state: Record) -> None:
        account, order_id = split_state_key(key)
        held = self._accounts.get(account)
        if held is None:
            held = self._accounts[account] = new_account_state()
        orders = held["orders"]
        if order_id is not None:
            orders[order_id] = dict(state)
            self._migrated.discard((account, order_id))  # already in this layout: nothing to write again
        else:
            take_back_account_record(held, state)
            earlier: dict[str, Record] | None = state.get("orders")
            if earlier is not None:  # the earlier layout: the working orders in the account record
                for earlier_id, order in earlier.items():
                    if earlier_id not in orders:
                        orders[earlier_id] = dict(order)
                        self._migrated.add((account, earlier_id))
                self._earlier_layout.add(account)
        self._restored.add(account)

    def _settle_restored(self) -> None:
        """Before the first event after restore: exposure added up again; what to write again."""
        for account in self._restored:
            state = self._accounts[account]
            state["exposure"] = exposure_of(state["orders"])
        self._dirty_orders |= self._migrated
        self._dirty |= self._earlier_layout
        self._restored.clear()
        self._migrated.clear()
        self._earlier_layout.clear()

    def broadcast_state(self) -> Record:
        return {
            "kill_switches": sorted(self._kill_switches),
            "breakers": {key: list(value) for key, value in self._breakers.items()},
            "trading_states": dict(self._trading_states),
            "last_trade": dict(self._last_trade),
        }

    def restore_broadcast(self, state: Record) -> None:
        self._kill_switches = set(state.get("kill_switches", ()))
        self._breakers = {key: (value[0], value[1]) for key, value in state.get("breakers", {}).items()}
        self._trading_states = dict(state.get("trading_states", {}))
        self._last_trade = dict(state.get("last_trade", {}))

    # -- read access for tools and tests -----------------------------------------------------------------
    def kill_switches_in_force(self) -> frozenset[str]:
        """``GLOBAL``, ``ACCOUNT:<account>``, ``SYMBOL:<symbol>``: the switches engaged now (the metrics read it)."""
        return frozenset(self._kill_switches)

    def account_state(self, account: str) -> AccountState | None:
        """The live state of an account (do not modify), None when risk has seen nothing of it."""
        if self._restored:
            self._settle_restored()
        return self._accounts.get(account)

    # -- commands ---------------------------------------------------------------------------------------
    def _on_new_order(self, event: Event) -> list[Emit]:
        order = event.record
        meta = order["meta"]
        now: int = meta["event_time_us"]
        account: str = order["account"]
        state = self._state(account)
        emits: list[Emit] = []
        if state["breaker"] is not None:  # tripped: the first command after the cool-down resets it
            self._reset_breaker_if_cooled(event, state, account, now, emits)
        limits = state["limits"] or self._default_limits

        symbol: str = order["symbol"]
        side: str = order["side"]
        quantity: Quantity = order["quantity"]
        limit_price: Price | None = order["price"]
        buy = side == "BUY"
        signed = quantity if buy else -quantity
        held = state["positions"].get(symbol)
        position_qty: int = held["quantity"] if held is not None else 0
        exposure = state["exposure"].get(symbol)
        same_side = 0 if exposure is None else (exposure[0] if buy else -exposure[1])
        reduces = reduces_position(position_qty, same_side, signed)
        # A child of an algorithmic parent risk holds adds no exposure: the parent's leaves cover it.
        parent_id: str | None = order.get("parent_order_id")
        parent = None if parent_id is None else state["orders"].get(parent_id)
        child = parent is not None and "parent" in parent
        reference, reference_name = self._reference(symbol, limits)
        value, basis = self._valuation(order, quantity, reference, reference_name)
        tokens, tokens_at = self._bucket(state, now, limits)

        results = [
            kill_switch(self._kill_switches_for(account, symbol) if self._kill_switches else []),
            trading_state(self._trading_states.get(account, ACTIVE), reduces),
            circuit_breaker(self._tripped_for(state, account, symbol), now, reduces),
            symbol_allowed(symbol, limits["allowed_symbols"]),
            order_quantity(quantity, limits["max_order_quantity"]),
            order_notional(value, limits["max_order_notional"], basis),
            position(position_qty + same_side + (0 if child else signed), limits["max_position_quantity"]),
            open_orders(len(state["orders"]) + 1, limits["max_open_orders"]),
            order_rate(tokens, limits["orders_per_second"], limits["order_burst"]),
            price_collar(limit_price, reference, reference_name, limits["price_collar_bps"]),
            daily_loss(self._pnl_today(state, now), limits["daily_loss_limit"], reduces),
        ]
        approved, reason, detail = _verdict(results)
        if approved:
            tokens -= TOKEN
            order_id: str = order["order_id"]
            if order_id not in state["orders"]:  # a resubmitted id adds nothing: the OMS rejects it as a duplicate
                state["orders"][order_id] = {
                    "symbol": symbol,
                    "side": side,
                    "quantity": quantity,
                    "cum": 0,
                    "leaves": quantity,
                    "price": limit_price,
                    "amend_leaves": None,
                    "correlation_id": meta["correlation_id"],
                }
                if order.get("execution") is not None:
                    state["orders"][order_id]["parent"] = True
                if child:
                    state["orders"][order_id]["child"] = True
                self._dirty_orders.add((account, order_id))
                self._expose(state, symbol, buy, 0 if child else quantity)
        state["bucket"] = [tokens, tokens_at]
        emits.append(
            self._decision(
                event, len(emits), "NEW", symbol, approved=approved, reason=reason, detail=detail, results=results
            )
        )
        if not approved and reason != CIRCUIT_BREAKER:
            self._count_trigger(event, state, account, now, emits)
        return emits

    def _on_cancel(self, event: Event) -> list[Emit]:
        cancel = event.record
        account: str = cancel["account"]
        state = self._state(account)
        emits: list[Emit] = []
        if state["breaker"] is not None:
            self._reset_breaker_if_cooled(event, state, account, cancel["meta"]["event_time_us"], emits)
        working = state["orders"].get(cancel["order_id"])
        symbol = cancel.get("symbol") or (working["symbol"] if working is not None else None)
        detail = "cancel: always approved (it reduces risk)"
        emits.append(
            self._decision(event, len(emits), "CANCEL", symbol, approved=True, reason=None, detail=detail, results=[])
        )
        return emits

    def _on_amend(self, event: Event) -> list[Emit]:
        amend = event.record
        now: int = amend["meta"]["event_time_us"]
        account: str = amend["account"]
        state = self._state(account)
        emits: list[Emit] = []
        if state["breaker"] is not None:
            self._reset_breaker_if_cooled(event, state, account, now, emits)
        working = state["orders"].get(amend["order_id"])
        if working is None:
            detail = "amend of an order risk does not know as working: nothing to re-check (the OMS decides)"
            emits.append(
                self._decision(event, len(emits), "AMEND", None, approved=True, reason=None, detail=detail, results=[])
            )
            return emits

        limits = state["limits"] or self._default_limits
        symbol: str = working["symbol"]
        buy = working["side"] == "BUY"
        quantity: Quantity = working["quantity"] if amend["quantity"] is None else amend["quantity"]
        limit_price: Price | None = working["price"] if amend["price"] is None else amend["price"]
        new_leaves = max(quantity - working["cum"], 0)
        held = state["positions"].get(symbol)
        position_qty: int = held["quantity"] if held is not None else 0
        exposure = state["exposure"].get(symbol) or [0, 0]
        others = (exposure[0] if buy else exposure[1]) - _order_exposure(working)
        projected = position_qty + (others + new_leaves if buy else -(others + new_leaves))
        reference, reference_name = self._reference(symbol, limits)
        priced = {"price": limit_price, "stop_price": amend.get("stop_price")}
        value, basis = self._valuation(priced, quantity, reference, reference_name)

        results = [
            order_quantity(quantity, limits["max_order_quantity"]),
            order_notional(value, limits["max_order_notional"], basis),
            position(projected, limits["max_position_quantity"]),
            price_collar(limit_price, reference, reference_name, limits["price_collar_bps"]),
        ]
        approved, reason, detail = _verdict(results)
        if approved:
            before = _order_exposure(working)
            pending = working["amend_leaves"]
            amend_leaves = new_leaves if pending is None else max(pending, new_leaves)
            working = state["orders"][amend["order_id"]] = {**working, "amend_leaves": amend_leaves}  # replaced whole
            self._dirty_orders.add((account, amend["order_id"]))
            self._expose(state, symbol, buy, _order_exposure(working) - before)
        emits.append(
            self._decision(
                event, len(emits), "AMEND", symbol, approved=approved, reason=reason, detail=detail, results=results
            )
        )
        if not approved:
            self._count_trigger(event, state, account, now, emits)
        return emits

    # -- the account's other inputs ---------------------------------------------------------------------
    def _on_limits(self, event: Event) -> list[Emit]:
        record = event.record
        self._state(record["account"])["limits"] = limits_from_record(record)
        return []

    def _on_order_event(self, event: Event) -> list[Emit]:
        update = event.record
        account: str = update["account"]
        event_type: str = update["event_type"]
        state = self._accounts.get(account)
        changed = state is None
        if state is None:
            state = self._accounts[account] = new_account_state()
        if event_type in FILL_EVENT_TYPES and update.get("last_quantity", 0) > 0:
            self._apply_fill(state, update, update["meta"]["event_time_us"])
            changed = True

        order_id: str = update["order_id"]
        orders = state["orders"]
        working = orders.get(order_id)
        if update["status"] in TERMINAL_STATUSES:
            if working is not None:
                del orders[order_id]
                self._expose(state, working["symbol"], working["side"] == "BUY", -_order_exposure(working))
                self._dirty_orders.add((account, order_id))
        else:
            quantity: int = update["quantity"]
            cum: int = update["cum_quantity"]
            leaves: int = update["leaves_quantity"]
            price: int | None = update["price"]
            answers_amend = event_type in AMEND_ANSWERS
            if working is None:  # working at the OMS but not here (e.g. approved before risk kept state)
                working = orders[order_id] = {
                    "symbol": update["symbol"],
                    "side": update["side"],
                    "quantity": 0,
                    "cum": 0,
                    "leaves": 0,
                    "price": None,
                    "amend_leaves": None,
                    "correlation_id": update["meta"]["correlation_id"],
                }
            elif (
                working["leaves"] == leaves
                and working["cum"] == cum
                and working["quantity"] == quantity
                and working["price"] == price
                and (not answers_amend or working["amend_leaves"] is None)
            ):
                working = None  # what risk holds already (PENDING_NEW, ACCEPTED, ...)
            if working is not None:
                before = _order_exposure(working)
                # replaced whole, never edited: a changelog copy handed out earlier shares the old dict
                working = orders[order_id] = {
                    **working,
                    "quantity": quantity,
                    "cum": cum,
                    "leaves": leaves,
                    "price": price,
                }
                if answers_amend:
                    working["amend_leaves"] = None
                self._expose(state, working["symbol"], working["side"] == "BUY", _order_exposure(working) - before)
                self._dirty_orders.add((account, order_id))

        emits: list[Emit] = []
        if event_type == "REJECTED":
            self._count_trigger(event, state, account, update["meta"]["event_time_us"], emits)
            changed = True
        if changed:
            self._dirty.add(account)
        return emits

    def _apply_fill(self, state: AccountState, fill: Mapping[str, Any], now: int) -> None:
        symbol: str = fill["symbol"]
        positions = state["positions"]
        before = positions.get(symbol) or empty_position()
        fee: Cash = fill.get("fee", 0)
        after = apply_fill(before, fill["side"], fill["last_quantity"], fill["last_price"], fee)
        positions[symbol] = after
        day = now // DAY_US
        if day != state["pnl_day"]:
            state["pnl_day"] = day
            state["pnl_today"] = 0
        state["pnl_today"] += after["realized_pnl"] - before["realized_pnl"] - fee

    # -- broadcast inputs: never touch account state ----------------------------------------------------
    def _on_kill_switch(self, event: Event) -> list[Emit]:
        switch = event.record
        scope: str = switch["scope"]
        target: str | None = switch.get("target")
        key = _key(scope, target)
        if not switch["active"]:
            self._kill_switches.discard(key)
            return []
        self._kill_switches.add(key)
        if not switch.get("cancel_open_orders"):
            return []
        emits: list[Emit] = []
        for account in sorted(self._accounts):
            if scope == "ACCOUNT" and account != target:
                continue
            orders = self._accounts[account]["orders"]
            for order_id in sorted(orders):
                working = orders[order_id]
                if scope == "SYMBOL" and working["symbol"] != target:
                    continue
                emits.extend(
                    self._kill_cancel(
                        event, key, account=account, order_id=order_id, working=working, index=2 * len(emits)
                    )
                )
        return emits

    def _kill_cancel(
        self, event: Event, key: str, *, account: str, order_id: str, working: Mapping[str, Any], index: int
    ) -> list[Emit]:
        """An approved decision on a synthesized CancelOrder of one working order (the order's correlation id)."""
        command_meta = derived_meta(event, STAGE, index)
        command_meta["correlation_id"] = working["correlation_id"]
        command = {"meta": command_meta, "account": account, "order_id": order_id, "symbol": working["symbol"]}
        meta = derived_meta(event, STAGE, index + 1)
        meta["correlation_id"] = working["correlation_id"]
        meta["causation_id"] = command_meta["event_id"]
        switch = event.record
        decision = {
            "meta": meta,
            "account": account,
            "order_id": order_id,
            "symbol": working["symbol"],
            "command_type": "CANCEL",
            "approved": True,
            "reason": None,
            "detail": f"kill switch {key} engaged by {switch['actor']} ({switch['detail']}): cancel working order",
            "checks": [],
            "command": (CANCEL_ORDER, command),
        }
        return [Emit(RISK_DECISIONS, account, RISK_DECISION, decision)]

    def _on_circuit_breaker(self, event: Event) -> list[Emit]:
        breaker = event.record
        if breaker["meta"]["producer"] == STAGE:
            return []  # our own account breaker coming back: account state already holds it
        key = _key(breaker["scope"], breaker["target"])
        if breaker["state"] == "TRIPPED":
            self._breakers[key] = (breaker["trading_state"], breaker.get("cool_down_until_us"))
        else:
            self._breakers.pop(key, None)
        return []

    def _on_trading_state(self, event: Event) -> list[Emit]:
        record = event.record
        if record["trading_state"] == ACTIVE:
            self._trading_states.pop(record["account"], None)
        else:
            self._trading_states[record["account"]] = record["trading_state"]
        return []

    def _on_trade(self, event: Event) -> list[Emit]:
        trade = event.record
        self._last_trade[trade["symbol"]] = trade["price"]
        return []

    # -- helpers ----------------------------------------------------------------------------------------
    def _state(self, account: str) -> AccountState:
        """The account's state, marked changed (only account-keyed inputs call this)."""
        state = self._accounts.get(account)
        if state is None:
            state = self._accounts[account] = new_account_state()
        self._dirty.add(account)
        return state

    @staticmethod
    def _expose(state: AccountState, symbol: str, buy: bool, delta: int) -> None:
        if not delta:
            return
        exposure = state["exposure"].get(symbol)
        if exposure is None:
            exposure = state["exposure"][symbol] = [0, 0]
        exposure[0 if buy else 1] += delta
        if exposure[0] == 0 and exposure[1] == 0:
            del state["exposure"][symbol]

    def _reference(self, symbol: str, limits: Mapping[str, Any]) -> tuple[Price | None, str]:
        """The reference price of a symbol: last trade, else the configured one, else none."""
        last = self._last_trade.get(symbol)
        if last is not None:
            return last, "last trade"
        configured: Price | None = limits["reference_prices"].get(symbol)
        if configured is not None:
            return configured, "configured reference"
        return None, "no reference"

    @staticmethod
    def _valuation(
        order: Mapping[str, Any], quantity: Quantity, reference: Price | None, reference_name: str
    ) -> tuple[Cash | None, str]:
        """The order's notional and what priced it: limit price, else stop price, else the reference."""
        if order["price"] is not None:
            return notional(order["price"], quantity), "at limit price"
        if order.get("stop_price") is not None:
            return notional(order["stop_price"], quantity), "at stop price"
        if reference is not None:
            return notional(reference, quantity), f"at {reference_name}"
        return None, "no reference price"

    @staticmethod
    def _bucket(state: AccountState, now: int, limits: Mapping[str, Any]) -> tuple[int, int]:
        bucket = state["bucket"]
        burst: int = limits["order_burst"]
        if bucket is None:
            return burst * TOKEN, now
        return refill(bucket[0], bucket[1], now, limits["orders_per_second"], burst)

    @staticmethod
    def _pnl_today(state: AccountState, now: int) -> int:
        pnl: int = state["pnl_today"] if state["pnl_day"] == now // DAY_US else 0
        return pnl

    def _kill_switches_for(self, account: str, symbol: str) -> list[str]:
        switches = self._kill_switches
        return [key for key in ("GLOBAL", f"ACCOUNT:{account}", f"SYMBOL:{symbol}") if key in switches]

    def _tripped_for(self, state: AccountState, account: str, symbol: str) -> list[tuple[str, str, int | None]]:
        tripped: list[tuple[str, str, int | None]] = []
        own = state["breaker"]
        if own is not None:
            tripped.append((f"ACCOUNT:{account}", HALTED, own["cool_down_until_us"]))
        if self._breakers:
            for key in ("GLOBAL", f"ACCOUNT:{account}", f"SYMBOL:{symbol}"):
                found = self._breakers.get(key)
                if found is not None:
                    tripped.append((key, found[0], found[1]))
        return tripped

    def _decision(
        self,
        event: Event,
        index: int,
        command_type: str,
        symbol: str | None,
        *,
        approved: bool,
        reason: str | None,
        detail: str,
        results: list[checks.CheckResult],
    ) -> Emit:
        command = event.record
        return Emit(
            RISK_DECISIONS,
            command["account"],
            RISK_DECISION,
            {
                "meta": derived_meta(event, STAGE, index),
                "account": command["account"],
                "order_id": command["order_id"],
                "symbol": symbol,
                "command_type": command_type,
                "approved": approved,
                "reason": reason,
                "detail": detail,
                "checks": [_recordable(result) for result in results],
                "command": (event.schema, command if isinstance(command, dict) else dict(command)),
            },
        )

    # -- the account circuit breaker --------------------------------------------------------------------
    def _count_trigger(self, event: Event, state: AccountState, account: str, now: int, emits: list[Emit]) -> None:
        """Count a denial or venue reject; trip the breaker at ``breaker_trip_count`` within the window."""
        if state["breaker"] is not None:
            return
        config = self.config
        start = now - config.breaker_window_us
        recent = [at for at in state["rejects"] if at > start]
        recent.append(now)
        if len(recent) < config.breaker_trip_count:
            state["rejects"] = recent
            return
        until = now + config.breaker_cool_down_us
        state["rejects"] = []
        state["breaker"] = {"cool_down_until_us": until, "trigger_count": len(recent), "tripped_at_us": now}
        detail = f"{len(recent)} denials or venue rejects within {config.breaker_window_us} us: halted until {until} us"
        emits.append(
            self._breaker_event(
                event,
                len(emits),
                account,
                breaker_state="TRIPPED",
                trading=HALTED,
                count=len(recent),
                until=until,
                detail=detail,
            )
        )

    def _reset_breaker_if_cooled(
        self, event: Event, state: AccountState, account: str, now: int, emits: list[Emit]
    ) -> None:
        breaker = state["breaker"]
        if breaker is None or now < breaker["cool_down_until_us"]:
            return
        state["breaker"] = None
        state["rejects"] = []
        detail = f"cool-down ended at {breaker['cool_down_until_us']} us (tripped at {breaker['tripped_at_us']} us)"
        emits.append(
            self._breaker_event(
                event, len(emits), account, breaker_state="RESET", trading=ACTIVE, count=0, until=None, detail=detail
            )
        )

    def _breaker_event(
        self,
        event: Event,
        index: int,
        account: str,
        *,
        breaker_state: str,
        trading: str,
        count: int,
        until: int | None,
        detail: str,
    ) -> Emit:
        return Emit(
            CONTROL_EVENTS,
            f"ACCOUNT:{account}",
            CIRCUIT_BREAKER_SCHEMA,
            {
                "meta": derived_meta(event, STAGE, index),
                "scope": "ACCOUNT",
                "target": account,
                "state": breaker_state,
                "trading_state": trading,
                "trigger_count": count,
                "window_us": self.config.breaker_window_us,
                "cool_down_until_us": until,
                "detail": detail,
            },
        )


def _recordable(result: checks.CheckResult) -> checks.CheckResult:
    """The result with ``observed`` and ``limit`` saturated to an Avro long: an absurd order (a quantity of 2**62)
    makes a notional past it, and the decision must still be written (its detail keeps the exact figures)."""
    return {
        **result,
        **{
            name: min(max(result[name], AVRO_LONG_MIN), AVRO_LONG_MAX)
            for name in ("observed", "limit")
            if result[name] is not None
        },
    }


def _verdict(results: list[checks.CheckResult]) -> tuple[bool, str | None, str]:
    """(approved, reason, detail): denied by the first failing check, naming any others that failed too."""
    failing = [result for result in results if not result["passed"]]
    if not failing:
        return True, None, f"approved: all {len(results)} checks passed"
    first = failing[0]
    detail: str = first["detail"]
    if len(failing) > 1:
        detail += "; also failing: " + ", ".join(result["check"] for result in failing[1:])
    return False, reason_for(first), detail
