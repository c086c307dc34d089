"""The portfolio core: positions and PnL per account and symbol (docs/ORDER_PATH.md, "portfolio").

Input (key: account): ``orders.events``; the fills in it (``PARTIALLY_FILLED`` / ``FILLED`` with
``last_quantity`` > 0) move positions, terminal events retire orders from the fill bookkeeping
(``processors.portfolio.ledger``). Broadcast input, read whole by every worker: ``md.trades`` (the marks).
Output: ``portfolio.positions``, key ``"<account>|<symbol>"``, one ``Position`` per changed position.

Numbers (``processors.portfolio.position``): quantity, average price (half-even at the price scale),
realized PnL (closing trades, fees excluded, half-even from the exact value), fees, cash (per fill
``-signed notional - fee``, notional truncated toward zero) and fill count come from the account's fills.
``unrealized_pnl`` is ``mark x quantity - cost basis`` rounded half-even at the cash scale, at the mark: the
last trade of the symbol, else the position's last fill price. A flat position has no mark
(``mark_price`` null, unrealized 0).

The accounting identity and its rounding: exactly, at price x quantity precision (16 decimals),
``realized_exact - open_cost == -sum(signed price x quantity)``, so at any mark
``cash_exact + mark x quantity == realized_exact + unrealized_exact``. At the cash scale
``cash + fees == -sum(signed notional)`` holds exactly, and ``cash + notional(mark, quantity)`` differs from
``realized_pnl + unrealized_pnl - fees`` by at most ``fill_count + 1`` units of 1e-8: under one unit per
fill's truncated notional, under one for the mark's, and half a unit for each half-even rounding.

State
-----
Per account, its positions and what its fills already hold (``processors.portfolio.ledger``). The changelog
holds one record per account (positions and the working orders' applied quantities) and one small record per
finished order of the window, key ``"<account>|<order id>"``: a transaction writes what it changed, never
the whole window (layout, restore and the earlier layout in ``processors.portfolio.ledger``).

Marks are broadcast state, not account state
--------------------------------------------
As in ``processors.risk.core``, the last trade per symbol is rebuilt by re-reading ``md.trades`` whenever the
runtime (re)builds the core, is never in the changelog, and a trade never changes account state: a worker
must not write changelog records for accounts because of a broadcast record, and replaying the trades from
the start must not move the state again. A trade may still *publish*: for every open position in its
symbol held by this worker whose mark it changes, the core emits the position re-valued at the trade.
So:

- ``version`` numbers the states of the position itself (the fills; it equals ``fill_count``). A re-mark
  republishes the same version with a new ``mark_price`` / ``unrealized_pnl``; one worker writes each key, so
  a reader keeps the last record of a key in log order (the topic is compacted on that key).
- Everything but the valuation is a function of the account's fills alone, hence the same in live, replay
  and backtest. The valuation of a record depends on the trades read before it, which in a live run depends
  on timing; but the last record of every position is the same for any interleaving of the trades with the
  fills (its account state, valued at the symbol's last trade, else its last fill price): a re-mark is
  skipped only when the price is the one the position is already valued at, and flat positions carry no
  mark. The tests check this over random interleavings.
- A re-mark's event id is derived from the trade's and the position key, so the records two workers
  publish for one trade never share an id, and re-reading a trade republishes with the same id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

from processors.core import (
    Emit,
    Event,
    Record,
    StateChanges,
    derived_event_id,
    derived_meta,
    split_state_key,
    state_key,
)
from processors.portfolio.ledger import (
    DEFAULT_CONFIG,
    AccountState,
    PortfolioConfig,
    account_record,
    already_applied,
    apply_to_account,
    fill_of,
    finish_order,
    finished_record,
    new_account_state,
    settle,
    take_back_account_record,
    take_back_finished,
)
from processors.portfolio.position import Position, unrealized_pnl
from schemas.names import ORDER_EVENT, POSITION, TRADE
from schemas.scales import Price
from schemas.statuses import FILL_EVENT_TYPES, TERMINAL_STATUSES
from topics.catalogue import MD_TRADES, ORDERS_EVENTS, PORTFOLIO_POSITIONS

STAGE: Final = "portfolio"


def position_key(account: str, symbol: str) -> str:
    """The ``portfolio.positions`` key of a position."""
    return f"{account}|{symbol}"


class PortfolioCore:
    """Positions and PnL of the accounts of the partitions a worker owns (see the module docstring)."""

    name: ClassVar[str] = STAGE
    inputs: ClassVar[tuple[str, ...]] = (ORDERS_EVENTS,)
    broadcast_inputs: ClassVar[tuple[str, ...]] = (MD_TRADES,)
    outputs: ClassVar[tuple[str, ...]] = (PORTFOLIO_POSITIONS,)

    def __init__(self, config: PortfolioConfig = DEFAULT_CONFIG) -> None:
        self.config = config
        self._accounts: dict[str, AccountState] = {}
        self._dirty: set[str] = set()  # accounts whose account record changed since the last state_changes()
        self._dirty_finished: set[tuple[str, str]] = set()  # (account, order id) finished or dropped since then
        self._restored: set[str] = set()  # accounts taken back and not settled yet
        self._migrated: set[tuple[str, str]] = set()  # finished orders read from account records of the earlier layout
        self._earlier_layout: set[str] = set()  # those account records, to write again in this layout
        # Derived from account state (rebuilt on restore): symbol -> accounts with an open position in it.
        self._holders: dict[str, set[str]] = {}
        # Broadcast state: rebuilt from md.trades, never in the changelog.
        self._marks: dict[str, Price] = {}  # symbol -> last trade price

    # -- the Core protocol ------------------------------------------------------------------------------
    def apply(self, event: Event) -> list[Emit]:
        if self._restored:
            self._settle_restored()
        if event.schema == ORDER_EVENT:
            return self._on_order_event(event)
        if event.schema == TRADE:
            return self._on_trade(event)
        raise ValueError(f"portfolio does not take {event.schema} (topic {event.topic})")

    def state_changes(self) -> StateChanges:
        """The changed account records and finished-order records, None for a dropped order (module docstring).

        What restore alone changes (the window trimmed, the earlier layout rewritten) comes with the first call
        after an event: an engine may call this right after restoring and drop the answer (the faust engine does).
        """
        accounts = self._accounts
        changes: StateChanges = {account: account_record(accounts[account]) for account in self._dirty}
        for account, order_id in self._dirty_finished:
            changes[state_key(account, order_id)] = finished_record(accounts[account], order_id)
        self._dirty.clear()
        self._dirty_finished.clear()
        return changes

    def restore(self, key: str, state: Record) -> None:
        account, order_id = split_state_key(key)
        held = self._accounts.get(account)
        if held is None:
            held = self._accounts[account] = new_account_state()
        if order_id is not None:
            take_back_finished(held, order_id, state)
            self._migrated.discard((account, order_id))  # already in this layout: nothing to write again
        else:
            for symbol in held["positions"]:  # restored again (a new assignment): forget what it indexed
                self._index(account, symbol, {"quantity": 0})
            taken = take_back_account_record(held, state)
            for symbol, position in held["positions"].items():
                self._index(account, symbol, position)
            if "finished" in state:  # the earlier layout: the whole window in the account record
                self._migrated.update((account, finished) for finished in taken)
                self._earlier_layout.add(account)
        self._restored.add(account)

    def _settle_restored(self) -> None:
        """Before the first event after restore: the windows in finish order and trimmed; what to write again."""
        config = self.config
        for account in self._restored:
            self._dirty_finished.update((account, dropped) for dropped in settle(self._accounts[account], config))
        self._dirty_finished |= self._migrated
        self._dirty |= self._earlier_layout
        self._restored.clear()
        self._migrated.clear()
        self._earlier_layout.clear()

    def broadcast_state(self) -> Record:
        return {"marks": dict(self._marks)}

    def restore_broadcast(self, state: Record) -> None:
        self._marks = dict(state.get("marks", {}))

    # -- read access for tools and tests -----------------------------------------------------------------
    def account_state(self, account: str) -> AccountState | None:
        """The live state of an account (do not modify), None when the portfolio has seen no fill of it."""
        if self._restored:
            self._settle_restored()
        return self._accounts.get(account)

    def position_view(self, account: str, symbol: str) -> Record | None:
        """The position as it would be published now (without ``meta``), None before its first fill."""
        state = self._accounts.get(account)
        position = state["positions"].get(symbol) if state is not None else None
        if position is None:
            return None
        view = self._record(None, account, symbol, position, self._mark_of(symbol, position))
        del view["meta"]
        return view

    # -- orders.events ----------------------------------------------------------------------------------
    def _on_order_event(self, event: Event) -> list[Emit]:
        update = event.record
        account: str = update["account"]
        state = self._accounts.get(account)
        if update["event_type"] not in FILL_EVENT_TYPES or update.get("last_quantity", 0) <= 0:  # not a fill
            # A terminal event of an order with fills retires it; any other event changes nothing here.
            if update["status"] in TERMINAL_STATUSES and state is not None:
                self._finish(account, state, update["order_id"])
            return []
        fill = fill_of(update)
        if state is None:
            state = self._accounts[account] = new_account_state()
        elif already_applied(state, fill):
            return []
        position = apply_to_account(state, fill)
        self._dirty.add(account)
        if fill.finishes_order:
            self._finish(account, state, fill.order_id)
        symbol = fill.symbol
        self._index(account, symbol, position)
        mark = self._mark_of(symbol, position)
        return [
            Emit(
                PORTFOLIO_POSITIONS,
                f"{account}|{symbol}",
                POSITION,
                self._record(derived_meta(event, STAGE, 0), account, symbol, position, mark),
            )
        ]

    # -- md.trades (broadcast): never touches account state -----------------------------------------------
    def _on_trade(self, event: Event) -> list[Emit]:
        trade = event.record
        symbol: str = trade["symbol"]
        price: Price = trade["price"]
        if price <= 0:
            raise ValueError(f"trade {trade['trade_id']} of {symbol} has a non-positive price ({price})")
        previous = self._marks.get(symbol)
        self._marks[symbol] = price
        holders = self._holders.get(symbol)
        if not holders:
            return []
        emits: list[Emit] = []
        cause_id: str = trade["meta"]["event_id"]
        for account in sorted(holders):
            position: Position = self._accounts[account]["positions"][symbol]
            valued_at = previous if previous is not None else position["last_fill_price"]
            if price == valued_at:
                continue
            meta = derived_meta(event, STAGE, 0)
            meta["event_id"] = derived_event_id(cause_id, f"{STAGE}|{position_key(account, symbol)}", 0)
            record = self._record(meta, account, symbol, position, price)
            emits.append(Emit(PORTFOLIO_POSITIONS, position_key(account, symbol), POSITION, record))
        return emits

    # -- helpers ----------------------------------------------------------------------------------------
    def _finish(self, account: str, state: AccountState, order_id: str) -> None:
        """Retire an order with fills into the window: the account record, its record, the records it dropped."""
        dropped = finish_order(state, order_id, self.config)
        if dropped is None:  # no fills of it here: nothing to retire
            return
        self._dirty.add(account)
        self._dirty_finished.add((account, order_id))
        self._dirty_finished.update((account, oldest) for oldest in dropped)

    def _index(self, account: str, symbol: str, position: Mapping[str, Any]) -> None:
        """Keep ``_holders`` in step: only open positions are re-marked."""
        if position["quantity"]:
            self._holders.setdefault(symbol, set()).add(account)
        else:
            holders = self._holders.get(symbol)
            if holders is not None:
                holders.discard(account)
                if not holders:
                    del self._holders[symbol]

    def _mark_of(self, symbol: str, position: Mapping[str, Any]) -> Price | None:
        """The price an open position is valued at: the symbol's last trade, else its last fill price."""
        if not position["quantity"]:
            return None
        last_trade = self._marks.get(symbol)
        mark: Price = last_trade if last_trade is not None else position["last_fill_price"]
        return mark

    @staticmethod
    def _record(meta: Record | None, account: str, symbol: str, position: Position, mark: Price | None) -> Record:
        """The ``Position`` record of a position valued at ``mark``, built in one literal."""
        return {
            "meta": meta,
            "account": account,
            "symbol": symbol,
            "quantity": position["quantity"],
            "avg_price": position["avg_price"],
            "realized_pnl": position["realized_pnl"],
            "unrealized_pnl": unrealized_pnl(position, mark) if mark is not None else 0,
            "fees": position["fees"],
            "cash": position["cash"],
            "mark_price": mark,
            "fill_count": position["fill_count"],
            "last_fill_id": position["last_fill_id"],
            "version": position["fill_count"],
        }
