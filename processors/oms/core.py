"""The OMS core: the order state machine between risk and the venues (docs/ORDER_PATH.md, "oms").

Inputs, co-partitioned by account: ``risk.decisions`` (each carrying its NewOrder / CancelOrder / AmendOrder
as a ``(schema, record)`` union tuple) and ``venue.executions``. Outputs: ``orders.events`` (key account: every
transition with the full order view), ``venue.orders`` (key symbol: NEW / CANCEL / AMEND, each naming the
approving decision) and ``ops.deadletters`` (venue reports that cannot be applied: unknown order, invalid
transition, overfill, a fill without id or quantity).

Which status follows which is decided by ``processors.oms.transitions.TABLE`` alone; this module does the
bookkeeping around it. ``command_id`` on an OrderEvent names the command it answers: the NewOrder for its
creation outcome, the CancelOrder / AmendOrder for PENDING_CANCEL / PENDING_REPLACE and for the venue's
answer (CANCELLED, REPLACED, CANCEL_REJECTED, REPLACE_REJECTED); null for the other venue-driven events
(ACCEPTED, fills, TRIGGERED, venue REJECTED, EXPIRED), so ``replay/verify.py`` sees exactly one outcome per
command. One request (cancel or replace) is open per order at a time; a second is rejected
(INVALID_TRANSITION), except a cancel while a replace is open: it waits for the replace's answer, then goes
to the venue (PENDING_CANCEL once when it waits, once when it is sent). When an order ends (filled,
expired, rejected, cancelled by the venue) while a request is open, that request is answered at once with
its reject. The venue's later reply to it is an expected race, not bad input: a CANCEL_REJECTED or
AMEND_REJECTED for a finished order that went to a venue is absorbed (nothing emitted: the request has its
answer and a reject changes nothing). Every other report on a finished order (a fill, an ACK, a second
ending) has no transition and goes to the dead letters.

State
-----
Per account, a ``processors.oms.accounts.AccountOrders``: the working orders, the finished ones (kept to
answer duplicates, late reports and cancels of finished orders with the order's real view) and the client
order id index. The changelog holds one small record per order, key ``"<account>|<order id>"``, written
when that order changed, never the whole account (layout, restore and the retention window in
``processors.oms.accounts``). Retention: each account keeps its ``OmsConfig.finished_orders_kept`` (10,000)
most recently finished orders; the duplicate client order id guarantee (never a second order for one
client order id) holds while the earlier order is working or among those; an order dropped from the window
is forgotten (its key gets a tombstone), so its client order id could make a new order again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from processors.algos.plan import ALGO_VENUE_PREFIX, InvalidInstruction, is_parent_venue, plan_for
from processors.core import (
    Emit,
    Event,
    Record,
    StateChanges,
    derived_event_id,
    order_id_for,
    split_state_key,
    state_key,
)
from processors.oms import transitions as t
from processors.oms.accounts import AccountOrders
from processors.oms.orders import (
    STOPS,
    Order,
    amend_invalid_reason,
    archived,
    new_order_invalid_reason,
    new_order_state,
)
from processors.portfolio.position import div_half_even
from schemas.names import (
    AMEND_ORDER,
    CANCEL_ORDER,
    DEAD_LETTER,
    EXECUTION_REPORT,
    NEW_ORDER,
    ORDER_EVENT,
    RISK_DECISION,
    VENUE_ORDER,
)
from topics.catalogue import DEAD_LETTERS, ORDERS_EVENTS, RISK_DECISIONS, VENUE_EXECUTIONS, VENUE_ORDERS

STAGE: Final = "oms"

CANCEL: Final = "CANCEL"
REPLACE: Final = "REPLACE"

# The OrderEvent type of each venue trigger (fills and amends are named apart in the transition table).
_EVENT_TYPE: Final = {
    t.ACK: "ACCEPTED",
    t.FILL: "PARTIALLY_FILLED",
    t.FILL_COMPLETE: "FILLED",
    t.VENUE_CANCELLED: "CANCELLED",
    t.AMENDED: "REPLACED",
    t.AMENDED_COMPLETE: "REPLACED",
    t.VENUE_REJECTED: "REJECTED",
    t.VENUE_EXPIRED: "EXPIRED",
    t.TRIGGERED: "TRIGGERED",
    t.CANCEL_REJECTED: "CANCEL_REJECTED",
    t.AMEND_REJECTED: "REPLACE_REJECTED",
}
# The request kind a venue report answers.
_ANSWERS: Final = {
    t.VENUE_CANCELLED: CANCEL,
    t.CANCEL_REJECTED: CANCEL,
    t.AMENDED: REPLACE,
    t.AMENDED_COMPLETE: REPLACE,
    t.AMEND_REJECTED: REPLACE,
}
# The fill fields of an OrderEvent: last_quantity, last_price, fee, fill_id, liquidity.
Fill = tuple[int, int | None, int, str | None, str | None]
_NO_FILL: Final[Fill] = (0, None, 0, None, None)
_FILLS: Final = frozenset({t.FILL, t.FILL_COMPLETE})
_AMENDS: Final = frozenset({t.AMENDED, t.AMENDED_COMPLETE})
_TERMINAL: Final = t.TERMINAL
# The venue's rejects of a cancel or amend request: on a finished order they change nothing (module docstring).
_REQUEST_REJECTS: Final = frozenset({t.CANCEL_REJECTED, t.AMEND_REJECTED})
_STEPS: Final = t.STEPS


@dataclass(frozen=True, slots=True)
class OmsConfig:
    """default_venue: where an order that names no venue is routed (the simulated venue).

    finished_orders_kept: finished orders each account keeps (memory and changelog) to answer duplicates,
    late reports and requests with their real view; the oldest beyond it is dropped (module docstring).
    """

    default_venue: str = "sim"
    finished_orders_kept: int = 10_000

    def __post_init__(self) -> None:
        if self.finished_orders_kept < 1:
            raise ValueError(f"finished_orders_kept must be at least 1, not {self.finished_orders_kept}")


DEFAULT_CONFIG: Final = OmsConfig()


class _Out:
    """The emits of one input event, numbered for the derived meta in the order they are made.

    The meta is ``processors.core.derived_meta(cause, STAGE, index)``, with the cause's fields read once.
    """

    __slots__ = ("cause", "cause_id", "correlation_id", "emits", "event_time_us", "ingest_time_us")

    def __init__(self, cause: Event) -> None:
        meta = cause.record["meta"]
        self.cause = cause
        self.cause_id: str = meta["event_id"]
        self.event_time_us: int = meta["event_time_us"]
        self.ingest_time_us = cause.ingest_time_us
        self.correlation_id: str | None = meta["correlation_id"]
        self.emits: list[Emit] = []

    def meta(self) -> Record:
        return {
            "event_id": derived_event_id(self.cause_id, STAGE, len(self.emits)),
            "producer": STAGE,
            "event_time_us": self.event_time_us,
            "ingest_time_us": self.ingest_time_us,
            "causation_id": self.cause_id,
            "correlation_id": self.correlation_id,
        }

    def order_event(
        self,
        order: Mapping[str, Any],
        event_type: str,
        *,
        command_id: str | None,
        reason: str | None = None,
        detail: str = "",
        fill: Fill | None = None,
    ) -> None:
        """An OrderEvent with the full order view (``processors.oms.orders.view``), built in one literal."""
        status: str = order["status"]
        cum: int = order["cum"]
        last_quantity, last_price, fee, fill_id, liquidity = _NO_FILL if fill is None else fill
        record: Record = {
            "meta": self.meta(),
            "account": order["account"],
            "order_id": order["order_id"],
            "client_order_id": order["client_order_id"],
            "symbol": order["symbol"],
            "side": order["side"],
            "order_type": order["order_type"],
            "time_in_force": order["time_in_force"],
            "status": status,
            "version": order["version"],
            "quantity": order["quantity"],
            "price": order["price"],
            "stop_price": order["stop_price"],
            "cum_quantity": cum,
            "leaves_quantity": 0 if status in _TERMINAL else order["quantity"] - cum,
            "avg_price": div_half_even(order["fill_value"], cum) if cum else None,
            "post_only": order["post_only"],
            "reduce_only": order["reduce_only"],
            "expire_time_us": order["expire_time_us"],
            "venue": order["venue"],
            "parent_order_id": order["parent_order_id"],
            "event_type": event_type,
            "last_quantity": last_quantity,
            "last_price": last_price,
            "fee": fee,
            "fill_id": fill_id,
            "liquidity": liquidity,
            "reject_reason": reason,
            "detail": detail,
            "command_id": command_id,
        }
        self.emits.append(Emit(ORDERS_EVENTS, order["account"], ORDER_EVENT, record))

    def venue_order(self, order: Mapping[str, Any], action: str, decision_id: str, **terms: Any) -> None:
        record: Record = {
            "meta": self.meta(),
            "venue": order["venue"],
            "symbol": order["symbol"],
            "account": order["account"],
            "order_id": order["order_id"],
            "parent_order_id": order["parent_order_id"],
            "action": action,
            "side": order["side"],
            "order_type": order["order_type"],
            "time_in_force": order["time_in_force"],
            "quantity": order["quantity"],
            "price": order["price"],
            "stop_price": order["stop_price"],
            "post_only": order["post_only"],
            "expire_time_us": order["expire_time_us"],
            "risk_decision_id": decision_id,
        }
        record.update(terms)
        self.emits.append(Emit(VENUE_ORDERS, order["symbol"], VENUE_ORDER, record))

    def dead_letter(self, detail: str) -> None:
        cause = self.cause
        record: Record = {
            "meta": self.meta(),
            "source_topic": cause.topic,
            "source_partition": None,
            "source_offset": None,
            "key": cause.key.encode() if cause.key is not None else None,
            "value": None,
            "reason": "INVALID_RECORD",
            "detail": detail,
            "stage": STAGE,
        }
        self.emits.append(Emit(DEAD_LETTERS, cause.topic, DEAD_LETTER, record))


def _unknown_order(account: str, order_id: str, symbol: str | None) -> Order:
    """The view of an order the OMS does not hold, for rejecting a cancel or amend of it (FIX: status REJECTED).

    Its terms are unknown: version 0, quantity 0, and placeholder side / type / time in force.
    """
    return {
        "account": account,
        "order_id": order_id,
        "client_order_id": "",
        "symbol": symbol or "",
        "side": "BUY",
        "order_type": "LIMIT",
        "time_in_force": "GTC",
        "status": t.REJECTED,
        "version": 0,
        "quantity": 0,
        "price": None,
        "stop_price": None,
        "cum": 0,
        "fill_value": 0,
        "post_only": False,
        "reduce_only": False,
        "expire_time_us": None,
        "venue": None,
        "parent_order_id": None,
    }


def _replace_refusal(order: Order, command: Mapping[str, Any]) -> tuple[str, str] | None:
    """Why an approved amend cannot be sent to the venue (reason, detail); None when it can."""
    invalid = amend_invalid_reason(order, command)
    if invalid is not None:
        return "INVALID_ORDER", invalid
    quantity: int = order["quantity"] if command.get("quantity") is None else command["quantity"]
    if quantity < order["cum"]:
        return "AMEND_BELOW_FILLED", f"new quantity {quantity} is below the filled {order['cum']}"
    return None


def _amended_trigger(out: _Out, order: Order) -> str | None:
    """AMENDED, or AMENDED_COMPLETE when the new quantity is all filled; None when dead-lettered."""
    pending = order["pending"]
    replacing = pending is not None and pending["kind"] == REPLACE
    if replacing and pending is not None and pending["quantity"] < order["cum"]:
        # Fills reported after the amend was sent: the venue cannot have amended below them.
        out.dead_letter(
            f"AMENDED for order {order['order_id']} to quantity {pending['quantity']}, below "
            f"the filled {order['cum']}: not applied"
        )
        return None
    done = replacing and pending is not None and pending["quantity"] == order["cum"]
    return t.AMENDED_COMPLETE if done else t.AMENDED


def _children_leaves(orders: AccountOrders, parent_id: str) -> int:
    """Quantity still working in the children of a parent (its working orders that name it)."""
    return sum(
        child["quantity"] - child["cum"]
        for child in orders.working.values()
        if child["parent_order_id"] == parent_id and child["status"] not in _TERMINAL
    )


def _child_refusal(orders: AccountOrders, command: Mapping[str, Any]) -> str | None:
    """Why a child of an algorithmic parent the OMS holds cannot be placed; None for any other order."""
    parent_id: str | None = command.get("parent_order_id")
    parent = None if parent_id is None else orders.get(parent_id)
    if parent is None or not is_parent_venue(parent["venue"]):
        return None  # not a child of an algorithmic parent held here: a plain order
    if parent["status"] not in (t.NEW, t.PARTIALLY_FILLED):
        return f"parent {parent_id} is {parent['status']}: it takes no new children"
    if (command["symbol"], command["side"]) != (parent["symbol"], parent["side"]):
        return f"a child must trade the parent's {parent['side']} {parent['symbol']}"
    assert parent_id is not None
    unplaced = parent["quantity"] - parent["cum"] - _children_leaves(orders, parent_id)
    if command["quantity"] > unplaced:
        return f"quantity {command['quantity']} exceeds the parent's unplaced {unplaced}"
    return None


class OmsCore:
    """The order state machine for the accounts of the partitions a worker owns (see the module docstring)."""

    name: ClassVar[str] = STAGE
    inputs: ClassVar[tuple[str, ...]] = (RISK_DECISIONS, VENUE_EXECUTIONS)
    broadcast_inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = (ORDERS_EVENTS, VENUE_ORDERS, DEAD_LETTERS)

    def __init__(self, config: OmsConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self._accounts: dict[str, AccountOrders] = {}
        self._dirty: set[tuple[str, str]] = set()  # (account, order id) changed since the last state_changes()
        self._gone: set[str] = set()  # account records of the earlier layout, to delete now
        self._restored: set[str] = set()  # accounts taken back and not settled yet
        self._migrated: set[tuple[str, str]] = set()  # orders read from account records of the earlier layout
        self._earlier_layout: set[str] = set()  # those account records
        self._commands: dict[str, Callable[[_Out, Mapping[str, Any], Mapping[str, Any]], None]] = {
            NEW_ORDER: self._on_new_order,
            CANCEL_ORDER: self._on_cancel,
            AMEND_ORDER: self._on_amend,
        }

    # -- the Core protocol ------------------------------------------------------------------------------
    def apply(self, event: Event) -> list[Emit]:
        if self._restored:
            self._settle_restored()
        out = _Out(event)
        schema = event.schema
        if schema == EXECUTION_REPORT:
            self._on_execution(out, event.record)
        elif schema == RISK_DECISION:
            decision = event.record
            command_schema, command = decision["command"]
            handler = self._commands.get(command_schema)
            if handler is None:
                raise ValueError(f"oms does not take a decision on {command_schema}")
            handler(out, decision, command)
        else:
            raise ValueError(f"oms does not take {event.schema} (topic {event.topic})")
        return out.emits

    def state_changes(self) -> StateChanges:
        """One record per order changed since the last call, None for a dropped one (module docstring).

        What restore alone changes (retention, the earlier layout rewritten) comes with the first call after
        an event: an engine may call this right after restoring and drop the answer (the faust engine does).
        """
        accounts = self._accounts
        changes: StateChanges = {
            state_key(account, order_id): accounts[account].record(order_id) for account, order_id in self._dirty
        }
        for account in self._gone:
            changes[account] = None
        self._dirty.clear()
        self._gone.clear()
        return changes

    def restore(self, key: str, state: Record) -> None:
        account, order_id = split_state_key(key)
        orders = self._accounts.get(account)
        if orders is None:
            orders = self._accounts[account] = AccountOrders(account)
        if order_id is not None:
            orders.take_back(order_id, state)
        else:  # the earlier layout: one record for the whole account
            self._migrated.update((account, taken) for taken in orders.take_back_account_record(state))
            self._earlier_layout.add(account)
        self._restored.add(account)

    def _settle_restored(self) -> None:
        """Before the first event after restore: finishing order and retention; what to write again."""
        retention = self.config.finished_orders_kept
        for account in self._restored:
            self._dirty.update((account, dropped) for dropped in self._accounts[account].settle(retention))
        self._dirty |= self._migrated
        self._gone |= self._earlier_layout
        self._restored.clear()
        self._migrated.clear()
        self._earlier_layout.clear()

    def broadcast_state(self) -> Record:
        return {}  # the OMS has no broadcast inputs

    def restore_broadcast(self, state: Record) -> None:
        return None

    # -- read access for tools and tests -----------------------------------------------------------------
    def order(self, account: str, order_id: str) -> Order | None:
        """The state of an order, None when the OMS holds no such order.

        A working order is the live dict (do not modify); a terminal one a fresh dict from its archived row.
        """
        if self._restored:
            self._settle_restored()
        orders = self._accounts.get(account)
        return None if orders is None else orders.get(order_id)

    # -- commands (as decided by risk) ------------------------------------------------------------------
    def _on_new_order(self, out: _Out, decision: Mapping[str, Any], command: Mapping[str, Any]) -> None:
        account: str = command["account"]
        command_id: str = command["meta"]["event_id"]
        client_order_id: str = command["client_order_id"]
        derived_id = order_id_for(account, client_order_id)
        orders = self._accounts.get(account)
        if orders is None:
            orders = self._accounts[account] = AccountOrders(account)
        existing = self._existing(orders, command["order_id"], derived_id, client_order_id)
        if existing is not None:
            if existing["command_id"] == command_id:
                return  # the same command delivered again: it has had its outcome
            detail = (
                f"client order id {client_order_id!r} already names order {existing['order_id']} "
                f"({existing['status']}); never a second order"
            )
            out.order_event(
                existing, "DUPLICATE_REJECTED", command_id=command_id, reason="DUPLICATE_CLIENT_ORDER_ID", detail=detail
            )
            return

        if not decision["approved"]:
            order = new_order_state(command, t.REJECTED, None, command_id)
            out.order_event(
                order, "DENIED", command_id=command_id, reason=decision["reason"], detail=decision["detail"]
            )
        elif (invalid := self._invalid_reason(orders, command)) is not None:
            order = new_order_state(command, t.REJECTED, None, command_id)
            out.order_event(order, "REJECTED", command_id=command_id, reason="INVALID_ORDER", detail=invalid)
        elif command.get("execution") is not None:
            algo: str = command["execution"]["algo"]
            order = new_order_state(command, t.PENDING_NEW, ALGO_VENUE_PREFIX + algo, command_id)
            out.order_event(order, "PENDING_NEW", command_id=command_id, detail=f"worked by {algo}")
            order["status"], order["working"] = _STEPS[t.PENDING_NEW, t.PENDING_NEW, t.ACK]
            out.order_event(order, "ACCEPTED", command_id=None, detail=f"{algo} working: the router places children")
        else:
            order = new_order_state(
                command, t.PENDING_NEW, command.get("venue") or self.config.default_venue, command_id
            )
            out.order_event(order, "PENDING_NEW", command_id=command_id, detail="sent to the venue")
            out.venue_order(order, "NEW", decision["meta"]["event_id"])
        order_id: str = order["order_id"]
        if order_id != derived_id:
            orders.client_ids[client_order_id] = order_id
        orders.working[order_id] = order
        self._dirty.add((account, order_id))
        self._archive_if_done(orders, order)

    @staticmethod
    def _invalid_reason(orders: AccountOrders, command: Mapping[str, Any]) -> str | None:
        """Why an approved NewOrder cannot become an order: its terms, its execution instruction, or (a child of
        a parent the OMS holds) its parent, which must be working and have the quantity unplaced."""
        invalid = new_order_invalid_reason(command)
        if invalid is not None:
            return invalid
        if command.get("execution") is not None:
            if command.get("parent_order_id") is not None:
                return "a child order cannot carry an execution instruction"
            try:
                plan_for(command)
            except InvalidInstruction as error:
                return f"execution: {error}"
            return None
        return _child_refusal(orders, command)

    @staticmethod
    def _existing(orders: AccountOrders, order_id: str, derived_id: str, client_order_id: str) -> Order | None:
        """The order a NewOrder would duplicate: same order id, or same client order id (derived or indexed)."""
        found = orders.get(order_id)
        if found is None and derived_id != order_id:
            found = orders.get(derived_id)
        if found is None and (indexed := orders.client_ids.get(client_order_id)) is not None:
            found = orders.get(indexed)
        return found

    def _archive_if_done(self, orders: AccountOrders, order: Order) -> None:
        """A terminal order with no request left open moves to ``done`` in its compact form (retention applies)."""
        if order["status"] in _TERMINAL and order["pending"] is None and order.get("queued_cancel") is None:
            dropped = orders.finish(order["order_id"], archived(order), self.config.finished_orders_kept)
            for order_id in dropped:
                self._dirty.add((orders.account, order_id))

    def _on_cancel(self, out: _Out, decision: Mapping[str, Any], command: Mapping[str, Any]) -> None:
        self._on_request(out, decision, command, CANCEL)

    def _on_amend(self, out: _Out, decision: Mapping[str, Any], command: Mapping[str, Any]) -> None:
        self._on_request(out, decision, command, REPLACE)

    def _on_request(  # noqa: PLR0911  one return per way a request is answered
        self, out: _Out, decision: Mapping[str, Any], command: Mapping[str, Any], kind: str
    ) -> None:
        """A cancel or replace request: rejected at once, or opened (PENDING_*) and sent to the venue."""
        account: str = command["account"]
        command_id: str = command["meta"]["event_id"]
        reject_type = "CANCEL_REJECTED" if kind == CANCEL else "REPLACE_REJECTED"
        order = self.order(account, command["order_id"])
        if order is None:
            symbol = command.get("symbol") or decision.get("symbol")
            unknown = _unknown_order(account, command["order_id"], symbol)
            detail = "the OMS holds no such order"
            out.order_event(unknown, reject_type, command_id=command_id, reason="UNKNOWN_ORDER", detail=detail)
            return
        waiting = [order["pending"], order.get("queued_cancel")]
        if any(request is not None and request["command_id"] == command_id for request in waiting):
            return  # the same command delivered again: its request is open
        if not decision["approved"]:
            out.order_event(
                order, reject_type, command_id=command_id, reason=decision["reason"], detail=decision["detail"]
            )
            return
        trigger = t.CANCEL_REQUEST if kind == CANCEL else t.REPLACE_REQUEST
        step = _STEPS.get((order["status"], order["working"], trigger))
        if step is None:
            detail = f"cannot {kind.lower()} an order in status {order['status']}"
            out.order_event(order, reject_type, command_id=command_id, reason="INVALID_TRANSITION", detail=detail)
            return
        decision_id: str = decision["meta"]["event_id"]
        if is_parent_venue(order["venue"]):
            self._on_parent_request(out, order, command, kind, step)
            return
        if kind == CANCEL and step[0] == t.PENDING_REPLACE:
            self._queue_cancel(out, order, command_id, decision_id)
            return
        request: Record = {"kind": kind, "command_id": command_id}
        if kind == REPLACE:
            refusal = _replace_refusal(order, command)
            if refusal is not None:
                reason, detail = refusal
                out.order_event(order, reject_type, command_id=command_id, reason=reason, detail=detail)
                return
            request["quantity"] = order["quantity"] if command.get("quantity") is None else command["quantity"]
            request["price"] = order["price"] if command.get("price") is None else command["price"]
            request["stop_price"] = order["stop_price"] if command.get("stop_price") is None else command["stop_price"]

        self._dirty.add((account, order["order_id"]))
        self._open_request(out, order, step, request, decision_id)

    def _on_parent_request(
        self, out: _Out, order: Order, command: Mapping[str, Any], kind: str, step: tuple[str, str]
    ) -> None:
        """A cancel or replace of an algorithmic parent: no venue holds it, so the OMS answers it here.

        A replace is applied at once (the router re-plans the remainder), unless the new quantity is below what
        is filled or still working in children. A cancel is PENDING_CANCEL while children work (the router
        cancels them) and CANCELLED once none does.
        """
        orders = self._accounts[order["account"]]
        account, order_id = order["account"], order["order_id"]
        command_id: str = command["meta"]["event_id"]
        if kind == REPLACE:
            refusal = _replace_refusal(order, command)
            quantity: int = order["quantity"] if command.get("quantity") is None else command["quantity"]
            working_children = _children_leaves(orders, order_id)
            if refusal is None and quantity < order["cum"] + working_children:
                refusal = (
                    "AMEND_BELOW_FILLED",
                    f"new quantity {quantity} is below the filled {order['cum']} plus {working_children} working "
                    "in children",
                )
            if refusal is not None:
                reason, detail = refusal
                out.order_event(order, "REPLACE_REJECTED", command_id=command_id, reason=reason, detail=detail)
                return
        self._dirty.add((account, order_id))
        order["status"], order["working"] = step
        order["pending"] = {"kind": kind, "command_id": command_id}
        if kind == CANCEL:
            out.order_event(order, t.PENDING_CANCEL, command_id=command_id, detail="the router cancels the children")
            self._finish_parent_cancel(out, orders, order)
            return
        out.order_event(order, t.PENDING_REPLACE, command_id=command_id, detail="the router re-plans the remainder")
        order["pending"].update(
            quantity=quantity,
            price=order["price"] if command.get("price") is None else command["price"],
            stop_price=order["stop_price"],
        )
        trigger = t.AMENDED_COMPLETE if quantity == order["cum"] else t.AMENDED
        self._apply_report(out, order, {}, trigger, _STEPS[order["status"], order["working"], trigger])
        self._archive_if_done(orders, order)

    def _finish_parent_cancel(self, out: _Out, orders: AccountOrders, parent: Order) -> None:
        """A parent with a cancel open and no child working is CANCELLED."""
        pending = parent["pending"]
        if pending is None or pending["kind"] != CANCEL or _children_leaves(orders, parent["order_id"]):
            return
        step = _STEPS[parent["status"], parent["working"], t.VENUE_CANCELLED]
        self._apply_report(out, parent, {"detail": "no child working"}, t.VENUE_CANCELLED, step)
        self._archive_if_done(orders, parent)

    def _roll_up(self, out: _Out, orders: AccountOrders, child: Order, report: Mapping[str, Any]) -> None:
        """A child's fill or end, told to its algorithmic parent: the parent's cum, average price and status.

        The parent's event shows the child's fill in its detail with ``last_quantity`` 0: the child's own event
        is the fill (positions and risk count it once)."""
        parent = orders.working.get(child["parent_order_id"])
        if parent is None or not is_parent_venue(parent["venue"]):
            return
        self._dirty.add((orders.account, parent["order_id"]))
        if report.get("exec_type") == "FILL":
            quantity: int = report["last_quantity"]
            price: int = report["last_price"]
            trigger = t.FILL_COMPLETE if quantity >= parent["quantity"] - parent["cum"] else t.FILL
            step = _STEPS.get((parent["status"], parent["working"], trigger))
            if step is not None:
                parent["cum"] += quantity
                parent["fill_value"] += price * quantity
                parent["status"], parent["working"] = step
                out.order_event(
                    parent,
                    _EVENT_TYPE[trigger],
                    command_id=None,
                    detail=f"child {child['order_id']} filled {quantity} at {price}",
                )
                if parent["pending"] is not None:
                    self._settle_requests(out, parent)
                self._archive_if_done(orders, parent)
        if child["status"] in _TERMINAL and parent["status"] not in _TERMINAL:
            self._finish_parent_cancel(out, orders, parent)

    @staticmethod
    def _open_request(out: _Out, order: Order, step: tuple[str, str], request: Record, decision_id: str) -> None:
        """PENDING_CANCEL / PENDING_REPLACE, and the cancel or amend to the venue, naming its decision."""
        order["status"], order["working"] = step
        order["pending"] = request
        kind: str = request["kind"]
        out.order_event(
            order, order["status"], command_id=request["command_id"], detail=f"{kind.lower()} sent to the venue"
        )
        if kind == CANCEL:
            out.venue_order(order, "CANCEL", decision_id)
        else:
            out.venue_order(
                order,
                "AMEND",
                decision_id,
                quantity=request["quantity"],
                price=request["price"],
                stop_price=request["stop_price"],
            )

    def _queue_cancel(self, out: _Out, order: Order, command_id: str, decision_id: str) -> None:
        """A cancel while a replace is open: it waits for the replace's answer (one cancel waits at most)."""
        if order.get("queued_cancel") is not None:
            out.order_event(
                order,
                "CANCEL_REJECTED",
                command_id=command_id,
                reason="INVALID_TRANSITION",
                detail="a cancel already waits for the pending replace",
            )
            return
        self._dirty.add((order["account"], order["order_id"]))
        order["queued_cancel"] = {"command_id": command_id, "decision_id": decision_id}
        out.order_event(
            order, "PENDING_CANCEL", command_id=command_id, detail="cancel waits for the pending replace's answer"
        )

    # -- venue reports ----------------------------------------------------------------------------------
    def _on_execution(self, out: _Out, report: Mapping[str, Any]) -> None:
        account: str = report["account"]
        exec_type: str = report["exec_type"]
        orders = self._accounts.get(account)
        order = None if orders is None else orders.get(report["order_id"])
        if orders is None or order is None:
            out.dead_letter(f"{exec_type} for order {report['order_id']} of {account}: the OMS holds no such order")
            return
        if exec_type in _REQUEST_REJECTS and order["status"] in _TERMINAL and order["venue"] is not None:
            return  # a late reply to a request the OMS answered when the order ended (module docstring)
        trigger = self._execution_trigger(out, order, report)
        if trigger is None:
            return
        if trigger not in _EVENT_TYPE:
            out.dead_letter(f"unknown exec type {exec_type} for order {order['order_id']}")
            return
        step = _STEPS.get((order["status"], order["working"], trigger))
        if step is None:
            out.dead_letter(
                f"{exec_type} for order {order['order_id']} in status {order['status']} (working "
                f"{order['working']}): no such transition, not applied"
            )
            return
        self._dirty.add((account, order["order_id"]))
        self._apply_report(out, order, report, trigger, step)
        self._archive_if_done(orders, order)
        if order["parent_order_id"] is not None:
            self._roll_up(out, orders, order, report)

    def _execution_trigger(self, out: _Out, order: Order, report: Mapping[str, Any]) -> str | None:
        """The state machine's trigger a venue report is; None when it is a repeat or is dead-lettered."""
        exec_type: str = report["exec_type"]
        if exec_type == "FILL":
            return self._fill_trigger(out, order, report)
        if exec_type == "AMENDED":
            return _amended_trigger(out, order)
        if exec_type == "TRIGGERED" and (order["order_type"] not in STOPS or order["triggered"]):
            out.dead_letter(
                f"TRIGGERED for order {order['order_id']}, a {order['order_type']} order that cannot trigger (again)"
            )
            return None
        return exec_type  # the other exec types are triggers of the same name

    def _fill_trigger(self, out: _Out, order: Order, report: Mapping[str, Any]) -> str | None:
        """FILL or FILL_COMPLETE for a fill that can be applied; None when it is a repeat or is dead-lettered."""
        fill_id: str | None = report.get("fill_id")
        quantity: int = report.get("last_quantity", 0)
        price: int | None = report.get("last_price")
        if fill_id is None or quantity <= 0 or price is None or price <= 0:
            out.dead_letter(
                f"FILL for order {order['order_id']} needs a fill id, a positive quantity and price "
                f"(fill_id={fill_id}, last_quantity={quantity}, last_price={price})"
            )
            return None
        if fill_id in order["fill_ids"]:
            return None  # seen: counted once
        if order["status"] in _TERMINAL:
            out.dead_letter(
                f"FILL {fill_id} for order {order['order_id']} in status {order['status']}: "
                "no such transition, not applied"
            )
            return None
        remaining = order["quantity"] - order["cum"]
        if quantity > remaining:
            out.dead_letter(
                f"OVERFILL: fill {fill_id} of {quantity} for order {order['order_id']} exceeds its "
                f"leaves {remaining} (quantity {order['quantity']}, cum {order['cum']}); "
                "not applied"
            )
            return None
        return t.FILL_COMPLETE if quantity == remaining else t.FILL

    def _apply_report(
        self, out: _Out, order: Order, report: Mapping[str, Any], trigger: str, step: tuple[str, str]
    ) -> None:
        pending: Record | None = order["pending"]
        # The venue's answer to the open request carries its command id; a venue cancel while a replace is
        # open is unsolicited and answers nothing of ours.
        answered = _ANSWERS.get(trigger)
        answers = pending is not None and pending["kind"] == answered
        command_id: str | None = pending["command_id"] if pending is not None and answers else None
        fill: Fill | None = None
        if trigger in _FILLS:
            quantity: int = report["last_quantity"]
            price: int = report["last_price"]
            order["cum"] += quantity
            order["fill_value"] += price * quantity
            order["fill_ids"].append(report["fill_id"])
            fill = (quantity, price, report.get("fee", 0), report["fill_id"], report.get("liquidity"))
        elif trigger in _AMENDS and pending is not None:
            order["quantity"], order["price"], order["stop_price"] = (
                pending["quantity"],
                pending["price"],
                pending["stop_price"],
            )
            order["version"] += 1
        elif trigger == t.TRIGGERED:
            order["triggered"] = True
        if answers:
            order["pending"] = None
        order["status"], order["working"] = step
        reason: str | None = report.get("reject_reason")
        if trigger == t.VENUE_REJECTED and reason is None:
            reason = "VENUE_ERROR"
        out.order_event(
            order,
            _EVENT_TYPE[trigger],
            command_id=command_id,
            reason=reason,
            detail=report.get("detail", ""),
            fill=fill,
        )

        if order["pending"] is not None or order.get("queued_cancel") is not None:
            self._settle_requests(out, order)

    def _settle_requests(self, out: _Out, order: Order) -> None:
        """After a venue report on an order with a request open: answer the requests of an order that ended;
        send a cancel that waited."""
        queued: Record | None = order.get("queued_cancel")
        if order["status"] in _TERMINAL:
            # The order ended under open requests: answer them now; the venue's replies find no transition.
            for request in (order["pending"], queued):
                if request is None:
                    continue
                kind = request.get("kind", CANCEL)
                out.order_event(
                    order,
                    "CANCEL_REJECTED" if kind == CANCEL else "REPLACE_REJECTED",
                    command_id=request["command_id"],
                    reason="INVALID_TRANSITION",
                    detail=f"the order is {order['status']}: the {kind.lower()} came too late",
                )
            order["pending"] = order["queued_cancel"] = None
            return
        if queued is None or order["pending"] is not None:
            return
        step = _STEPS.get((order["status"], order["working"], t.CANCEL_REQUEST))
        assert step is not None  # every working status can be cancelled (the table's own test checks it)
        order["queued_cancel"] = None
        self._open_request(
            out, order, step, {"kind": CANCEL, "command_id": queued["command_id"]}, queued["decision_id"]
        )
