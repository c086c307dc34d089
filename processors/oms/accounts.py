"""One account's orders in memory, and their changelog layout: one record per order.

In memory an account holds ``working`` (order id -> ``processors.oms.orders`` order dict, the orders still
working or with a request open), ``done`` (order id -> ``(finish sequence, archived row)``, the terminal
ones, oldest finished first) and ``client_ids`` (client order id -> order id, only for orders whose id is
not ``order_id_for(account, client order id)``: a derived id needs no index, a resubmitted client order id
derives the same one).

Changelog: the state key of an order is ``"<account>|<order id>"`` (``processors.core.STATE_SUBKEY_SEPARATOR``;
an account name must not contain it), its value ``{"order": <orders.working_row>}`` while it works or
``{"done": <orders.archived row>, "seq": <finish sequence>}`` once terminal, plus ``"indexed": true`` when its
client order id is in ``client_ids``. So a change rewrites one order (a few hundred bytes), never the
account, and ``client_ids`` and the finishing order are rebuilt from the records on restore, in whatever
order they come back.

Retention: an account keeps its ``retention`` most recently finished orders (working orders are never
dropped); finishing one more drops the oldest from memory, and its key gets a tombstone (None) so compaction
removes it from the changelog. The window is counted in orders, not time: at 10,000, an account finishing
100 orders a second keeps the last 100 seconds of them, one finishing one a minute about a week. Within
that window a finished order still answers a resubmitted client order id (DUPLICATE_REJECTED with its real
view), late venue reports (dead letters naming its status) and cancels or amends (rejected with its real
view). A dropped order is unknown: a NewOrder with its client order id makes a new order, a cancel of it is
rejected as UNKNOWN_ORDER and a venue report for it goes to the dead letters as for an order never held.

An account record of the earlier layout (key ``"<account>"``, value ``{"orders", "done", "client_ids"}``) is
still read: its orders are taken unless a per-order record of the same order came back too (that one is
newer), written again in this layout, and the account record is deleted.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final

from processors.core import Record
from processors.oms.orders import ARCHIVED, Order, copy_order, from_archive, from_working_row, working_row

WORKING_FIELD: Final = "order"
DONE_FIELD: Final = "done"
SEQUENCE_FIELD: Final = "seq"
INDEXED_FIELD: Final = "indexed"
CLIENT_ORDER_ID_AT: Final = ARCHIVED.index("client_order_id")  # the same in a working row (orders.WORKING_ROW)

ArchivedRow = list[Any]


class AccountOrders:
    """The orders of one account (see the module docstring)."""

    __slots__ = ("account", "client_ids", "done", "finish_order", "next_sequence", "working")

    def __init__(self, account: str) -> None:
        self.account = account
        self.working: dict[str, Order] = {}
        self.done: dict[str, tuple[int, ArchivedRow]] = {}
        self.client_ids: dict[str, str] = {}
        self.finish_order: deque[str] = deque()  # order ids of ``done``, oldest finished first
        self.next_sequence = 0

    def get(self, order_id: str) -> Order | None:
        """The order: the live dict while it works, a fresh dict from its row once done; None if not held."""
        order = self.working.get(order_id)
        if order is None:
            finished = self.done.get(order_id)
            if finished is not None:
                return from_archive(finished[1])
        return order

    def finish(self, order_id: str, row: ArchivedRow, retention: int) -> list[str]:
        """Move a working order to ``done``; the ids of the orders retention drops to make room."""
        self.working.pop(order_id, None)
        self.done[order_id] = (self.next_sequence, row)
        self.next_sequence += 1
        self.finish_order.append(order_id)
        return self._trim(retention) if len(self.finish_order) > retention else []

    def _trim(self, retention: int) -> list[str]:
        """Drop the oldest finished orders beyond ``retention``; their ids."""
        dropped: list[str] = []
        while len(self.finish_order) > retention:
            oldest = self.finish_order.popleft()
            _, old_row = self.done.pop(oldest)
            client_order_id = old_row[CLIENT_ORDER_ID_AT]
            if self.client_ids.get(client_order_id) == oldest:
                del self.client_ids[client_order_id]
            dropped.append(oldest)
        return dropped

    # -- the changelog ------------------------------------------------------------------------------------
    def record(self, order_id: str) -> Record | None:
        """The changelog value of one order: a copy the core no longer touches; None once it is dropped."""
        value: Record
        order = self.working.get(order_id)
        if order is not None:
            value = {WORKING_FIELD: working_row(order)}
            client_order_id = order["client_order_id"]
        else:
            finished = self.done.get(order_id)
            if finished is None:
                return None
            sequence, row = finished  # an archived row is never modified again: shared, not copied
            value = {DONE_FIELD: row, SEQUENCE_FIELD: sequence}
            client_order_id = row[CLIENT_ORDER_ID_AT]
        if self.client_ids.get(client_order_id) == order_id:
            value[INDEXED_FIELD] = True
        return value

    def take_back(self, order_id: str, value: Record) -> None:
        """One order's changelog record (any order of arrival; ``settle`` puts the finished ones in order)."""
        self.working.pop(order_id, None)
        self.done.pop(order_id, None)
        if WORKING_FIELD in value:
            order = from_working_row(value[WORKING_FIELD])
            self.working[order_id] = order
            client_order_id = order["client_order_id"]
        else:
            row: ArchivedRow = value[DONE_FIELD]
            self.done[order_id] = (value[SEQUENCE_FIELD], row)
            client_order_id = row[CLIENT_ORDER_ID_AT]
        if value.get(INDEXED_FIELD):
            self.client_ids[client_order_id] = order_id

    def take_back_account_record(self, state: Record) -> list[str]:
        """An account record of the earlier layout: the ids of the orders taken from it (to write again)."""
        taken: list[str] = []
        known = self.working.keys() | self.done.keys()
        done: dict[str, ArchivedRow] = state.get("done", {})
        first = -len(done)  # finished before any order of this layout: numbered below zero, oldest first
        for offset, (order_id, row) in enumerate(done.items()):
            if order_id not in known:
                self.done[order_id] = (first + offset, row)
                taken.append(order_id)
        working: dict[str, Order] = state.get("orders", {})
        for order_id, order in working.items():
            if order_id not in known:
                self.working[order_id] = copy_order(order)
                taken.append(order_id)
        for client_order_id, order_id in state.get("client_ids", {}).items():
            if order_id in taken:
                self.client_ids[client_order_id] = order_id
        return taken

    def settle(self, retention: int) -> list[str]:
        """After restore: finished orders in finishing order, the next sequence; the ids retention drops."""
        ordered = sorted(self.done.items(), key=lambda item: item[1][0])
        self.done = dict(ordered)
        self.finish_order = deque(self.done)
        self.next_sequence = ordered[-1][1][0] + 1 if ordered else 0
        return self._trim(retention)
