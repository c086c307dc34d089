"""The router core: works algorithmic parent orders into child orders (docs/EXECUTION.md).

Inputs, co-partitioned by account: ``risk.decisions`` (an approved NewOrder with an execution instruction makes a
parent) and ``orders.events`` (the OMS accepting, amending, cancelling and ending parents; the children's fills
and ends). Broadcast: ``clock.ticks`` (event time when nothing else happens), ``md.trades`` (POV's volume) and
``md.book.top`` (the order book's view of each symbol and venue: PEG's reference prices, SNIPER's liquidity).
Output: ``orders.child_commands`` (key account): child NewOrders and CancelOrders, which risk decides like any
command and the OMS books, rolling the children's fills up into the parent.

Time is event time only: the latest event time the core has seen (ticks, trades, decisions, order events). A
child is a NewOrder with ``parent_order_id``, client order id ``"<parent client order id>/<n>"`` and the order id
``order_id_for`` derives from it, so a child is the same order in live, replay and backtest, and the OMS refuses
a child sent twice. The ids of the router's commands derive from the cause and the parent, so they do not
depend on which other parents a worker holds.

- A parent starts when the router has its plan (from the decision) and the OMS's ACCEPTED (either may come
  first: in the ``cores`` topology they come on two topics). Every event then lets each working parent send the
  child its algorithm says is due (``processors.router.parents.due_quantity``).
- A cancel of the parent (PENDING_CANCEL, from a user, the kill switch, or the router at the end time) stops
  the algorithm and cancels the open children; the OMS ends the parent once none works.
- A child denied or rejected (a kill switch engaged, a limit hit) stops the algorithm: the router cancels the
  parent and its open children.
- REPLACED re-plans the remainder: the schedulers' targets follow the parent's new quantity.
- SMART (``processors.algos.smart``): the router keeps a view of the market from ``md.book.top`` (each feed
  venue's displayed levels; the consolidated best bid and offer over them), and the named venues it routes to
  (``SQ_VENUES``: fees and latency; unset, ``sim`` alone). Every named venue mirrors the symbol's market, so they
  share its displayed liquidity. On the parent's start, a book change or a replace (not on ticks or trades), with
  no child of the parent open, the unplaced quantity is swept: one IOC child per venue.

State: one changelog record per parent, key ``"<account>|<parent order id>"``, a tombstone when it ends. Broadcast
state: the clock and the latest book view per symbol and feed venue (PEG, SNIPER and SMART read it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

from processors.algos.plan import DAY_US, InvalidInstruction, analytics_kappa_horizon, plan_for
from processors.algos.smart import Level, VenueView, allocate
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
from processors.orderbook.analytics.realized_vol import daily_volatility
from processors.orderbook.config import DEFAULT_CONFIG as DEFAULT_ORDERBOOK_CONFIG
from processors.orderbook.config import OrderBookConfig
from processors.router.parents import (
    CANCEL_SENT,
    CUM,
    OPEN,
    QUANTITY,
    Parent,
    due_quantity,
    expired,
    holds,
    new_parent,
    placed,
    repeg_due,
)
from schemas.names import (
    BOOK_TOP,
    CANCEL_ORDER,
    CLOCK_TICK,
    MARKET_ANALYTICS,
    NEW_ORDER,
    ORDER_EVENT,
    RISK_DECISION,
    TRADE,
)
from schemas.statuses import TERMINAL_STATUSES
from settings import DEFAULT_VENUE, VenueSpec
from topics.catalogue import (
    CLOCK_TICKS,
    MD_ANALYTICS,
    MD_BOOK_TOP,
    MD_TRADES,
    ORDERS_CHILD_COMMANDS,
    ORDERS_EVENTS,
    RISK_DECISIONS,
)

STAGE: Final = "router"
_STOPPING_EVENTS: Final = frozenset({"DENIED", "REJECTED"})
_TAKES_CHILDREN: Final = frozenset({"NEW", "PARTIALLY_FILLED"})  # the parent statuses the OMS adds children to
_SWEEP_EVENTS: Final = frozenset({"ACCEPTED", "REPLACED"})  # the parent events SMART sweeps on
_MIRRORED: Final = "market"  # SMART: every named venue mirrors the symbol's market (processors.algos.smart)
_BOOK_ALGOS: Final = frozenset({"PEG", "SNIPER"})  # the algorithms that work on one venue's book view
_ON_BOOK_CHANGE: Final = _BOOK_ALGOS | {"SMART"}  # the algorithms a book change works
_NEXT_ON_CHILD_END: Final = frozenset({"ICEBERG", "PEG"})  # the next child follows the end of the last one


class _Out:
    """The commands one event causes, their ids derived from the cause and the parent."""

    __slots__ = ("cause", "counts", "emits")

    def __init__(self, cause: Event) -> None:
        self.cause = cause
        self.counts: dict[str, int] = {}
        self.emits: list[Emit] = []

    def meta(self, parent: Mapping[str, Any]) -> Record:
        cause_meta = self.cause.record["meta"]
        parent_id: str = parent["order_id"]
        index = self.counts.get(parent_id, 0)
        self.counts[parent_id] = index + 1
        return {
            "event_id": derived_event_id(cause_meta["event_id"], f"{STAGE}|{parent_id}", index),
            "producer": STAGE,
            "event_time_us": cause_meta["event_time_us"],
            "ingest_time_us": self.cause.ingest_time_us,
            "causation_id": cause_meta["event_id"],
            "correlation_id": parent["correlation_id"],
        }

    def cancel(self, parent: Mapping[str, Any], order_id: str) -> None:
        record = {
            "meta": self.meta(parent),
            "account": parent["account"],
            "order_id": order_id,
            "symbol": parent["symbol"],
        }
        self.emits.append(Emit(ORDERS_CHILD_COMMANDS, parent["account"], CANCEL_ORDER, record))


class RouterCore:
    """Execution algorithms for the accounts of the partitions a worker owns (see the module docstring)."""

    name: ClassVar[str] = STAGE
    inputs: ClassVar[tuple[str, ...]] = (RISK_DECISIONS, ORDERS_EVENTS)
    broadcast_inputs: ClassVar[tuple[str, ...]] = (CLOCK_TICKS, MD_TRADES, MD_BOOK_TOP, MD_ANALYTICS)
    outputs: ClassVar[tuple[str, ...]] = (ORDERS_CHILD_COMMANDS,)

    def __init__(
        self, venues: Sequence[VenueSpec] = (DEFAULT_VENUE,), analytics: OrderBookConfig = DEFAULT_ORDERBOOK_CONFIG
    ) -> None:
        self._parents: dict[str, dict[str, Parent]] = {}  # account -> parent order id -> parent
        self._children: dict[str, str] = {}  # child order id -> parent order id
        self._dirty: set[tuple[str, str]] = set()
        self._now = 0
        self._venues = [VenueView(v.name, v.taker_fee_bps, v.latency_us, _MIRRORED) for v in venues]
        self._books: dict[str, dict[str, Record | None]] = {}  # symbol -> feed venue -> book view (None: stale)
        self._volatility_window_us = analytics.vol_window_us
        self._volatility: dict[str, float] = {}  # symbol -> latest daily volatility from md.analytics

    # -- the Core protocol ------------------------------------------------------------------------------
    def apply(self, event: Event) -> list[Emit]:
        self._now = max(self._now, event.record["meta"]["event_time_us"])
        out = _Out(event)
        schema = event.schema
        if schema == ORDER_EVENT:
            self._on_order_event(out, event.record)
        elif schema == RISK_DECISION:
            self._on_decision(out, event.record)
        elif schema == TRADE:
            self._on_trade(out, event.record)
        elif schema == BOOK_TOP:
            self._on_book_top(out, event.record)
        elif schema == MARKET_ANALYTICS:
            self._on_analytics(event.record)
        elif schema == CLOCK_TICK:
            for parents in self._parents.values():
                for parent in list(parents.values()):
                    self._work(out, parent, sweep=False)
        else:
            raise ValueError(f"router does not take {schema} (topic {event.topic})")
        return out.emits

    def state_changes(self) -> StateChanges:
        changes: StateChanges = {}
        for account, parent_id in self._dirty:
            parent = self._parents.get(account, {}).get(parent_id)
            changes[state_key(account, parent_id)] = None if parent is None else _copy(parent)
        self._dirty.clear()
        return changes

    def restore(self, key: str, state: Record) -> None:
        account, parent_id = split_state_key(key)
        if parent_id is None:
            raise ValueError(f"router state key {key!r} names no parent")
        parent = _copy(state)
        self._parents.setdefault(account, {})[parent_id] = parent
        for child_id in parent.get("children", ()):
            self._children[child_id] = parent_id

    def broadcast_state(self) -> Record:
        return {
            "now": self._now,
            "books": {symbol: dict(views) for symbol, views in self._books.items()},
            "volatility": dict(self._volatility),
        }

    def restore_broadcast(self, state: Record) -> None:
        self._now = int(state.get("now", 0))
        self._books = {symbol: dict(views) for symbol, views in state.get("books", {}).items()}
        self._volatility = {symbol: float(sigma) for symbol, sigma in state.get("volatility", {}).items()}

    def market_view(self, symbol: str) -> tuple[list[Level], list[Level]]:
        """The consolidated displayed levels of ``symbol`` over the feed venues' live views: (bids, asks), best
        first; their first levels are the consolidated best bid and offer."""
        live = [view for view in self._books.get(symbol, {}).values() if view is not None]
        bids = sorted(((p, q) for view in live for p, q in view["bids"]), key=lambda level: -level[0])
        asks = sorted((p, q) for view in live for p, q in view["asks"])
        return bids, asks

    # -- read access for tools, tests and benches --------------------------------------------------------
    def parent(self, account: str, parent_id: str) -> Parent | None:
        return self._parents.get(account, {}).get(parent_id)

    def working_parents(self) -> int:
        return sum(len(parents) for parents in self._parents.values())

    # -- events -----------------------------------------------------------------------------------------
    def _on_decision(self, out: _Out, decision: Mapping[str, Any]) -> None:
        command_schema, command = decision["command"]
        if command_schema != NEW_ORDER or not decision["approved"] or command.get("execution") is None:
            return
        if command.get("parent_order_id") is not None:
            return  # the OMS refuses a child carrying an instruction
        try:
            plan = plan_for(command)
        except InvalidInstruction:
            return  # the OMS rejects the parent with the reason
        account: str = command["account"]
        parents = self._parents.setdefault(account, {})
        held = parents.get(command["order_id"])
        if held is not None and held.get("plan") is not None:
            return  # a duplicate: the OMS answers it
        parent = new_parent(decision, command, plan)
        if held is not None:  # the OMS's ACCEPTED came first
            parent["accepted"] = True
        parents[parent["order_id"]] = parent
        self._dirty.add((account, parent["order_id"]))
        self._work(out, parent)

    def _on_order_event(self, out: _Out, update: Mapping[str, Any]) -> None:
        account: str = update["account"]
        order_id: str = update["order_id"]
        parents = self._parents.get(account)
        parent_id = self._children.get(order_id)
        if parent_id is not None and parents is not None and parent_id in parents:
            self._on_child_event(out, parents[parent_id], order_id, update)
            return
        parent = None if parents is None else parents.get(order_id)
        if parent is None:
            if update["event_type"] == "ACCEPTED" and (update["venue"] or "").startswith("algo:"):
                # The decision has not come yet (cores topology): remember the acceptance.
                self._parents.setdefault(account, {})[order_id] = {"accepted": True, "plan": None}
                self._dirty.add((account, order_id))
            return
        self._on_parent_event(out, parent, update)

    def _on_parent_event(self, out: _Out, parent: Parent, update: Mapping[str, Any]) -> None:
        account, parent_id = update["account"], update["order_id"]
        self._dirty.add((account, parent_id))
        if update["status"] in TERMINAL_STATUSES:
            self._forget(account, parent_id)
            return
        if parent.get("plan") is None:
            return
        event_type: str = update["event_type"]
        parent["status"] = update["status"]
        if event_type == "ACCEPTED":
            parent["accepted"] = True
        elif update["status"] == "PENDING_CANCEL":
            parent["stopping"] = True
            self._cancel_children(out, parent)
            return
        elif event_type == "REPLACED":
            parent["quantity"], parent["price"] = update["quantity"], update["price"]
        # SMART sweeps on its start and a replace; a fill's roll-up shows nothing new about the book
        self._work(out, parent, sweep=event_type in _SWEEP_EVENTS)

    def _on_child_event(self, out: _Out, parent: Parent, child_id: str, update: Mapping[str, Any]) -> None:
        child = parent["children"][child_id]
        before = holds(child)
        child[QUANTITY], child[CUM] = update["quantity"], update["cum_quantity"]
        child[OPEN] = update["status"] not in TERMINAL_STATUSES
        parent["placed"] += holds(child) - before
        self._dirty.add((parent["account"], parent["order_id"]))
        if not child[OPEN]:  # ended: it counts for its fills in ``placed`` and leaves the parent's record
            del parent["children"][child_id]
            del self._children[child_id]
            refresh: int = parent["plan"].get("refresh_us", 0)
            parent["show_at"] = self._now + refresh
        if update["event_type"] in _STOPPING_EVENTS and not parent["stopping"]:
            # A child refused (kill switch, limits, the venue): the algorithm stops and the parent is cancelled.
            self._stop(out, parent)
            return
        if parent["plan"]["algo"] in _NEXT_ON_CHILD_END:
            # The next slice (ICEBERG) or the re-pegged child (PEG) follows the end of the last one. The others
            # wait for the next market or clock event: a child that ends unfilled (a market order finding no
            # liquidity) is not sent again at once, or the router would spin on the venue within one event.
            self._work(out, parent)

    def _on_trade(self, out: _Out, trade: Mapping[str, Any]) -> None:
        symbol: str = trade["symbol"]
        quantity: int = trade["quantity"]
        for parents in self._parents.values():
            for parent in list(parents.values()):
                plan = parent.get("plan")
                if plan is None or parent["symbol"] != symbol:
                    continue
                if (
                    plan["algo"] == "POV"
                    and parent["accepted"]
                    and not parent["stopping"]
                    and self._now >= plan["start_us"]
                ):
                    parent["volume"] += quantity
                    self._dirty.add((parent["account"], parent["order_id"]))
                self._work(out, parent, sweep=False)

    def _on_book_top(self, out: _Out, top: Mapping[str, Any]) -> None:
        """Keep the symbol's book view (best levels, as the order book publishes them) and work the parents that
        trade on it: a PEG re-pegs, a SNIPER takes what shows within its limit, a SMART parent sweeps."""
        symbol: str = top["symbol"]
        view: Record | None = None
        if not top["stale"]:
            view = {
                "sequence": top["sequence"],
                "bids": [[level["price"], level["quantity"]] for level in top["bids"]],
                "asks": [[level["price"], level["quantity"]] for level in top["asks"]],
            }
        self._books.setdefault(symbol, {})[top["venue"]] = view
        for parents in self._parents.values():
            for parent in list(parents.values()):
                plan = parent.get("plan")
                if plan is not None and plan["algo"] in _ON_BOOK_CHANGE and parent["symbol"] == symbol:
                    self._work(out, parent)

    def _on_analytics(self, analytics: Mapping[str, Any]) -> None:
        window_volatility = analytics["realized_volatility"]
        if window_volatility is not None:
            self._volatility[analytics["symbol"]] = daily_volatility(
                window_volatility, self._volatility_window_us, DAY_US
            )

    def _fix_volatility(self, parent: Parent) -> bool:
        """IS without params.volatility: fix kappa*T once, at or after the start, from the symbol's latest
        analytics volatility (later analytics leave the trajectory alone). False: none known yet, send nothing."""
        plan = parent["plan"]
        if plan["algo"] != "IMPLEMENTATION_SHORTFALL" or plan["kappa_horizon"] is not None:
            return True
        if self._now < plan["start_us"]:
            return False
        sigma = self._volatility.get(parent["symbol"])
        if sigma is None:
            return False
        parent["plan"] = plan | {"kappa_horizon": analytics_kappa_horizon(plan, sigma)}
        self._dirty.add((parent["account"], parent["order_id"]))
        return True

    def _view(self, parent: Parent) -> Record | None:
        """The book a PEG or SNIPER parent trades on: its venue's, or the symbol's only one when it names none."""
        views = self._books.get(parent["symbol"])
        if not views:
            return None
        venue: str | None = parent["venue"]
        if venue is None:
            return next(iter(views.values())) if len(views) == 1 else None
        return views.get(venue)

    # -- working a parent -------------------------------------------------------------------------------
    def _work(self, out: _Out, parent: Parent, *, sweep: bool = True) -> None:
        """Send what the parent's algorithm says is due; ``sweep`` False (a tick or a trade): SMART waits."""
        if parent.get("plan") is None or not parent["accepted"] or parent["stopping"]:
            return
        if parent["status"] not in _TAKES_CHILDREN:
            return  # a replace is open: its answer re-plans
        if expired(parent, self._now):
            self._stop(out, parent)
            return
        if parent["plan"]["algo"] == "SMART":
            if sweep:
                self._sweep(out, parent)
            return
        if not self._fix_volatility(parent):
            return
        view = None
        if parent["plan"]["algo"] in _BOOK_ALGOS:
            view = self._view(parent)
            if repeg_due(parent, view):
                self._dirty.add((parent["account"], parent["order_id"]))
                self._cancel_children(out, parent)
                return
        slices_due = parent["slices_due"]
        quantity = due_quantity(parent, self._now, view)
        if quantity > 0 or slices_due != parent["slices_due"]:
            self._dirty.add((parent["account"], parent["order_id"]))
        if quantity > 0:
            self._send_child(out, parent, quantity)

    def _sweep(self, out: _Out, parent: Parent) -> None:
        """SMART: with none of its children open, one IOC child per venue for the unplaced quantity."""
        if parent["children"] or self._now < parent["plan"]["start_us"]:
            return
        side: str = parent["side"]
        bids, asks = self.market_view(parent["symbol"])
        unplaced = parent["quantity"] - placed(parent)
        shown = {_MIRRORED: asks if side == "BUY" else bids}
        for child in allocate(side, unplaced, parent["price"], self._venues, shown):
            terms = {"venue": child.venue, "price": child.price, "order_type": "LIMIT", "time_in_force": "IOC"}
            self._send_child(out, parent, child.quantity, terms)
        if parent["children"]:
            self._dirty.add((parent["account"], parent["order_id"]))

    def _send_child(self, out: _Out, parent: Parent, quantity: int, terms: Mapping[str, Any] | None = None) -> None:
        number: int = parent["next"]
        parent["next"] = number + 1
        account: str = parent["account"]
        client_order_id = f"{parent['client_order_id']}/{number}"
        child_id = order_id_for(account, client_order_id)
        market = parent["order_type"] == "MARKET"
        algo: str = parent["plan"]["algo"]
        immediate = market or algo == "SNIPER"  # takes now or never: IOC
        record: Record = {
            "meta": out.meta(parent),
            "account": account,
            "order_id": child_id,
            "client_order_id": client_order_id,
            "symbol": parent["symbol"],
            "side": parent["side"],
            "order_type": parent["order_type"],
            "quantity": quantity,
            "price": parent["peg_price"] if algo == "PEG" else parent["price"],
            "stop_price": None,
            "time_in_force": "IOC" if immediate else parent["time_in_force"],
            "expire_time_us": None if immediate else parent["expire_time_us"],
            "post_only": parent["post_only"],
            "reduce_only": parent["reduce_only"],
            "venue": parent["venue"],
            "parent_order_id": parent["order_id"],
            "execution": None,
        }
        if terms:
            record.update(terms, expire_time_us=None)
        parent["children"][child_id] = [quantity, 0, True, False]
        parent["placed"] += quantity
        self._children[child_id] = parent["order_id"]
        out.emits.append(Emit(ORDERS_CHILD_COMMANDS, account, NEW_ORDER, record))

    def _stop(self, out: _Out, parent: Parent) -> None:
        """Stop the algorithm: cancel the parent (the OMS ends it once no child works) and its open children."""
        parent["stopping"] = True
        self._dirty.add((parent["account"], parent["order_id"]))
        out.cancel(parent, parent["order_id"])
        self._cancel_children(out, parent)

    def _cancel_children(self, out: _Out, parent: Parent) -> None:
        for child_id, child in parent["children"].items():
            if not child[CANCEL_SENT]:
                child[CANCEL_SENT] = True
                out.cancel(parent, child_id)

    def _forget(self, account: str, parent_id: str) -> None:
        parent = self._parents[account].pop(parent_id)
        for child_id in parent.get("children", ()):
            self._children.pop(child_id, None)


def _copy(parent: Mapping[str, Any]) -> Parent:
    """A copy sharing nothing mutable (the changelog's record, or a restored parent)."""
    copied = dict(parent)
    if "children" in copied:
        copied["children"] = {child_id: list(child) for child_id, child in parent["children"].items()}
    return copied
